//! What the services answer: records enriched with the host's public profiles, as one
//! user sees them.

use serde::{Deserialize, Serialize};

use crate::directory::Profile;
use crate::ids::{MessageId, UserId};
use crate::model::{Conversation, ConversationKind, LastMessage, Message, Participant};
use crate::rules::Receipts;

/// A participant with their public profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantView {
    /// The membership row.
    pub participant: Participant,
    /// The public profile ([`Profile::unknown`] when the directory no longer knows the user).
    pub profile: Profile,
}

/// A conversation as one user (the viewer) sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation.
    pub conversation: Conversation,
    /// Its participants with profiles, in joined order.
    pub participants: Vec<ParticipantView>,
    /// Whose view this is.
    pub viewer: UserId,
}

impl ConversationView {
    /// The same conversation as `viewer` sees it: only the viewer changes, so the
    /// per-viewer answers ([`Self::unread_count`], [`Self::is_archived`],
    /// [`Self::counterpart`], [`Self::visible_last_message`]) come from the viewer's own row.
    pub fn for_viewer(&self, viewer: &UserId) -> Self {
        Self {
            viewer: viewer.clone(),
            ..self.clone()
        }
    }

    /// The viewer's own membership, if still a member.
    pub fn me(&self) -> Option<&Participant> {
        self.participant(&self.viewer)
    }

    /// The membership row of `user`, if a member.
    pub fn participant(&self, user: &UserId) -> Option<&Participant> {
        self.participants
            .iter()
            .map(|view| &view.participant)
            .find(|participant| &participant.user == user)
    }

    /// For a direct conversation, the other user.
    pub fn counterpart(&self) -> Option<&ParticipantView> {
        if self.conversation.kind != ConversationKind::Direct {
            return None;
        }
        self.participants
            .iter()
            .find(|view| view.participant.user != self.viewer)
    }

    /// The viewer's unread count.
    pub fn unread_count(&self) -> u64 {
        self.me().map_or(0, |me| me.unread_count)
    }

    /// Whether the viewer archived it.
    pub fn is_archived(&self) -> bool {
        self.me().is_some_and(|me| me.is_archived)
    }

    /// The preview the viewer may see: none when it lies in history the viewer cleared.
    pub fn visible_last_message(&self) -> Option<&LastMessage> {
        let cleared = self.me().map_or(0, |me| me.cleared_through_seq);
        self.conversation
            .last_message
            .as_ref()
            .filter(|last| last.seq > cleared)
    }
}

/// A message with its sender's public profile, the message it quotes and its receipts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// The message.
    pub message: Message,
    /// The sender's public profile; `None` for a system message.
    pub sender: Option<Profile>,
    /// The quoted message as it is now, if this is a reply.
    pub reply_to: Option<ReplyPreview>,
    /// How far it got among the other participants, from their watermarks when it was
    /// rendered. Clients show it on the sender's own messages only.
    pub receipts: Receipts,
    /// Direct or group: a direct conversation shows receipts as one status, a group as
    /// counts.
    pub conversation_kind: ConversationKind,
}

impl MessageView {
    /// True when `viewer` sent it (and so sees its delivery status).
    pub fn is_from(&self, viewer: &UserId) -> bool {
        self.message.sender.as_ref() == Some(viewer)
    }
}

/// The message a reply quotes, resolved when the reply is read: an edit of the original
/// shows, and a deleted original (or one the reader cleared) shows as deleted, without its
/// text or sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyPreview {
    /// The original's id.
    pub id: MessageId,
    /// Its seq.
    pub seq: u64,
    /// Its sender's public profile; `None` for a system message or a deleted original.
    pub sender: Option<Profile>,
    /// Its text, cut to [`crate::model::PREVIEW_MAX_CHARS`] characters; `None` when deleted.
    pub body: Option<String>,
    /// True when the original is deleted or the reader cleared it.
    pub is_deleted: bool,
}

/// One page of a list and the cursor of the next, if there is more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> std::ops::Deref for Page<T> {
    type Target = [T];

    /// The rows, so a page reads like the slice it holds.
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// The rows, by value.
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
