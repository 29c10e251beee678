//! The outbox's records (invariant 14): the pending notification each participant row
//! carries, a claim of one and how it ended. What the host is told, and the hook that tells
//! it, are in [`crate::notification`].
//!
//! A send leaves one [`PendingNotification`] on every recipient's row that has none, in the
//! send's own transaction ([`crate::rules::append`]); reading everything, clearing, leaving
//! or being removed takes it away.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, NotificationId, TenantId, UserId};

/// The longest notification delay: 100 years of 365 days, "never" for any host.
/// Longer delays are this one, so every store can write the due time as a timestamp.
pub const MAX_NOTIFICATION_DELAY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `delay` capped at [`MAX_NOTIFICATION_DELAY`] (and at zero below): the delay every store
/// adds to a message's time for its recipients' due time.
pub fn bounded_delay(delay: chrono::TimeDelta) -> chrono::TimeDelta {
    let max = chrono::TimeDelta::from_std(MAX_NOTIFICATION_DELAY).unwrap_or(chrono::TimeDelta::MAX);
    delay.clamp(chrono::TimeDelta::zero(), max)
}

/// A participant's pending notification: the outbox row of one (recipient, conversation),
/// at most one per pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotification {
    /// The first message it tells of: the oldest one unread when it was created. Names
    /// the notification ([`NotificationId::of`]).
    pub first_unread_seq: u64,
    /// When it may be claimed: the send's time plus the delay, then the end of each
    /// claim's lease or the retry time after a failure.
    pub due_at: DateTime<Utc>,
    /// Claims so far (0 until first claimed): the worker's backoff grows with it.
    pub attempts: u32,
}

/// A pending notification a worker claimed ([`crate::store::OutboxStore::claim_notifications`]): it is
/// leased to that worker until `pending.due_at`, after which any worker may claim it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueNotification {
    /// The tenant.
    pub tenant: TenantId,
    /// The recipient.
    pub user: UserId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The row as the claim left it (`due_at` is the lease's end, `attempts` counts this
    /// claim).
    pub pending: PendingNotification,
}

impl DueNotification {
    /// The stable id the notifier deduplicates on.
    pub fn id(&self) -> NotificationId {
        NotificationId::of(self.conversation, &self.user, self.pending.first_unread_seq)
    }
}

/// How a claimed notification ended, for [`crate::store::OutboxStore::settle_notifications`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// Told (or nothing left to tell) of every message up to `through_seq`. The row goes,
    /// unless newer messages the recipient has not read arrived meanwhile: then it becomes
    /// a new notification from `through_seq + 1`, due at `rearm_at`.
    Delivered {
        /// The conversation's newest seq when the notification was rendered.
        through_seq: u64,
        /// When a re-armed row falls due.
        rearm_at: DateTime<Utc>,
    },
    /// The notifier failed: due again at `retry_at`.
    Retry {
        /// When to try again.
        retry_at: DateTime<Utc>,
    },
}

/// One claimed notification and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledNotification {
    /// The claim.
    pub due: DueNotification,
    /// How it ended.
    pub outcome: NotificationOutcome,
}
