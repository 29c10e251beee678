//! Domain records as the stores keep them.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::attachment::AttachedFile;
use crate::ids::{ConversationId, MessageId, TenantId, UserId};
use crate::tag::Tag;

/// A JSON object of small host-defined data (`metadata`).
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// The current time, truncated to microseconds: the precision every store keeps, so a
/// timestamp reads back exactly as it was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Longest preview text kept on a conversation, in characters.
pub const PREVIEW_MAX_CHARS: usize = 280;

/// Direct (exactly two users, found-or-created per pair and tag) or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// Two users; at most one per tenant, unordered pair and tag.
    Direct,
    /// A titled group of up to [`crate::Limits::group_max_participants`] users.
    Group,
}

/// A participant's role in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the group (or inherited it when the owner left); may remove others.
    Owner,
    /// Any other participant.
    Member,
}

/// A user's message or one the host posted (no sender).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Sent by a participant.
    #[default]
    User,
    /// Posted by the host ([`crate::MessageService::send_system`]): no sender, unread for
    /// every member.
    System,
}

/// The message a reply quotes: an earlier message of the same conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// Its id.
    pub id: MessageId,
    /// Its seq.
    pub seq: u64,
}

/// What a reply shows of the message it quotes, read with a page of history instead of the
/// whole original: who sent it, its text cut to [`PREVIEW_MAX_CHARS`] characters, and
/// whether it is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The original's id.
    pub id: MessageId,
    /// Its seq.
    pub seq: u64,
    /// Its sender; `None` for a system message.
    pub sender: Option<UserId>,
    /// Its text, cut to [`PREVIEW_MAX_CHARS`] characters; empty once deleted.
    pub text: String,
    /// True once it is deleted.
    pub deleted: bool,
}

impl Quote {
    /// The quote of `message`.
    pub fn of(message: &Message) -> Self {
        Self {
            id: message.id,
            seq: message.seq,
            sender: message.sender.clone(),
            text: LastMessage::preview_text(&message.body),
            deleted: message.deleted_at.is_some(),
        }
    }
}

/// The users holding one emoji on a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji: one grapheme of at most [`crate::Limits::emoji_max_bytes`] bytes.
    pub emoji: String,
    /// Who holds it, each once, in byte order of the ids; never empty.
    pub users: Vec<UserId>,
}

/// The newest visible message of a conversation, kept on the conversation for inbox rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    /// The message.
    pub id: MessageId,
    /// Its seq.
    pub seq: u64,
    /// Who sent it; `None` for a system message.
    pub sender: Option<UserId>,
    /// Its body, cut to [`PREVIEW_MAX_CHARS`] characters.
    pub text: String,
    /// When it was sent.
    pub at: DateTime<Utc>,
}

impl LastMessage {
    /// The preview of `message`: every store builds it with this function.
    pub fn of(message: &Message) -> Self {
        Self {
            id: message.id,
            seq: message.seq,
            sender: message.sender.clone(),
            text: Self::preview_text(&message.body),
            at: message.created_at,
        }
    }

    /// The preview text of a message body: its first [`PREVIEW_MAX_CHARS`] characters.
    pub fn preview_text(body: &str) -> String {
        body.chars().take(PREVIEW_MAX_CHARS).collect()
    }
}

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// Groups have a title; direct conversations none.
    pub title: Option<String>,
    /// The host object it is about.
    pub tag: Option<Tag>,
    /// Who started it.
    pub created_by: UserId,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When anything about it last changed (message, edit, participants).
    pub updated_at: DateTime<Utc>,
    /// The newest message that is not deleted, if any.
    pub last_message: Option<LastMessage>,
    /// The seq of the newest message (deleted or not); 0 before the first.
    pub last_seq: u64,
    /// When the newest message was sent, or the creation time before the first message.
    /// Inboxes sort by this, then by id, both descending.
    pub last_activity_at: DateTime<Utc>,
    /// Host-defined data given at creation.
    pub metadata: Metadata,
}

/// One user's membership of one conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The user.
    pub user: UserId,
    /// Owner or member.
    pub role: Role,
    /// When the user joined.
    pub joined_at: DateTime<Utc>,
    /// Read watermark: every message up to this seq counts as read. Never moves back.
    pub last_read_seq: u64,
    /// When the watermark last moved.
    pub last_read_at: Option<DateTime<Utc>>,
    /// Messages from other senders with seq > `last_read_seq`.
    pub unread_count: u64,
    /// Delivery watermark: every message up to this seq reached one of the user's devices.
    /// Never moves back and is never below `last_read_seq` (reading implies delivery).
    #[serde(default)]
    pub last_delivered_seq: u64,
    /// When the delivery watermark last moved.
    #[serde(default)]
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// Hidden from the user's default inbox until a new message arrives.
    pub is_archived: bool,
    /// Muted by the user: messages still count as unread, but no notification is made for
    /// them (no outbox row). Kept until the user unmutes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
    /// Messages up to this seq are hidden from this user's history.
    pub cleared_through_seq: u64,
    /// The outbox row of this (user, conversation), invariant 14: set by a send the user
    /// has not read, gone once nothing is unread or the notification was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_notification: Option<crate::outbox::PendingNotification>,
}

/// A conversation with its participants, ordered by `joined_at` then user id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// The conversation.
    pub conversation: Conversation,
    /// Its participants.
    pub participants: Vec<Participant>,
}

impl ConversationRecord {
    /// The participant row of `user`, if a member.
    pub fn participant(&self, user: &UserId) -> Option<&Participant> {
        self.participants.iter().find(|participant| &participant.user == user)
    }

    /// The user ids of all participants.
    pub fn member_ids(&self) -> Vec<UserId> {
        self.participants
            .iter()
            .map(|participant| participant.user.clone())
            .collect()
    }

    /// Brings rows stored before the delivery watermark existed up to the invariant
    /// delivered >= read (invariant 11): stores call it on every record they decode.
    pub fn with_delivery_at_least_read(mut self) -> Self {
        for participant in &mut self.participants {
            if participant.last_delivered_seq < participant.last_read_seq {
                participant.last_delivered_seq = participant.last_read_seq;
                participant.last_delivered_at = participant.last_delivered_at.or(participant.last_read_at);
            }
        }
        self
    }

    /// Sorts participants into their canonical order (joined_at, then user id).
    pub fn sort_participants(&mut self) {
        self.participants
            .sort_by(|a, b| a.joined_at.cmp(&b.joined_at).then_with(|| a.user.cmp(&b.user)));
    }
}

/// A message as stored. A deleted message keeps its row and seq but not its body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// 1, 2, 3… per conversation, dense, assigned in the sending transaction.
    pub seq: u64,
    /// A user's message or a system message.
    #[serde(default)]
    pub kind: MessageKind,
    /// The authenticated sender; `None` for a system message.
    pub sender: Option<UserId>,
    /// The text; empty once deleted.
    pub body: String,
    /// The sender's retry key, unique per sender and conversation.
    pub client_message_id: Option<String>,
    /// The message this one quotes, if it is a reply.
    #[serde(default)]
    pub reply_to: Option<MessageRef>,
    /// Reactions by emoji, in byte order of the emoji; empty once deleted.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Its attachments, in the order the sender gave them; empty once deleted.
    #[serde(default)]
    pub attachments: Vec<AttachedFile>,
    /// Host-defined data.
    pub metadata: Metadata,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// When it was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A user's totals over all conversations they are in (archived ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Conversations the user is in.
    pub total_conversations: u64,
    /// Of those, how many have unread messages.
    pub unread_conversations: u64,
    /// Unread messages over all of them.
    pub unread_messages: u64,
}

/// One user's block of another, in their tenant (invariant 13): `blocked` can neither start
/// a direct conversation with `blocker` nor send into one they share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Who blocked.
    pub blocker: UserId,
    /// Who is blocked.
    pub blocked: UserId,
    /// When the block was made (a repeated block keeps the first time).
    pub created_at: DateTime<Utc>,
}

/// Why a message was reported: a short list a moderation queue can sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportReason {
    /// Unwanted advertising or repeated messages.
    Spam,
    /// Insults, threats, harassment.
    Abuse,
    /// Fraud, phishing, payment outside the platform.
    Scam,
    /// Sexual, violent or otherwise inappropriate content.
    Inappropriate,
    /// Anything else (say what in the note).
    Other,
}

impl ReportReason {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 5] = [Self::Spam, Self::Abuse, Self::Scam, Self::Inappropriate, Self::Other];

    /// The wire name (`spam`, `abuse`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Abuse => "abuse",
            Self::Scam => "scam",
            Self::Inappropriate => "inappropriate",
            Self::Other => "other",
        }
    }

    /// The reason with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// A user's report of a message of a conversation they are in: at most one per reporter
/// and message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Who reported.
    pub reporter: UserId,
    /// The conversation of the message.
    pub conversation_id: ConversationId,
    /// The reported message.
    pub message_id: MessageId,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's words, if any (validated: at most
    /// [`crate::Limits::report_note_max_chars`]).
    pub note: Option<String>,
    /// When it was made (a repeat keeps the first report).
    pub created_at: DateTime<Utc>,
}
