//! `Arc<T>` and `Box<T>` of a store are that store: the blanket impls of the five store
//! traits, generated once here.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, UploadedFile};
use crate::error::ChatResult;
use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Block, ConversationRecord, Message, Report, Stats};
use crate::outbox::{DueNotification, SettledNotification};
use crate::tag::Tag;

use super::{
    Appended, AttachmentStore, ConversationStore, Deleted, ErasedBatch, ErasureStore, HistoryPage, HistoryQuery,
    InboxQuery, ModerationStore, NewDirect, NewGroup, NewMessage, NewReport, OutboxStore, Reacted, ReactionChange,
    ReadUpTo, Reported, SearchQuery,
};

/// `Arc<T>` and `Box<T>` of a store are that store (object_store's pattern): each method
/// forwards to the one inside.
macro_rules! forward_to_inner {
    ($wrapper:ident) => {
        #[async_trait]
        impl<T: ConversationStore + ?Sized> ConversationStore for $wrapper<T> {
            async fn find_or_create_direct(
                &self,
                caller: &Identity,
                new: NewDirect,
            ) -> ChatResult<(ConversationRecord, bool)> {
                (**self).find_or_create_direct(caller, new).await
            }

            async fn find_direct(
                &self,
                caller: &Identity,
                counterpart: &UserId,
                tag: Option<&Tag>,
            ) -> ChatResult<Option<ConversationRecord>> {
                (**self).find_direct(caller, counterpart, tag).await
            }

            async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
                (**self).create_group(caller, new).await
            }

            async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
                (**self).get_conversation(caller, id).await
            }

            async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
                (**self).append_message(caller, new).await
            }

            async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
                (**self).append_system_message(tenant, new).await
            }

            async fn mark_delivered(
                &self,
                caller: &Identity,
                id: ConversationId,
                up_to: ReadUpTo,
            ) -> ChatResult<(ConversationRecord, bool)> {
                (**self).mark_delivered(caller, id, up_to).await
            }

            async fn mark_delivered_many(
                &self,
                tenant: &TenantId,
                id: ConversationId,
                up_to: &[(UserId, u64)],
            ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
                (**self).mark_delivered_many(tenant, id, up_to).await
            }

            async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
                (**self).set_reaction(caller, change).await
            }

            async fn messages_by_seq(
                &self,
                caller: &Identity,
                id: ConversationId,
                seqs: &[u64],
            ) -> ChatResult<Vec<Message>> {
                (**self).messages_by_seq(caller, id, seqs).await
            }

            async fn mark_read(
                &self,
                caller: &Identity,
                id: ConversationId,
                up_to: ReadUpTo,
            ) -> ChatResult<(ConversationRecord, bool)> {
                (**self).mark_read(caller, id, up_to).await
            }

            async fn set_archived(
                &self,
                caller: &Identity,
                id: ConversationId,
                archived: bool,
            ) -> ChatResult<ConversationRecord> {
                (**self).set_archived(caller, id, archived).await
            }

            async fn set_muted(
                &self,
                caller: &Identity,
                id: ConversationId,
                muted: bool,
            ) -> ChatResult<ConversationRecord> {
                (**self).set_muted(caller, id, muted).await
            }

            async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
                (**self).clear_history(caller, id).await
            }

            async fn edit_message(
                &self,
                caller: &Identity,
                conversation: ConversationId,
                message: MessageId,
                body: String,
            ) -> ChatResult<(Message, ConversationRecord)> {
                (**self).edit_message(caller, conversation, message, body).await
            }

            async fn delete_message(
                &self,
                caller: &Identity,
                conversation: ConversationId,
                message: MessageId,
            ) -> ChatResult<Deleted> {
                (**self).delete_message(caller, conversation, message).await
            }

            async fn add_participants(
                &self,
                caller: &Identity,
                id: ConversationId,
                users: Vec<UserId>,
                max_participants: usize,
            ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
                (**self)
                    .add_participants(caller, id, users, max_participants)
                    .await
            }

            async fn remove_participant(
                &self,
                caller: &Identity,
                id: ConversationId,
                user: &UserId,
            ) -> ChatResult<ConversationRecord> {
                (**self).remove_participant(caller, id, user).await
            }

            async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
                (**self).inbox_page(caller, query).await
            }

            async fn history_page(
                &self,
                caller: &Identity,
                id: ConversationId,
                query: HistoryQuery,
            ) -> ChatResult<HistoryPage> {
                (**self).history_page(caller, id, query).await
            }

            async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
                (**self).search(caller, query).await
            }

            async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
                (**self).stats(caller).await
            }
        }

        #[async_trait]
        impl<T: ModerationStore + ?Sized> ModerationStore for $wrapper<T> {
            async fn set_block(
                &self,
                caller: &Identity,
                user: &UserId,
                block: bool,
            ) -> ChatResult<(Option<Block>, bool)> {
                (**self).set_block(caller, user, block).await
            }

            async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
                (**self).blocks(caller).await
            }

            async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
                (**self).is_blocked(tenant, blocker, blocked).await
            }

            async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
                (**self).report_message(caller, new).await
            }

            async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
                (**self).reports_by(caller).await
            }
        }

        #[async_trait]
        impl<T: AttachmentStore + ?Sized> AttachmentStore for $wrapper<T> {
            async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
                (**self).begin_upload(caller, id, name).await
            }

            async fn finish_upload(
                &self,
                caller: &Identity,
                attachment: AttachmentId,
                uploaded: UploadedFile,
            ) -> ChatResult<Attachment> {
                (**self).finish_upload(caller, attachment, uploaded).await
            }

            async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()> {
                (**self).abandon_upload(caller, attachment).await
            }

            async fn attachment(
                &self,
                caller: &Identity,
                id: ConversationId,
                attachment: AttachmentId,
            ) -> ChatResult<Attachment> {
                (**self).attachment(caller, id, attachment).await
            }

            async fn discard_stale_attachments(
                &self,
                tenant: Option<&TenantId>,
                unsent_before: DateTime<Utc>,
                limit: usize,
            ) -> ChatResult<Vec<Attachment>> {
                (**self)
                    .discard_stale_attachments(tenant, unsent_before, limit)
                    .await
            }

            async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
                (**self).forget_attachments(attachments).await
            }
        }

        #[async_trait]
        impl<T: OutboxStore + ?Sized> OutboxStore for $wrapper<T> {
            async fn claim_notifications(
                &self,
                tenant: Option<&TenantId>,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: usize,
            ) -> ChatResult<Vec<DueNotification>> {
                (**self)
                    .claim_notifications(tenant, now, lease_until, limit)
                    .await
            }

            async fn settle_notifications(&self, settled: &[SettledNotification]) -> ChatResult<()> {
                (**self).settle_notifications(settled).await
            }
        }

        #[async_trait]
        impl<T: ErasureStore + ?Sized> ErasureStore for $wrapper<T> {
            async fn erase_messages(
                &self,
                caller: &Identity,
                id: ConversationId,
                after_seq: u64,
                limit: usize,
            ) -> ChatResult<ErasedBatch> {
                (**self).erase_messages(caller, id, after_seq, limit).await
            }

            async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
                (**self).erase_user_records(caller).await
            }
        }
    };
}

forward_to_inner!(Arc);
forward_to_inner!(Box);
