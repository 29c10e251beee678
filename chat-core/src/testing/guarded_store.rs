//! A store that keeps something alive (a temporary directory, a schema that drops itself)
//! until the store is gone: what a backend's tests hand to `conformance_tests!` instead of
//! writing their own delegating wrapper.

use async_trait::async_trait;

use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Block, ConversationRecord, Message, Stats};
use crate::store::{
    Appended, Deleted, HistoryPage, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, Reacted, ReactionChange,
    ReadUpTo, SearchQuery, Store,
};
use crate::tag::Tag;

/// `store`, with `guard` dropped right after it (fields drop in declaration order).
#[derive(Debug)]
pub struct GuardedStore<S, G> {
    /// The store every operation goes to.
    pub store: S,
    /// Dropped after the store: a temporary directory, a schema guard, …
    pub guard: G,
}

impl<S, G> GuardedStore<S, G> {
    /// `store`, keeping `guard` until the store is dropped.
    pub fn new(store: S, guard: G) -> Self {
        Self { store, guard }
    }
}

#[async_trait]
impl<S: Store, G: Send + Sync + 'static> Store for GuardedStore<S, G> {
    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        self.store.find_or_create_direct(caller, new).await
    }

    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>> {
        self.store.find_direct(caller, counterpart, tag).await
    }

    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        self.store.set_block(caller, user, block).await
    }

    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        self.store.blocks(caller).await
    }

    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        self.store.is_blocked(tenant, blocker, blocked).await
    }

    async fn report_message(
        &self,
        caller: &Identity,
        new: crate::store::NewReport,
    ) -> ChatResult<crate::store::Reported> {
        self.store.report_message(caller, new).await
    }

    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<crate::model::Report>> {
        self.store.reports_by(caller).await
    }

    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<crate::store::ErasedBatch> {
        self.store.erase_messages(caller, id, after_seq, limit).await
    }

    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        self.store.erase_user_records(caller).await
    }

    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
        self.store.create_group(caller, new).await
    }

    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        self.store.get_conversation(caller, id).await
    }

    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
        self.store.append_message(caller, new).await
    }

    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
        self.store.append_system_message(tenant, new).await
    }

    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.store.mark_delivered(caller, id, up_to).await
    }

    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.store.mark_delivered_many(tenant, id, up_to).await
    }

    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
        self.store.set_reaction(caller, change).await
    }

    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        self.store.messages_by_seq(caller, id, seqs).await
    }

    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.store.mark_read(caller, id, up_to).await
    }

    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        self.store.set_archived(caller, id, archived).await
    }

    async fn set_muted(&self, caller: &Identity, id: ConversationId, muted: bool) -> ChatResult<ConversationRecord> {
        self.store.set_muted(caller, id, muted).await
    }

    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        self.store.clear_history(caller, id).await
    }

    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        self.store.edit_message(caller, conversation, message, body).await
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        self.store.delete_message(caller, conversation, message).await
    }

    async fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.store.add_participants(caller, id, users, max_participants).await
    }

    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        self.store.remove_participant(caller, id, user).await
    }

    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        self.store.inbox_page(caller, query).await
    }

    async fn history_page(
        &self,
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        self.store.history_page(caller, id, query).await
    }

    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        self.store.search(caller, query).await
    }

    async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        self.store.stats(caller).await
    }

    async fn begin_upload(
        &self,
        caller: &Identity,
        id: ConversationId,
        name: &str,
    ) -> ChatResult<crate::attachment::Attachment> {
        self.store.begin_upload(caller, id, name).await
    }

    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: crate::ids::AttachmentId,
        uploaded: crate::attachment::UploadedFile,
    ) -> ChatResult<crate::attachment::Attachment> {
        self.store.finish_upload(caller, attachment, uploaded).await
    }

    async fn abandon_upload(&self, caller: &Identity, attachment: crate::ids::AttachmentId) -> ChatResult<()> {
        self.store.abandon_upload(caller, attachment).await
    }

    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: crate::ids::AttachmentId,
    ) -> ChatResult<crate::attachment::Attachment> {
        self.store.attachment(caller, id, attachment).await
    }

    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> ChatResult<Vec<crate::attachment::Attachment>> {
        self.store.discard_stale_attachments(tenant, unsent_before, limit).await
    }

    async fn forget_attachments(&self, attachments: &[crate::ids::AttachmentId]) -> ChatResult<()> {
        self.store.forget_attachments(attachments).await
    }

    async fn claim_notifications(
        &self,
        tenant: Option<&crate::ids::TenantId>,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> ChatResult<Vec<crate::notification::DueNotification>> {
        self.store.claim_notifications(tenant, now, lease_until, limit).await
    }

    async fn settle_notifications(&self, settled: &[crate::notification::SettledNotification]) -> ChatResult<()> {
        self.store.settle_notifications(settled).await
    }
}
