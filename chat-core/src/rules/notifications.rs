//! The outbox (invariant 14): when a participant's pending notification is created, when it
//! goes, how a worker claims one and how a claim settles.
//!
//! The pending notification lives on the participant row
//! ([`Participant::pending_notification`]), so every store writes it in the transaction of
//! the operation that changed it, with no table or tree of its own to keep in step; stores
//! only index it by `due_at` for [`crate::store::OutboxStore::claim_notifications`].

use chrono::{DateTime, Utc};

use crate::model::{ConversationRecord, Participant};
use crate::outbox::{NotificationOutcome, PendingNotification, SettledNotification};

/// A message `seq` reached `participant` (not its author): a pending notification from it,
/// due at `due_at`, unless one is pending already (a burst is one notification).
pub(super) fn pend(participant: &mut Participant, seq: u64, due_at: DateTime<Utc>) {
    if participant.pending_notification.is_none() {
        participant.pending_notification = Some(PendingNotification {
            first_unread_seq: seq,
            due_at,
            attempts: 0,
        });
    }
}

/// Nothing unread is left for `participant` (read, cleared, or the unread messages were
/// deleted): its pending notification goes.
pub(super) fn cancel_when_all_read(participant: &mut Participant) {
    if participant.unread_count == 0 {
        participant.pending_notification = None;
    }
}

/// Claims `participant`'s pending notification if it is due at `now`: leased until
/// `lease_until` (when any worker may claim it again) with one more attempt. Returns the
/// row as the claim left it; `None` when nothing is due.
pub fn claim_notification(
    participant: &mut Participant,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Option<PendingNotification> {
    let pending = participant.pending_notification.as_mut()?;
    if pending.due_at > now {
        return None;
    }
    pending.due_at = lease_until;
    pending.attempts = pending.attempts.saturating_add(1);
    Some(*pending)
}

/// Settles a claim on `record`; `true` when the record changed.
///
/// Nothing changes unless the recipient still participates and its pending notification is
/// exactly as the claim left it: a read, a clear or a leave since the claim already took it
/// away, a row created after that is another notification, and a claim whose lease ended
/// and that another worker claimed again (one more attempt, another lease) is that
/// worker's to settle.
/// - [`NotificationOutcome::Retry`]: due again at `retry_at`.
/// - [`NotificationOutcome::Delivered`]: the row goes, unless messages newer than
///   `through_seq` arrived that the recipient has not read: then it is a new notification
///   from the first of those, due at `rearm_at`, so nothing sent during the call is missed.
pub fn settle_notification(record: &mut ConversationRecord, settled: &SettledNotification) -> bool {
    let last_seq = record.conversation.last_seq;
    let Some(participant) = record
        .participants
        .iter_mut()
        .find(|participant| participant.user == settled.due.user)
    else {
        return false;
    };
    let Some(pending) = participant.pending_notification.as_mut() else {
        return false;
    };
    if *pending != settled.due.pending {
        return false;
    }
    match settled.outcome {
        NotificationOutcome::Retry { retry_at } => {
            pending.due_at = retry_at;
        }
        NotificationOutcome::Delivered { through_seq, rearm_at } => {
            let unread_after = participant.last_read_seq.max(through_seq);
            // `then`, not `then_some`: the seq after `u64::MAX` (a skipped claim settles
            // through it) is never computed.
            participant.pending_notification =
                (last_seq > unread_after && participant.unread_count > 0).then(|| PendingNotification {
                    first_unread_seq: unread_after.saturating_add(1),
                    due_at: rearm_at,
                    attempts: 0,
                });
        }
    }
    true
}
