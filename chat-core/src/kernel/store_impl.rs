//! [`Store`] for [`KvStore`]: each method moves its arguments to the blocking pool and runs
//! one operation of the kernel's modules as a read or a writing transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, UploadedFile};
use crate::error::ChatResult;
use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Block, ConversationRecord, Message, Report, Stats};
use crate::outbox::{DueNotification, SettledNotification};
use crate::store::{
    Appended, AttachmentStore, ConversationStore, Deleted, ErasedBatch, ErasureStore, HistoryPage, HistoryQuery,
    InboxQuery, ModerationStore, NewDirect, NewGroup, NewMessage, NewReport, OutboxStore, Reacted, ReactionChange,
    ReadUpTo, Reported, SearchQuery,
};
use crate::tag::Tag;

use super::{KvEngine, KvStore, attachments, erase, moderation, notifications, reads, writes};

#[async_trait]
impl<E: KvEngine> ConversationStore for KvStore<E> {
    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |tx| writes::find_or_create_direct(tx, &caller, &new))
            .await
    }

    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>> {
        let (caller, counterpart, tag) = (caller.clone(), counterpart.clone(), tag.cloned());
        self.read(move |tx| writes::find_direct(tx, &caller, &counterpart, tag.as_ref()))
            .await
    }

    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |tx| writes::create_group(tx, &caller, &new)).await
    }

    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.read(move |tx| reads::get_conversation(tx, &caller, id)).await
    }

    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
        let caller = caller.clone();
        self.write(move |tx| writes::append_message(tx, &caller, &new)).await
    }

    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
        let tenant = tenant.clone();
        self.write(move |tx| writes::append_system_message(tx, &tenant, &new))
            .await
    }

    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |tx| writes::mark_delivered(tx, &caller, id, up_to))
            .await
    }

    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let (tenant, up_to) = (tenant.clone(), up_to.to_vec());
        self.write(move |tx| writes::mark_delivered_many(tx, &tenant, id, &up_to))
            .await
    }

    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
        let caller = caller.clone();
        self.write(move |tx| writes::set_reaction(tx, &caller, &change)).await
    }

    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        let (caller, seqs) = (caller.clone(), seqs.to_vec());
        self.read(move |tx| reads::messages_by_seq(tx, &caller, id, &seqs))
            .await
    }

    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |tx| writes::mark_read(tx, &caller, id, up_to)).await
    }

    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |tx| writes::set_archived(tx, &caller, id, archived))
            .await
    }

    async fn set_muted(&self, caller: &Identity, id: ConversationId, muted: bool) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |tx| writes::set_muted(tx, &caller, id, muted)).await
    }

    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |tx| writes::clear_history(tx, &caller, id)).await
    }

    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let caller = caller.clone();
        self.write(move |tx| writes::edit_message(tx, &caller, conversation, message, &body))
            .await
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        let caller = caller.clone();
        self.write(move |tx| writes::delete_message(tx, &caller, conversation, message))
            .await
    }

    async fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let caller = caller.clone();
        self.write(move |tx| writes::add_participants(tx, &caller, id, &users, max_participants))
            .await
    }

    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let (caller, user) = (caller.clone(), user.clone());
        self.write(move |tx| writes::remove_participant(tx, &caller, id, &user))
            .await
    }

    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        let caller = caller.clone();
        self.read(move |tx| reads::inbox_page(tx, &caller, &query)).await
    }

    async fn history_page(
        &self,
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        let caller = caller.clone();
        self.read(move |tx| reads::history_page(tx, &caller, id, query)).await
    }

    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        let caller = caller.clone();
        self.read(move |tx| reads::search(tx, &caller, &query)).await
    }

    async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        let caller = caller.clone();
        self.read(move |tx| reads::stats(tx, &caller)).await
    }
}

#[async_trait]
impl<E: KvEngine> ModerationStore for KvStore<E> {
    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        let (caller, user) = (caller.clone(), user.clone());
        self.write(move |tx| moderation::set_block(tx, &caller, &user, block))
            .await
    }

    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        let caller = caller.clone();
        self.read(move |tx| moderation::blocks(tx, &caller)).await
    }

    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        let (tenant, blocker, blocked) = (tenant.clone(), blocker.clone(), blocked.clone());
        self.read(move |tx| moderation::is_blocked(tx, &tenant, &blocker, &blocked))
            .await
    }

    async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
        let caller = caller.clone();
        self.write(move |tx| moderation::report_message(tx, &caller, &new))
            .await
    }

    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        let caller = caller.clone();
        self.read(move |tx| moderation::reports_by(tx, &caller)).await
    }
}

#[async_trait]
impl<E: KvEngine> AttachmentStore for KvStore<E> {
    async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
        let (caller, name) = (caller.clone(), name.to_owned());
        self.write(move |tx| attachments::begin_upload(tx, &caller, id, &name))
            .await
    }

    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment> {
        let caller = caller.clone();
        self.write(move |tx| attachments::finish_upload(tx, &caller, attachment, &uploaded))
            .await
    }

    async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()> {
        let caller = caller.clone();
        self.write(move |tx| attachments::abandon_upload(tx, &caller, attachment))
            .await
    }

    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        let caller = caller.clone();
        self.read(move |tx| attachments::attachment(tx, &caller, id, attachment))
            .await
    }

    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        let tenant = tenant.cloned();
        self.write(move |tx| attachments::discard_stale_attachments(tx, tenant.as_ref(), unsent_before, limit))
            .await
    }

    async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
        let ids = attachments.to_vec();
        self.write(move |tx| attachments::forget_attachments(tx, &ids)).await
    }
}

#[async_trait]
impl<E: KvEngine> OutboxStore for KvStore<E> {
    async fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<DueNotification>> {
        let tenant = tenant.cloned();
        self.write(move |tx| notifications::claim_notifications(tx, tenant.as_ref(), now, lease_until, limit))
            .await
    }

    async fn settle_notifications(&self, settled: &[SettledNotification]) -> ChatResult<()> {
        let settled = settled.to_vec();
        self.write(move |tx| notifications::settle_notifications(tx, &settled))
            .await
    }
}

#[async_trait]
impl<E: KvEngine> ErasureStore for KvStore<E> {
    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let caller = caller.clone();
        self.write(move |tx| erase::erase_messages(tx, &caller, id, after_seq, limit))
            .await
    }

    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        let caller = caller.clone();
        self.write(move |tx| erase::erase_user_records(tx, &caller)).await
    }
}
