//! The inputs and outputs of the store operations: what a store is handed and what it
//! answers (re-exported by [`crate::store`]).

use chrono::{DateTime, Utc};

use crate::ids::{AttachmentId, ConversationId, MessageId, UserId};
use crate::model::{ConversationRecord, Message, Metadata, Quote, Report, ReportReason};
use crate::tag::{Tag, TagFilter};

/// Input of [`crate::store::ConversationStore::find_or_create_direct`]; the caller is the creator.
#[derive(Clone, Debug)]
pub struct NewDirect {
    /// The other user; never the caller.
    pub counterpart: UserId,
    /// The host object it is about; part of the uniqueness key (matched by [`Tag::match_key`]).
    pub tag: Option<Tag>,
    /// Stored only when the conversation is created.
    pub metadata: Metadata,
}

/// Input of [`crate::store::ConversationStore::create_group`]; the caller is the creator and owner.
#[derive(Clone, Debug)]
pub struct NewGroup {
    /// The other members: distinct, without the creator, at least one.
    pub members: Vec<UserId>,
    /// The title.
    pub title: String,
    /// The host object it is about.
    pub tag: Option<Tag>,
    /// Host-defined data.
    pub metadata: Metadata,
}

/// Input of [`crate::store::ConversationStore::append_message`]; the caller is the sender and must participate. The
/// appended message is built by [`crate::rules::append`].
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The validated body.
    pub body: String,
    /// The retry key: a repeat returns the stored message and changes nothing.
    pub client_message_id: Option<String>,
    /// The message this one quotes: the store looks it up in the same transaction and
    /// checks it with [`crate::rules::reply_target`].
    pub reply_to: Option<MessageId>,
    /// The sender's own unsent uploads to this conversation that the message carries
    /// (distinct, at most [`crate::Limits::attachments_per_message`]): the store binds them
    /// to the message in the same transaction by [`crate::rules::attach`].
    pub attachments: Vec<AttachmentId>,
    /// Host-defined data.
    pub metadata: Metadata,
    /// With offline notifications on: how long after the message a recipient who has not
    /// read it is notified (see [`crate::rules::append`]). `None`: no outbox rows.
    pub notify_after: Option<chrono::TimeDelta>,
}

/// Input of [`crate::store::ConversationStore::set_reaction`].
#[derive(Clone, Debug)]
pub struct ReactionChange {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
    /// The validated emoji.
    pub emoji: String,
    /// `true` to hold it, `false` to drop it.
    pub present: bool,
    /// Distinct emoji a message may carry ([`crate::Limits::reactions_per_message`]).
    pub max_distinct: usize,
}

/// Output of [`crate::store::ConversationStore::set_reaction`].
#[derive(Clone, Debug)]
pub struct Reacted {
    /// The message with its reactions as they are now.
    pub message: Message,
    /// The conversation (unchanged by reactions): who to tell.
    pub record: ConversationRecord,
    /// False when the caller already held (or did not hold) the emoji: nothing changed.
    pub changed: bool,
}

/// Input of [`crate::store::ModerationStore::report_message`]; the caller is the reporter.
#[derive(Clone, Debug)]
pub struct NewReport {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
    /// Why.
    pub reason: ReportReason,
    /// The validated note.
    pub note: Option<String>,
}

/// Output of [`crate::store::ModerationStore::report_message`].
#[derive(Clone, Debug)]
pub struct Reported {
    /// The report as stored (the first one, for a repeat).
    pub report: Report,
    /// The message as it is now.
    pub message: Message,
    /// False for a repeat: nothing changed.
    pub created: bool,
}

/// Output of [`crate::store::ErasureStore::erase_messages`]: one batch of erasing a user's part of a
/// conversation.
#[derive(Clone, Debug)]
pub struct ErasedBatch {
    /// The conversation after the batch.
    pub record: ConversationRecord,
    /// The user's messages the batch deleted.
    pub deleted: Vec<Message>,
    /// Others' messages the user's reactions left.
    pub unreacted: Vec<Message>,
    /// The last seq the batch looked at, to pass as `after_seq` next; `None` when the batch
    /// reached the newest message.
    pub next_after: Option<u64>,
}

/// Output of [`crate::store::ConversationStore::delete_message`].
#[derive(Clone, Debug)]
pub struct Deleted {
    /// The message as it is now (deleted).
    pub message: Message,
    /// The conversation after the delete.
    pub record: ConversationRecord,
    /// False when it was deleted already: nothing changed.
    pub changed: bool,
}

/// Output of [`crate::store::ConversationStore::history_page`]: the page, what its replies quote, and the
/// conversation as it was read (the reader's own row and the others' watermarks, for
/// receipts), all from one call. Reads like the slice of its messages.
#[derive(Clone, Debug)]
pub struct HistoryPage {
    /// The page, ascending by seq.
    pub messages: Vec<Message>,
    /// What the page's replies quote of the messages that are not on the page
    /// ([`crate::rules::quoted_seqs`]), read in the same call; what the reader cleared is
    /// included (the services hide it).
    pub quoted: Vec<Quote>,
    /// The conversation.
    pub record: ConversationRecord,
}

impl std::ops::Deref for HistoryPage {
    type Target = [Message];

    /// The page's messages.
    fn deref(&self) -> &[Message] {
        &self.messages
    }
}

impl IntoIterator for HistoryPage {
    type Item = Message;
    type IntoIter = std::vec::IntoIter<Message>;

    /// The page's messages, by value.
    fn into_iter(self) -> Self::IntoIter {
        self.messages.into_iter()
    }
}

/// Output of [`crate::store::ConversationStore::append_message`].
#[derive(Clone, Debug)]
pub struct Appended {
    /// The new message, or the stored one for a repeated `client_message_id`.
    pub message: Message,
    /// False when a repeated `client_message_id` returned the stored message.
    pub created: bool,
    /// The conversation after the send.
    pub record: ConversationRecord,
}

/// How far [`crate::store::ConversationStore::mark_read`] moves the watermark.
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

/// Input of [`crate::store::ConversationStore::inbox_page`].
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

/// Input of [`crate::store::ConversationStore::history_page`]. Seqs the actor has cleared are never returned.
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

/// Input of [`crate::store::ConversationStore::search`].
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Conversations whose title contains this text, case-insensitively.
    pub title_contains: String,
    /// … or which have one of these users as another participant.
    pub participants: Vec<UserId>,
    /// At most this many, in inbox order.
    pub limit: usize,
}
