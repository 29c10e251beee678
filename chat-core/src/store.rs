//! The `Store` trait: whole operations, each one atomic transaction in the backend.
//!
//! Stores keep atomicity and the membership check: every operation on a conversation takes
//! the acting user and checks, inside the same transaction, that the actor participates
//! (otherwise [`crate::ChatError::NotFound`], exactly as for an unknown id). Input validation, limits,
//! profiles and events are the services' job and are *not* repeated in stores; stores may
//! assume their input has been validated.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::ChatResult;
use crate::ids::{ConversationId, MessageId, TenantId, UserId};
use crate::model::{Conversation, ConversationRecord, Message, Metadata, Stats};
use crate::tag::{Tag, TagFilter};

/// Input of [`Store::find_or_create_direct`].
#[derive(Clone, Debug)]
pub struct NewDirect {
    /// The tenant.
    pub tenant: TenantId,
    /// Who asks; becomes `created_by` when the conversation is new.
    pub creator: UserId,
    /// The other user; never equal to `creator`.
    pub counterpart: UserId,
    /// The host object it is about; part of the uniqueness key (matched by [`Tag::match_key`]).
    pub tag: Option<Tag>,
    /// Stored only when the conversation is created.
    pub metadata: Metadata,
}

/// Input of [`Store::create_group`].
#[derive(Clone, Debug)]
pub struct NewGroup {
    /// The tenant.
    pub tenant: TenantId,
    /// The creator, who becomes the owner.
    pub creator: UserId,
    /// The other members: distinct, without the creator, at least one.
    pub members: Vec<UserId>,
    /// The title.
    pub title: String,
    /// The host object it is about.
    pub tag: Option<Tag>,
    /// Host-defined data.
    pub metadata: Metadata,
}

/// Input of [`Store::append_message`].
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The authenticated sender; must participate.
    pub sender: UserId,
    /// The validated body.
    pub body: String,
    /// The retry key: a repeat returns the stored message and changes nothing.
    pub client_message_id: Option<String>,
    /// Host-defined data.
    pub metadata: Metadata,
}

impl NewMessage {
    /// The message this send appends to `conversation`: the next seq, and a time that never
    /// goes back within the conversation (`now`, clamped to its `last_activity_at`). The
    /// stores build the appended message with this inside their transaction; PgStore, whose
    /// send runs in one SQL function, applies the same two rules there.
    pub fn next_message(&self, conversation: &Conversation) -> Message {
        Message {
            id: MessageId::new_v7(),
            conversation_id: self.conversation_id,
            seq: conversation.last_seq + 1,
            sender: self.sender.clone(),
            body: self.body.clone(),
            client_message_id: self.client_message_id.clone(),
            metadata: self.metadata.clone(),
            created_at: crate::model::now().max(conversation.last_activity_at),
            edited_at: None,
            deleted_at: None,
        }
    }
}

/// Output of [`Store::append_message`].
#[derive(Clone, Debug)]
pub struct Appended {
    /// The new message, or the stored one for a repeated `client_message_id`.
    pub message: Message,
    /// False when a repeated `client_message_id` returned the stored message.
    pub created: bool,
    /// The conversation after the send.
    pub record: ConversationRecord,
}

/// How far [`Store::mark_read`] moves the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadUpTo {
    /// Up to the newest message.
    Newest,
    /// Up to this seq, clamped to the newest; never backwards.
    Seq(u64),
}

/// Which conversations an inbox lists, by the caller's archive flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArchiveFilter {
    /// Only conversations the caller has not archived (the default inbox).
    #[default]
    Active,
    /// Only archived ones (the archive folder).
    Archived,
    /// Both.
    All,
}

impl ArchiveFilter {
    /// True when a conversation with this archive flag passes.
    pub fn matches(self, is_archived: bool) -> bool {
        match self {
            Self::Active => !is_archived,
            Self::Archived => is_archived,
            Self::All => true,
        }
    }
}

/// A position in an inbox: the last row of the previous page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxCursor {
    /// That row's `last_activity_at`.
    pub last_activity_at: DateTime<Utc>,
    /// That row's id.
    pub id: ConversationId,
}

impl InboxCursor {
    /// True when a row with this key comes after the cursor in inbox order
    /// (`last_activity_at` desc, then id desc).
    pub fn is_before(&self, last_activity_at: DateTime<Utc>, id: ConversationId) -> bool {
        (last_activity_at, id) < (self.last_activity_at, self.id)
    }
}

/// Input of [`Store::inbox_page`].
#[derive(Clone, Debug, Default)]
pub struct InboxQuery {
    /// By the caller's archive flag.
    pub archive: ArchiveFilter,
    /// By tag.
    pub tag: Option<TagFilter>,
    /// Only conversations where the caller has unread messages.
    pub unread_only: bool,
    /// Rows strictly after this position.
    pub after: Option<InboxCursor>,
    /// At most this many rows.
    pub limit: usize,
}

/// Input of [`Store::history_page`]. Seqs the actor has cleared are never returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only seq < before.
    pub before: Option<u64>,
    /// Only seq > after. With `after`, the page is the *oldest* matching messages
    /// (following forward); without it, the *newest* (paging back). Always ascending.
    pub after: Option<u64>,
    /// At most this many messages.
    pub limit: usize,
}

/// Input of [`Store::search`].
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Conversations whose title contains this text, case-insensitively.
    pub title_contains: String,
    /// … or which have one of these users as another participant.
    pub participants: Vec<UserId>,
    /// At most this many, in inbox order.
    pub limit: usize,
}

/// Persistence for conversations and messages. Object safe: use `Arc<dyn Store>`.
///
/// Every method is one atomic transaction and keeps the invariants of the design document;
/// the conformance suite in `chat_core::testing` (feature `testing`) proves it for a backend.
/// Timestamps are taken inside the operation with [`crate::model::now`], clamped so that a
/// conversation's message times never decrease.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Finds the direct conversation of the unordered pair and tag, or creates it; `true`
    /// when created. At most one exists per (tenant, pair, tag), also under races.
    async fn find_or_create_direct(&self, new: NewDirect) -> ChatResult<(ConversationRecord, bool)>;

    /// Creates a group owned by its creator.
    async fn create_group(&self, new: NewGroup) -> ChatResult<ConversationRecord>;

    /// The conversation, if `actor` participates.
    async fn get_conversation(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord>;

    /// Appends a message with the next seq, updates the preview and counters, marks the
    /// sender read up to it and un-archives the conversation for every participant.
    async fn append_message(&self, new: NewMessage) -> ChatResult<Appended>;

    /// Moves the actor's read watermark forward; `true` when it moved.
    async fn mark_read(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)>;

    /// Sets the actor's archive flag.
    async fn set_archived(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord>;

    /// Hides every current message from the actor's history and marks them read.
    async fn clear_history(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord>;

    /// Replaces the body of the actor's own, not deleted, message.
    async fn edit_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)>;

    /// Soft-deletes the actor's own message: the row and seq stay, the body goes. Deleting
    /// twice is not an error and changes nothing.
    async fn delete_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<(Message, ConversationRecord)>;

    /// Adds users to a group the actor is in; returns the users actually added (members
    /// already present are skipped). Fails with `Conflict` on direct conversations and
    /// with `Validation` (field `participant_uuids`) past `max_participants`.
    async fn add_participants(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)>;

    /// Removes `user` from a group: anyone may remove themselves (leave), only the owner
    /// may remove others. When the owner leaves, the longest-standing member becomes owner.
    /// Returns the conversation as it is afterwards.
    async fn remove_participant(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord>;

    /// One page of the user's conversations in inbox order.
    async fn inbox_page(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: InboxQuery,
    ) -> ChatResult<Vec<ConversationRecord>>;

    /// One page of messages by seq, ascending.
    async fn history_page(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<Vec<Message>>;

    /// The user's conversations matching by title or other participant, in inbox order.
    async fn search(&self, tenant: &TenantId, user: &UserId, query: SearchQuery)
    -> ChatResult<Vec<ConversationRecord>>;

    /// The user's totals.
    async fn stats(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Stats>;
}
