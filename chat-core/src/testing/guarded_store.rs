//! A store that keeps something alive (a temporary directory, a schema that drops itself)
//! until the store is gone: what a backend's tests hand to `conformance_tests!` instead of
//! writing their own delegating wrapper.

use async_trait::async_trait;

use crate::error::ChatResult;
use crate::ids::{ConversationId, MessageId, TenantId, UserId};
use crate::model::{ConversationRecord, Message, Stats};
use crate::store::{Appended, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, ReadUpTo, SearchQuery, Store};

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
    async fn find_or_create_direct(&self, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        self.store.find_or_create_direct(new).await
    }

    async fn create_group(&self, new: NewGroup) -> ChatResult<ConversationRecord> {
        self.store.create_group(new).await
    }

    async fn get_conversation(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        self.store.get_conversation(tenant, actor, id).await
    }

    async fn append_message(&self, new: NewMessage) -> ChatResult<Appended> {
        self.store.append_message(new).await
    }

    async fn mark_read(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.store.mark_read(tenant, actor, id, up_to).await
    }

    async fn set_archived(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        self.store.set_archived(tenant, actor, id, archived).await
    }

    async fn clear_history(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        self.store.clear_history(tenant, actor, id).await
    }

    async fn edit_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        self.store
            .edit_message(tenant, actor, conversation, message, body)
            .await
    }

    async fn delete_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<(Message, ConversationRecord)> {
        self.store.delete_message(tenant, actor, conversation, message).await
    }

    async fn add_participants(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.store
            .add_participants(tenant, actor, id, users, max_participants)
            .await
    }

    async fn remove_participant(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        self.store.remove_participant(tenant, actor, id, user).await
    }

    async fn inbox_page(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: InboxQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        self.store.inbox_page(tenant, user, query).await
    }

    async fn history_page(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<Vec<Message>> {
        self.store.history_page(tenant, actor, id, query).await
    }

    async fn search(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: SearchQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        self.store.search(tenant, user, query).await
    }

    async fn stats(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Stats> {
        self.store.stats(tenant, user).await
    }
}
