//! Reactions on a message (invariant 10).

use crate::error::{ChatError, ChatResult};
use crate::ids::UserId;
use crate::model::{Message, Reaction};

/// Adds (`present`) or removes `user`'s `emoji` on `message`; `true` when it changed
/// (invariant 10). Idempotent: holding an emoji twice, or dropping one not held, changes
/// nothing. Reactions touch neither the conversation's activity nor anyone's unread count,
/// so stores save only the message.
///
/// Errors: `Conflict` on a deleted message; `Validation` on `emoji` when a new emoji would
/// make more than `max_distinct` on the message.
pub fn set_reaction(
    message: &mut Message,
    user: &UserId,
    emoji: &str,
    present: bool,
    max_distinct: usize,
) -> ChatResult<bool> {
    if message.deleted_at.is_some() {
        return Err(ChatError::Conflict {
            reason: "a deleted message takes no reactions",
        });
    }
    let position = message.reactions.binary_search_by(|r| r.emoji.as_str().cmp(emoji));
    match (present, position) {
        (true, Ok(index)) => {
            let users = &mut message.reactions[index].users;
            match users.binary_search(user) {
                Ok(_) => Ok(false),
                Err(at) => {
                    users.insert(at, user.clone());
                    Ok(true)
                }
            }
        }
        (true, Err(at)) => {
            if message.reactions.len() >= max_distinct {
                return Err(ChatError::invalid(
                    "emoji",
                    format!("a message has at most {max_distinct} different reactions"),
                ));
            }
            message.reactions.insert(
                at,
                Reaction {
                    emoji: emoji.to_owned(),
                    users: vec![user.clone()],
                },
            );
            Ok(true)
        }
        (false, Ok(index)) => {
            let users = &mut message.reactions[index].users;
            let Ok(at) = users.binary_search(user) else {
                return Ok(false);
            };
            users.remove(at);
            if users.is_empty() {
                message.reactions.remove(index);
            }
            Ok(true)
        }
        (false, Err(_)) => Ok(false),
    }
}
