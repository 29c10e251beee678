//! What the services answer: records enriched with the host's public profiles, as one
//! user sees them.

use serde::Serialize;

use crate::directory::Profile;
use crate::ids::UserId;
use crate::model::{Conversation, ConversationKind, LastMessage, Message, Participant};

/// A participant with their public profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    /// The membership row.
    pub participant: Participant,
    /// The public profile ([`Profile::unknown`] when the directory no longer knows the user).
    pub profile: Profile,
}

/// A conversation as one user (the viewer) sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConversationView {
    /// The conversation.
    pub conversation: Conversation,
    /// Its participants with profiles, in joined order.
    pub participants: Vec<ParticipantView>,
    /// Whose view this is.
    pub viewer: UserId,
}

impl ConversationView {
    /// The viewer's own membership, if still a member.
    pub fn me(&self) -> Option<&Participant> {
        self.participants
            .iter()
            .map(|view| &view.participant)
            .find(|participant| participant.user == self.viewer)
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

/// A message with its sender's public profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// The message.
    pub message: Message,
    /// The sender's public profile.
    pub sender: Profile,
}

/// One page of a list and the cursor of the next, if there is more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}
