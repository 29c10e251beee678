//! [`SledStore`] and its [`Store`] implementation (the builder is in `builder.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chat_core::store::{
    Appended, Deleted, ErasedBatch, HistoryPage, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, NewReport,
    Reacted, ReactionChange, ReadUpTo, Reported, SearchQuery,
};
use chat_core::{
    Attachment, AttachmentId, Block, ChatResult, ConversationId, ConversationRecord, Identity, Message, MessageId,
    Report, Stats, Store, Tag, TenantId, UploadedFile, UserId,
};
use chrono::{DateTime, Utc};

use crate::keys;

use crate::builder::{Durability, SledStoreBuilder};
use crate::commit::{CommitStats, GroupCommit};
use crate::error::SledStoreError;
use crate::trees::Trees;

struct Inner {
    trees: Trees,
    durability: Durability,
    /// The write-ahead log of a durable store over a directory.
    commit: Option<Arc<GroupCommit>>,
}

impl SledStore {
    /// The store over opened `trees` (see [`SledStoreBuilder::open`]).
    pub(crate) fn from_parts(trees: Trees, durability: Durability, commit: Option<Arc<GroupCommit>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                trees,
                durability,
                commit,
            }),
        }
    }
}

/// The embedded store: every [`Store`] operation is one sled transaction, run on tokio's
/// blocking pool, and (in [`Durability::Durable`] mode) acknowledged only once it is in
/// the synced write-ahead log.
///
/// Cheap to clone (an `Arc` inside). Dropping the last clone flushes and closes the
/// database (a blocking call); [`SledStore::flush`] flushes without closing.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("durability", &self.inner.durability)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// A builder: [`SledStoreBuilder::path`], [`SledStoreBuilder::db`] or
    /// [`SledStoreBuilder::temporary`], then [`SledStoreBuilder::open`].
    pub fn builder() -> SledStoreBuilder {
        SledStoreBuilder::new()
    }

    /// Opens (or creates) a durable store in the directory `path`.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, SledStoreError> {
        Self::builder().path(path).open().await
    }

    /// A relaxed store in a temporary database, deleted on drop: for tests.
    pub async fn temporary() -> Result<Self, SledStoreError> {
        Self::builder().temporary().durability(Durability::Relaxed).open().await
    }

    /// The durability mode chosen when opening.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// The underlying database (e.g. to check its size or export it).
    pub fn db(&self) -> &sled::Db {
        &self.inner.trees.db
    }

    /// Flushes every write so far to disk; returns the number of bytes written. Useful
    /// before shutting down in [`Durability::Relaxed`] mode.
    pub async fn flush(&self) -> Result<usize, SledStoreError> {
        let db = self.inner.trees.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|error| SledStoreError::Task(error.to_string()))?
            .map_err(SledStoreError::from)
    }

    /// How many durable writes were acknowledged, and how many log writes, syncs and
    /// checkpoints they needed (all zero for a Relaxed or temporary store).
    pub fn commit_stats(&self) -> CommitStats {
        self.inner
            .commit
            .as_ref()
            .map(|commit| commit.stats())
            .unwrap_or_default()
    }

    /// Runs a sled operation on tokio's blocking pool.
    async fn blocking<T, F>(&self, operation: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> ChatResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || operation(&inner.trees))
            .await
            .map_err(|error| SledStoreError::Task(error.to_string()))?
    }

    /// Runs a writing operation, then (when durable) waits on the same blocking thread
    /// until it is on stable storage, sharing the log write and the sync with concurrent
    /// writers (see [`crate::CommitStats`] and `commit.rs`).
    ///
    /// The wait also covers operations that changed nothing (a repeated
    /// `client_message_id`, a second delete): what they return may have been committed by
    /// a concurrent call whose flush is still running, and it must be durable before it
    /// is acknowledged.
    async fn write<T, F>(&self, operation: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> ChatResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let answer = operation(&inner.trees)?;
            if let Some(commit) = &inner.commit {
                commit.wait_durable()?;
            }
            Ok(answer)
        })
        .await
        .map_err(|error| SledStoreError::Task(error.to_string()))?
    }
}

#[async_trait]
impl Store for SledStore {
    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |trees| trees.find_or_create_direct(&caller, &new))
            .await
    }

    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>> {
        let key = keys::direct(&caller.tenant, &caller.user, counterpart, tag);
        self.blocking(move |trees| trees.direct_by_key(&key)).await
    }

    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        let (caller, user) = (caller.clone(), user.clone());
        self.write(move |trees| trees.set_block(&caller, &user, block)).await
    }

    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.blocks(&caller)).await
    }

    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        let (tenant, blocker, blocked) = (tenant.clone(), blocker.clone(), blocked.clone());
        self.blocking(move |trees| trees.is_blocked(&tenant, &blocker, &blocked))
            .await
    }

    async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
        let caller = caller.clone();
        self.write(move |trees| trees.report_message(&caller, &new)).await
    }

    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.reports_by(&caller)).await
    }

    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let caller = caller.clone();
        self.write(move |trees| trees.erase_messages(&caller, id, after_seq, limit))
            .await
    }

    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        let caller = caller.clone();
        self.write(move |trees| trees.erase_user_records(&caller)).await
    }

    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |trees| trees.create_group(&caller, &new)).await
    }

    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.member_record(&caller, id)).await
    }

    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
        let caller = caller.clone();
        self.write(move |trees| trees.append_message(&caller, &new)).await
    }

    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
        let tenant = tenant.clone();
        self.write(move |trees| trees.append_system_message(&tenant, &new))
            .await
    }

    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |trees| trees.mark_delivered(&caller, id, up_to)).await
    }

    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let (tenant, up_to) = (tenant.clone(), up_to.to_vec());
        self.write(move |trees| trees.mark_delivered_many(&tenant, id, &up_to))
            .await
    }

    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
        let caller = caller.clone();
        self.write(move |trees| trees.set_reaction(&caller, &change)).await
    }

    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        let caller = caller.clone();
        let seqs = seqs.to_vec();
        self.blocking(move |trees| trees.messages_by_seq(&caller, id, &seqs))
            .await
    }

    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let caller = caller.clone();
        self.write(move |trees| trees.mark_read(&caller, id, up_to)).await
    }

    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |trees| trees.set_archived(&caller, id, archived)).await
    }

    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let caller = caller.clone();
        self.write(move |trees| trees.clear_history(&caller, id)).await
    }

    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let caller = caller.clone();
        self.write(move |trees| trees.edit_message(&caller, conversation, message, &body))
            .await
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        let caller = caller.clone();
        self.write(move |trees| trees.delete_message(&caller, conversation, message))
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
        self.write(move |trees| trees.add_participants(&caller, id, &users, max_participants))
            .await
    }

    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let (caller, user) = (caller.clone(), user.clone());
        self.write(move |trees| trees.remove_participant(&caller, id, &user))
            .await
    }

    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.inbox_page(&caller, &query)).await
    }

    async fn history_page(
        &self,
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.history_page(&caller, id, query)).await
    }

    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.search(&caller, &query)).await
    }

    async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.stats(&caller)).await
    }

    async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
        let caller = caller.clone();
        let name = name.to_owned();
        self.write(move |trees| trees.begin_upload(&caller, id, &name)).await
    }

    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment> {
        let caller = caller.clone();
        self.write(move |trees| trees.finish_upload(&caller, attachment, &uploaded))
            .await
    }

    async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()> {
        let caller = caller.clone();
        self.write(move |trees| trees.abandon_upload(&caller, attachment)).await
    }

    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        let caller = caller.clone();
        self.blocking(move |trees| trees.attachment(&caller, id, attachment))
            .await
    }

    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        let tenant = tenant.cloned();
        self.write(move |trees| trees.discard_stale_attachments(tenant.as_ref(), unsent_before, limit))
            .await
    }

    async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
        let attachments = attachments.to_vec();
        self.write(move |trees| trees.forget_attachments(&attachments)).await
    }

    async fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<chat_core::DueNotification>> {
        let tenant = tenant.cloned();
        self.write(move |trees| trees.claim_notifications(tenant.as_ref(), now, lease_until, limit))
            .await
    }

    async fn settle_notifications(&self, settled: &[chat_core::SettledNotification]) -> ChatResult<()> {
        let settled = settled.to_vec();
        self.write(move |trees| trees.settle_notifications(&settled)).await
    }
}
