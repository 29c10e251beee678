//! Group membership rules. Every store applies them inside its own transaction, so they are
//! written once, here: a direct conversation keeps its pair, a group stays within its size,
//! any member adds people, the owner removes others, anyone leaves, and when the owner
//! leaves the longest-standing member (earliest `joined_at`, then user id) owns the group.

use chrono::{DateTime, Utc};

use crate::error::{ChatError, ChatResult};
use crate::ids::UserId;
use crate::model::{ConversationKind, Participant, Role};

const DIRECT_KEEPS_ITS_PAIR: ChatError = ChatError::Conflict {
    reason: "a direct conversation keeps its two participants",
};

/// A new participant row: nothing unread (everything up to `last_read_seq` counts as read),
/// not archived, nothing cleared.
pub fn new_participant(user: UserId, role: Role, at: DateTime<Utc>, last_read_seq: u64) -> Participant {
    Participant {
        user,
        role,
        joined_at: at,
        last_read_seq,
        last_read_at: None,
        unread_count: 0,
        is_archived: false,
        cleared_through_seq: 0,
    }
}

/// The users of `users` not yet among `participants`, in order and without repeats.
///
/// Errors: `Conflict` for a direct conversation; `Validation` on `participant_uuids` when
/// the group would grow past `max_participants`.
pub fn users_to_add(
    kind: ConversationKind,
    participants: &[Participant],
    users: &[UserId],
    max_participants: usize,
) -> ChatResult<Vec<UserId>> {
    if kind == ConversationKind::Direct {
        return Err(DIRECT_KEEPS_ITS_PAIR);
    }
    let mut added: Vec<UserId> = Vec::new();
    for user in users {
        if !participants.iter().any(|p| &p.user == user) && !added.contains(user) {
            added.push(user.clone());
        }
    }
    if participants.len() + added.len() > max_participants {
        return Err(ChatError::invalid(
            "participant_uuids",
            format!("a group has at most {max_participants} participants"),
        ));
    }
    Ok(added)
}

/// Removes `user` from `participants` on behalf of `actor` (a member): anyone may remove
/// themselves, only the owner may remove others. Returns the removed row and, when the owner
/// left, the member who now owns the group.
///
/// Errors: `Conflict` for a direct conversation; `NotFound` (participant) when `user` is not
/// a member; `PermissionDenied` when a non-owner removes someone else.
pub fn remove_participant(
    kind: ConversationKind,
    participants: &mut Vec<Participant>,
    actor: &UserId,
    user: &UserId,
) -> ChatResult<(Participant, Option<UserId>)> {
    if kind == ConversationKind::Direct {
        return Err(DIRECT_KEEPS_ITS_PAIR);
    }
    let actor_is_owner = participants.iter().any(|p| &p.user == actor && p.role == Role::Owner);
    let Some(index) = participants.iter().position(|p| &p.user == user) else {
        return Err(ChatError::NotFound { what: "participant" });
    };
    if actor != user && !actor_is_owner {
        return Err(ChatError::PermissionDenied {
            reason: "only the owner may remove other participants",
        });
    }
    let removed = participants.remove(index);
    let mut heir_id = None;
    if removed.role == Role::Owner {
        let heir = participants
            .iter_mut()
            .min_by(|a, b| a.joined_at.cmp(&b.joined_at).then_with(|| a.user.cmp(&b.user)));
        if let Some(heir) = heir {
            heir.role = Role::Owner;
            heir_id = Some(heir.user.clone());
        }
    }
    Ok((removed, heir_id))
}
