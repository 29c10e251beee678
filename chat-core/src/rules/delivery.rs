//! Delivery watermarks and the receipts derived from them (invariant 11).

use chrono::{DateTime, Utc};

use crate::error::ChatResult;
use crate::ids::UserId;
use crate::model::{ConversationRecord, Message, Participant};
use crate::store::ReadUpTo;

use super::own_row;

/// Raises a delivery watermark to `target` unless it is there already (never back).
pub(super) fn deliver_up_to(participant: &mut Participant, target: u64, now: DateTime<Utc>) -> bool {
    if target <= participant.last_delivered_seq {
        return false;
    }
    participant.last_delivered_seq = target;
    participant.last_delivered_at = Some(now);
    true
}

/// Moves `user`'s delivery watermark up to `up_to` (clamped to the newest message) at `now`;
/// `true` when it moved. It never moves back, and it is never below the read watermark,
/// which [`mark_read`](super::mark_read) raises it to (invariant 11).
///
/// Errors: `NotFound` (conversation) when `user` is not a participant.
pub fn mark_delivered(
    record: &mut ConversationRecord,
    user: &UserId,
    up_to: ReadUpTo,
    now: DateTime<Utc>,
) -> ChatResult<bool> {
    let last_seq = record.conversation.last_seq;
    let target = match up_to {
        ReadUpTo::Newest => last_seq,
        ReadUpTo::Seq(seq) => seq.min(last_seq),
    };
    let participant = own_row(record, user)?;
    Ok(deliver_up_to(participant, target, now))
}

/// [`mark_delivered`] for each `(user, seq)` of `up_to` that is a participant (a user who
/// left meanwhile is skipped), at `now`; the users whose watermark moved, in the order
/// given. One batch of receipts is one write of the record.
pub fn mark_delivered_many(
    record: &mut ConversationRecord,
    up_to: &[(UserId, u64)],
    now: DateTime<Utc>,
) -> Vec<UserId> {
    let mut moved: Vec<UserId> = Vec::new();
    for (user, seq) in up_to {
        if record.participant(user).is_some()
            && mark_delivered(record, user, ReadUpTo::Seq(*seq), now).unwrap_or(false)
            && !moved.contains(user)
        {
            moved.push(user.clone());
        }
    }
    moved
}

/// How far a message of `record` got among the participants other than its sender, from
/// their watermarks (no per-message rows): how many have received it and how many have
/// read it, of how many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipts {
    /// Other participants whose delivery watermark reached the message.
    pub delivered: u64,
    /// Other participants whose read watermark reached it.
    pub read: u64,
    /// Other participants.
    pub of: u64,
}

/// The [`Receipts`] of `message` in `record`: counted over every participant but its
/// sender (everyone for a system message).
pub fn receipts(record: &ConversationRecord, message: &Message) -> Receipts {
    let mut receipts = Receipts::default();
    for participant in &record.participants {
        if message.sender.as_ref() == Some(&participant.user) {
            continue;
        }
        receipts.of += 1;
        receipts.delivered += u64::from(participant.last_delivered_seq >= message.seq);
        receipts.read += u64::from(participant.last_read_seq >= message.seq);
    }
    receipts
}
