//! Offline notifications (invariant 14): the outbox each participant row carries, what the
//! worker claims from it and tells the host's [`Notifier`].
//!
//! A send leaves one [`PendingNotification`] on every recipient's row that has none, in the
//! send's own transaction ([`crate::rules::append`]); reading everything, clearing, leaving
//! or being removed takes it away. A [`crate::service::NotificationWorker`] claims the due
//! ones ([`crate::Store::claim_notifications`]), renders each into a [`Notification`],
//! calls the notifier and settles them ([`crate::Store::settle_notifications`]): the row
//! goes only after the notifier succeeded.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, NotificationId, TenantId, UserId};
use crate::view::{ConversationView, MessageView};

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

/// A pending notification a worker claimed ([`crate::Store::claim_notifications`]): it is
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

/// How a claimed notification ended, for [`crate::Store::settle_notifications`].
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

/// What the host's [`Notifier`] is told: everything an e-mail or a push needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Stable across retries, restarts and nodes: deduplicate on it.
    pub id: NotificationId,
    /// The tenant.
    pub tenant: TenantId,
    /// Who to tell.
    pub recipient: UserId,
    /// The conversation as the recipient sees it (the counterpart's name and photo, the
    /// tag, the unread count).
    pub conversation: ConversationView,
    /// The unread messages, oldest first, at most the worker's cap (the newest ones when
    /// there are more).
    pub messages: Vec<MessageView>,
    /// Unread messages in all (may exceed `messages.len()`).
    pub unread_count: u64,
    /// 1 on the first attempt; more after failures or an expired lease.
    pub attempt: u32,
}

/// Why a [`Notifier`] call failed; the worker retries with backoff.
#[derive(Debug, thiserror::Error)]
#[error("notifier failed: {source}")]
#[non_exhaustive]
pub struct NotifyError {
    /// The notifications that failed; empty means the whole batch.
    pub failed: Vec<NotificationId>,
    /// The cause.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl NotifyError {
    /// The whole batch failed.
    pub fn all(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            failed: Vec::new(),
            source: source.into(),
        }
    }

    /// Only `failed` failed; the rest of the batch was delivered.
    pub fn some(
        failed: impl IntoIterator<Item = NotificationId>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            failed: failed.into_iter().collect(),
            source: source.into(),
        }
    }

    /// True when `id` is among the failed (or the whole batch failed).
    pub fn covers(&self, id: NotificationId) -> bool {
        self.failed.is_empty() || self.failed.contains(&id)
    }
}

/// The host's e-mail, push or webhook sender.
///
/// Called at least once per pending notification that falls due unread (invariant 14):
/// after a failure, an expired lease (a node died mid-call) or a crash the same
/// notification comes again with the same [`Notification::id`], so implementations
/// deduplicate on it. Never called inside a store transaction.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers `batch`. `Ok` means every one was delivered; a [`NotifyError`] names the
    /// ones to retry.
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError>;
}
