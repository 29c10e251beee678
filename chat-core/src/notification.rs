//! Offline notifications (invariant 14): what the worker tells the host's [`Notifier`] of
//! the outbox's due rows (the records themselves are [`crate::outbox`]'s, re-exported here).
//!
//! A send leaves one [`PendingNotification`] on every recipient's row that has none, in the
//! send's own transaction ([`crate::rules::append`]); reading everything, clearing, leaving
//! or being removed takes it away. A [`crate::service::NotificationWorker`] claims the due
//! ones ([`crate::store::OutboxStore::claim_notifications`]), renders each into a [`Notification`],
//! calls the notifier and settles them ([`crate::store::OutboxStore::settle_notifications`]): the row
//! goes only after the notifier succeeded.

use async_trait::async_trait;
use serde::Serialize;

use crate::ids::{NotificationId, TenantId, UserId};
use crate::view::{ConversationView, MessageView};

pub use crate::outbox::{
    DueNotification, MAX_NOTIFICATION_DELAY, NotificationOutcome, PendingNotification, SettledNotification,
    bounded_delay,
};

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
