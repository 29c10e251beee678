//! Blocking (invariant 13): a user who blocked another gets nothing new from them in a
//! direct conversation, and the blocked user can neither create a group with the blocker
//! nor add the blocker to one (groups they already share stay as they are). The blocker
//! may still send, start conversations and add the blocked user to groups.
//!
//! Stores check a send in the transaction that appends it, after the membership check
//! (a non-member still gets `NotFound`) and before the retry key (so a retry of a send
//! stored before the block is refused too, like any new attempt), and an edit or a
//! reaction after the message is found and before its own rule; they serialize a block
//! with the pair's direct conversations: once a block is stored, nothing new of the
//! blocked user commits there. Deleting their own messages stays possible.

use crate::error::{ChatError, ChatResult};
use crate::ids::UserId;
use crate::model::{Block, ConversationKind, ConversationRecord};

/// The refusal of a blocked user's send. Neutral: it does not tell them they are blocked.
const SEND_REFUSED: ChatError = ChatError::PermissionDenied {
    reason: "you cannot send messages in this conversation",
};

/// The refusal of a blocked user's new direct conversation. Neutral, like [`SEND_REFUSED`].
const START_REFUSED: ChatError = ChatError::PermissionDenied {
    reason: "you cannot start a conversation with this user",
};

/// The refusal of a group that would bring the caller together with a user who blocked
/// them, created or added to. Neutral, like [`SEND_REFUSED`].
const GROUP_REFUSED: ChatError = ChatError::PermissionDenied {
    reason: "you cannot add these users to a group",
};

/// The users a group write brings together with `actor` whose block of `actor` stores must
/// look up: the members of a new group, or the users an addition actually added, other than
/// the actor.
pub fn joining_others<'a>(actor: &'a UserId, joining: &'a [UserId]) -> impl Iterator<Item = &'a UserId> + 'a {
    joining.iter().filter(move |user| *user != actor)
}

/// The refusal [`group_refused_by_block`] answers (for a store that checks it by hand).
pub fn blocked_group() -> ChatError {
    GROUP_REFUSED
}

/// `PermissionDenied` (a neutral reason) when one of the users a new group or an addition
/// brings together with the actor ([`joining_others`]) has blocked the actor (`blocked`);
/// stores check it in the transaction of the write, after the write's own rule (so a
/// non-member still gets `NotFound` and a direct conversation `Conflict`), and write
/// nothing when refused.
pub fn group_refused_by_block(blocked: bool) -> ChatResult<()> {
    if blocked { Err(blocked_group()) } else { Ok(()) }
}

/// Whose block would stop `sender` sending into `record`: the other participant of a
/// direct conversation; `None` in a group (blocks do not apply there).
pub fn block_that_stops<'a>(record: &'a ConversationRecord, sender: &UserId) -> Option<&'a UserId> {
    if record.conversation.kind != ConversationKind::Direct {
        return None;
    }
    record
        .participants
        .iter()
        .map(|participant| &participant.user)
        .find(|user| *user != sender)
}

/// The refusal [`send_refused_by_block`] answers (for a store whose check runs elsewhere,
/// such as Postgres's `append_message` function).
pub fn blocked_send() -> ChatError {
    SEND_REFUSED
}

/// `PermissionDenied` (a neutral reason) when the user [`block_that_stops`] names has
/// blocked the sender (`blocked`); stores call it after the membership check.
pub fn send_refused_by_block(blocked: bool) -> ChatResult<()> {
    if blocked { Err(blocked_send()) } else { Ok(()) }
}

/// The refusal [`start_refused_by_block`] answers (for a store that checks it by hand).
pub fn blocked_start() -> ChatError {
    START_REFUSED
}

/// `PermissionDenied` (a neutral reason) when the counterpart of a direct conversation that
/// does not exist yet has blocked the caller (`blocked`). An existing one is still found:
/// its history stays readable to both.
pub fn start_refused_by_block(blocked: bool) -> ChatResult<()> {
    if blocked { Err(blocked_start()) } else { Ok(()) }
}

/// The block of `blocked` by `blocker` after the blocker asks for `block` (true: blocked,
/// false: not), given the stored one, `current`, and whether that changed anything. A store
/// writes the answer when it changed: stores a new block, or removes the stored one when
/// the answer is `None`. A repeated block keeps its first time; unblocking a user who is
/// not blocked changes nothing.
pub fn set_block(
    current: Option<&Block>,
    blocker: &UserId,
    blocked: &UserId,
    block: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> (Option<Block>, bool) {
    match (current, block) {
        (Some(existing), true) => (Some(existing.clone()), false),
        (None, true) => (
            Some(Block {
                blocker: blocker.clone(),
                blocked: blocked.clone(),
                created_at: at,
            }),
            true,
        ),
        (current, false) => (None, current.is_some()),
    }
}
