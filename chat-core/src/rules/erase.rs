//! Erasing a user (invariant 15), one message at a time: their own messages are deleted as
//! [`super::delete`] deletes them, and their reactions leave everyone else's messages.
//! Stores apply it to bounded batches of a conversation's messages, each batch one
//! transaction, so erasing a user with many messages never holds one giant transaction.

use chrono::{DateTime, Utc};

use crate::error::ChatResult;
use crate::ids::UserId;
use crate::model::{ConversationRecord, Message};

use super::{Deletion, delete};

/// What [`erase_message`] did to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erasure {
    /// Nothing of the user's was on it.
    Unchanged,
    /// It was the user's and is deleted now ([`super::delete`]'s answer: the store handles
    /// its attachments and, for [`Deletion::DeletedPreview`], the preview, as for a delete).
    Deleted(Deletion),
    /// Someone else's message: the user's reactions left it (the store saves only the
    /// message; reactions move no counter).
    Unreacted,
}

impl Erasure {
    /// True when the message changed.
    pub fn changed(self) -> bool {
        self != Self::Unchanged
    }
}

/// Erases `user`'s part of `message` of `record` at `now`: deletes it when it is theirs
/// and not deleted yet; otherwise drops their reactions from it. Erasing twice changes
/// nothing.
pub fn erase_message(
    record: &mut ConversationRecord,
    message: &mut Message,
    user: &UserId,
    now: DateTime<Utc>,
) -> ChatResult<Erasure> {
    if message.sender.as_ref() == Some(user) {
        let deletion = delete(record, message, user, now)?;
        return Ok(if deletion.changed() {
            Erasure::Deleted(deletion)
        } else {
            Erasure::Unchanged
        });
    }
    let before = message.reactions.len();
    let mut held = false;
    message.reactions.retain_mut(|reaction| {
        let count = reaction.users.len();
        reaction.users.retain(|holder| holder != user);
        held |= reaction.users.len() != count;
        !reaction.users.is_empty()
    });
    Ok(if held || message.reactions.len() != before {
        Erasure::Unreacted
    } else {
        Erasure::Unchanged
    })
}
