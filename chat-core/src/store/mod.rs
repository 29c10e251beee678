//! The store traits: whole operations, each one atomic transaction in the backend.
//!
//! Cut as object_store cuts its trait: a core, [`ConversationStore`] (conversations,
//! messages, receipts, inbox, history, search, stats), and object-safe capabilities:
//! [`ModerationStore`] (blocks, reports), [`AttachmentStore`], [`OutboxStore`] (the
//! notification worker's claims) and [`ErasureStore`]. Each has blanket impls for `Arc<T>`
//! and `Box<T>`. [`Store`] is all five, implemented for every type that implements them:
//! what a host hands to [`crate::ChatServices`] (`Arc<dyn Store>`). A backend implements
//! the five traits (the storage kernel does for every key-value engine; PgStore in SQL).
//!
//! Stores keep atomicity and the membership check: every operation takes the caller (the
//! authenticated tenant and user, one [`Identity`]) and checks, inside the same transaction,
//! that the caller participates (otherwise [`crate::ChatError::NotFound`], exactly as for an
//! unknown id). The state transitions themselves are the pure functions of [`crate::rules`],
//! which every store applies. Input validation, limits, profiles and events are the
//! services' job and are *not* repeated in stores; stores may assume their input has been
//! validated.

mod forward;
mod operations;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, UploadedFile};
use crate::error::ChatResult;
use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Block, ConversationRecord, Message, Report, Stats};
use crate::outbox::{DueNotification, SettledNotification};
use crate::tag::Tag;

pub use operations::{
    Appended, ArchiveFilter, Deleted, ErasedBatch, HistoryPage, HistoryQuery, InboxCursor, InboxQuery, NewDirect,
    NewGroup, NewMessage, NewReport, Reacted, ReactionChange, ReadUpTo, Reported, SearchQuery,
};

/// The core of a store: conversations, messages, receipts, inbox, history, search and stats.
/// Object safe (`Arc<dyn ConversationStore>`).
///
/// Every method is one atomic transaction and keeps the invariants of the design document;
/// the conformance suite in `chat_core::testing` (feature `testing`) proves it for a backend.
/// Timestamps are taken inside the operation with [`crate::model::now`] and handed to the
/// rules, which keep a conversation's message times from decreasing.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Finds the direct conversation of the caller and `new.counterpart` with the tag, or
    /// creates it ([`crate::rules::new_direct`]); `true` when created. At most one exists per
    /// (tenant, unordered pair, tag), also under races.
    /// A new one is refused by [`crate::rules::start_refused_by_block`] when the
    /// counterpart has blocked the caller; an existing one is returned.
    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)>;

    /// The direct conversation of the caller and `counterpart` with `tag`, if it exists
    /// (the key of [`crate::store::ConversationStore::find_or_create_direct`]); creates nothing. The services use it
    /// to reopen an existing conversation when the caller may not start new ones.
    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>>;

    /// Creates a group owned by the caller ([`crate::rules::new_group`]).
    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord>;

    /// The conversation, if the caller participates.
    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord>;

    /// Appends the caller's message by [`crate::rules::append`]; a repeated `client_message_id`
    /// (same sender and conversation) returns the stored message and changes nothing.
    /// After the membership check and before the retry key, a send into a direct
    /// conversation whose other participant has blocked the caller is refused by
    /// [`crate::rules::send_refused_by_block`].
    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended>;

    /// Appends a system message to a conversation of `tenant` by [`crate::rules::append`]
    /// with no author: no membership check (the host posts it), unread for every member.
    /// `NotFound` (conversation) when the tenant has no such conversation.
    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended>;

    /// Moves the caller's delivery watermark forward by [`crate::rules::mark_delivered`];
    /// `true` when it moved.
    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)>;

    /// Moves the delivery watermarks of several participants of a conversation of `tenant`
    /// in one transaction ([`crate::rules::mark_delivered_many`]): a batch of socket
    /// receipts. Users who are not participants (any more) are skipped; returns the
    /// conversation and the users whose watermark moved. `NotFound` (conversation) when the
    /// tenant has no such conversation.
    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)>;

    /// Adds or drops the caller's reaction on a message of a conversation the caller is in
    /// ([`crate::rules::set_reaction`]); saves only the message. Refused like a send by
    /// [`crate::rules::send_refused_by_block`] (after the message is found). Concurrent changes of one
    /// message are serialized: none is lost.
    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted>;

    /// The messages with these seqs of a conversation the caller is in, ascending, in one
    /// read (the originals that a page of replies quotes). Seqs with no message are
    /// skipped; what the caller cleared is returned too (the services hide it).
    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>>;

    /// Moves the caller's read watermark forward by [`crate::rules::mark_read`]; `true` when it moved.
    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)>;

    /// Sets the caller's archive flag ([`crate::rules::set_archived`]).
    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord>;

    /// Mutes or unmutes the conversation for the caller ([`crate::rules::set_muted`]).
    async fn set_muted(&self, caller: &Identity, id: ConversationId, muted: bool) -> ChatResult<ConversationRecord>;

    /// Hides every current message from the caller's history and marks them read
    /// ([`crate::rules::clear_history`]).
    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord>;

    /// Replaces the body of the caller's own, not deleted, message ([`crate::rules::edit`]);
    /// refused like a send by [`crate::rules::send_refused_by_block`] (after the message is
    /// found).
    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)>;

    /// Soft-deletes the caller's own message ([`crate::rules::delete`]): the row and seq stay, the
    /// body goes. Deleting twice is not an error, changes nothing and says so
    /// ([`Deleted::changed`] false).
    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted>;

    /// Adds users to a group the caller is in ([`crate::rules::add_participants`]); returns the
    /// users actually added.
    async fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)>;

    /// Removes `user` from a group on the caller's behalf ([`crate::rules::remove_participant`]).
    /// Returns the conversation as it is afterwards.
    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord>;

    /// One page of the caller's conversations in inbox order ([`crate::rules::inbox_matches`],
    /// [`crate::rules::inbox_order`]).
    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>>;

    /// One page of messages by seq, ascending ([`crate::rules::history_range`]), with the
    /// messages its replies quote and the conversation, in one call (one store call per
    /// page, however many replies it holds).
    async fn history_page(&self, caller: &Identity, id: ConversationId, query: HistoryQuery)
    -> ChatResult<HistoryPage>;

    /// The caller's conversations matching by title or other participant
    /// ([`crate::rules::search_matches`]), in inbox order.
    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>>;

    /// The caller's totals.
    async fn stats(&self, caller: &Identity) -> ChatResult<Stats>;
}

/// Blocks and reports (invariant 13): a capability of a store, object safe.
#[async_trait]
pub trait ModerationStore: Send + Sync + 'static {
    /// Blocks (`block` true) or unblocks `user` for the caller by
    /// [`crate::rules::set_block`]: returns the block as it is now (`None` when not blocked)
    /// and whether this call changed it. Serialized with the sends into the pair's direct
    /// conversations (invariant 13): a send of `user` that commits after the block is
    /// stored is impossible. `user` is validated (never the caller).
    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)>;

    /// The caller's blocks, ordered by the blocked user's id (byte order).
    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>>;

    /// True when `blocker` of `tenant` has blocked `blocked`.
    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool>;

    /// Stores the caller's report of a message of a conversation the caller is in
    /// ([`crate::rules::report`]): at most one per reporter and message; a repeat returns
    /// the stored report and changes nothing.
    async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported>;

    /// The caller's reports, by message id (UUID v7: the oldest message first), for the
    /// export.
    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>>;
}

/// Attachment records: uploads, reads by members, and the sweep's two steps. A capability of a
/// store, object safe.
#[async_trait]
pub trait AttachmentStore: Send + Sync + 'static {
    /// Writes the record of an upload the caller begins into conversation `id`, before any
    /// byte is stored ([`crate::rules::begin_upload`]): a process that dies mid-upload
    /// leaves a record the sweep finds. `name` is validated.
    async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment>;

    /// Records what the caller's upload turned out to be once its bytes are stored
    /// ([`crate::rules::finish_upload`]); `NotFound` (attachment) unless it is the caller's
    /// and still uploading.
    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment>;

    /// Removes the record of the caller's own upload that is still uploading
    /// ([`crate::rules::may_abandon`]; anything else is left alone): a refused upload
    /// leaves nothing behind.
    async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()>;

    /// An attachment of conversation `id` the caller participates in and may read
    /// ([`crate::rules::is_readable`]); `NotFound` (conversation) for a conversation the
    /// caller is not in, `NotFound` (attachment) for anything else.
    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment>;

    /// For the sweep, in `tenant` (or every tenant with `None`): discards the uploads not
    /// sent and begun before
    /// `unsent_before`, in the transaction that reads them (a send racing it either bound
    /// the upload first or is refused), and returns up to `limit` discarded records
    /// ([`crate::rules::is_swept`]), oldest first, whose bytes the sweep then removes.
    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>>;

    /// Removes the records of these attachments that are discarded (any other is left
    /// alone): the sweep's last step, once their bytes are gone.
    async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()>;
}

/// The outbox of offline notifications (invariant 14): claims and settlements for the
/// notification worker. A capability of a store, object safe.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// For the notification worker, in `tenant` (or every tenant with `None`): claims up to `limit` pending
    /// notifications due at `now` (the earliest due first; returned in no particular order),
    /// by [`crate::rules::claim_notification`]
    /// (leased until `lease_until`), in the transaction that reads them. Concurrent claims,
    /// from this process or another node, never return the same row before its lease ends.
    async fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<DueNotification>>;

    /// Settles claimed notifications by [`crate::rules::settle_notification`], each in the
    /// same transaction as a read of its conversation. A claim whose row is gone or changed
    /// meanwhile is left alone.
    async fn settle_notifications(&self, settled: &[SettledNotification]) -> ChatResult<()>;
}

/// Erasing a user (invariant 15), in bounded batches. A capability of a store, object safe.
#[async_trait]
pub trait ErasureStore: Send + Sync + 'static {
    /// Erases the caller's part of the messages with seqs `after_seq + 1 ..=
    /// after_seq + limit` of a conversation the caller is in, by [`crate::rules::erase_message`],
    /// in one transaction: their messages deleted (attachments discarded, unread counts and
    /// the preview kept right, as [`crate::store::ConversationStore::delete_message`] does), their reactions off
    /// everyone else's. Repeating a batch changes nothing.
    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch>;

    /// Removes the caller's blocks (as blocker) and reports (as reporter) and discards
    /// their uploads not sent ([`crate::rules::erasing_discards`]); idempotent.
    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()>;
}

/// A whole store: the core ([`ConversationStore`]) and every capability ([`ModerationStore`],
/// [`AttachmentStore`], [`OutboxStore`], [`ErasureStore`]). What [`crate::ChatServices`] is
/// built from (`Arc<dyn Store>`); implemented for every type that implements the five, so a
/// backend implements those and never this. Calling a capability's method on an
/// `Arc<dyn Store>` needs that trait in scope (`use chat_core::store::OutboxStore`).
pub trait Store: ConversationStore + ModerationStore + AttachmentStore + OutboxStore + ErasureStore {}

impl<T> Store for T where T: ConversationStore + ModerationStore + AttachmentStore + OutboxStore + ErasureStore + ?Sized {}
