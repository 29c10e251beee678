//! The notification worker: drains the outbox into the host's [`Notifier`] (invariant 14).
//!
//! Each round claims a batch of due notifications (leased, so a worker that dies mid-call
//! has its rows claimed again once the lease ends), renders each one (one store read and
//! one directory batch), calls the notifier once for the batch, then settles every claim:
//! delivered ones go (or re-arm when messages arrived during the call), failed ones are due
//! again after a backoff that doubles with each attempt. Rows go only after success, so a
//! notification is handed over at least once, with a stable id to deduplicate on.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;

use super::{ChatServices, Originals};
use crate::error::{ChatError, ChatResult};
use crate::ids::Identity;
use crate::notification::{DueNotification, Notification, NotificationOutcome, Notifier, SettledNotification};
use crate::store::HistoryQuery;

/// Claims per round, by default.
pub const NOTIFICATION_BATCH: usize = 32;

/// Notifications of a batch rendered at once.
const RENDERS_AT_ONCE: usize = 8;

/// How many rounds a worker ran and how they ended ([`NotificationWorker::run_once`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Claimed this round.
    pub claimed: usize,
    /// Handed to the notifier and acknowledged.
    pub delivered: usize,
    /// Claimed but with nothing left to tell (read meanwhile, or the recipient left).
    pub skipped: usize,
    /// Failed (the notifier, a timeout or the rendering): due again after the backoff.
    pub failed: usize,
}

/// Drains the outbox into a [`Notifier`]. Build it with [`NotificationWorker::new`] and the
/// `with_*` settings, then [`spawn`](Self::spawn) it (or call [`run_until`](Self::run_until)
/// or [`run_once`](Self::run_once) yourself). Any number of workers, on one node or many,
/// may share a store: each claim is leased to one of them.
pub struct NotificationWorker {
    services: ChatServices,
    notifier: Arc<dyn Notifier>,
    batch: usize,
    lease: Duration,
    poll_interval: Duration,
    notify_timeout: Duration,
    backoff: (Duration, Duration),
    message_cap: usize,
    tenant: Option<crate::ids::TenantId>,
}

impl std::fmt::Debug for NotificationWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationWorker")
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now.checked_add_signed(delta(duration))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl NotificationWorker {
    /// A worker over `services`' store and directory calling `notifier`, with the
    /// defaults: batches of 32, a 60 s lease, a poll every second when idle, a 30 s
    /// timeout per notifier call, a backoff from 5 s doubling up to 10 min, and the 5
    /// newest unread messages in each notification.
    pub fn new(services: ChatServices, notifier: Arc<dyn Notifier>) -> Self {
        Self {
            services,
            notifier,
            batch: NOTIFICATION_BATCH,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            notify_timeout: Duration::from_secs(30),
            backoff: (Duration::from_secs(5), Duration::from_secs(600)),
            message_cap: 5,
            tenant: None,
        }
    }

    /// Claims per round (at least 1).
    pub fn with_batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How long a claim is this worker's before any worker may claim it again. Keep it
    /// well above the notifier timeout, or a slow call is repeated by another node.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The pause between rounds when nothing was due.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest a notifier call may take; past it the batch counts as failed.
    pub fn with_notify_timeout(mut self, timeout: Duration) -> Self {
        self.notify_timeout = timeout;
        self
    }

    /// The retry delay after a first failure (`first`), doubled with each later attempt up
    /// to `max`.
    pub fn with_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max.max(first));
        self
    }

    /// The newest unread messages a notification carries (at least 1).
    pub fn with_message_cap(mut self, cap: usize) -> Self {
        self.message_cap = cap.max(1);
        self
    }

    /// Drains only `tenant`'s notifications (by default every tenant's).
    pub fn for_tenant(mut self, tenant: crate::ids::TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// The retry delay after `attempts` claims.
    fn backoff_after(&self, attempts: u32) -> Duration {
        let (first, max) = self.backoff;
        let doublings = attempts.saturating_sub(1).min(20);
        first.saturating_mul(1 << doublings).min(max)
    }

    /// One round: claims up to a batch of due notifications, renders them, calls the
    /// notifier once and settles every claim. Errors only when the store fails to claim or
    /// settle (the claims then come back after their lease).
    pub async fn run_once(&self) -> ChatResult<DrainReport> {
        let store = self.services.store();
        let now = crate::model::now();
        let claimed = store
            .claim_notifications(self.tenant.as_ref(), now, after(now, self.lease), self.batch)
            .await?;
        let mut report = DrainReport {
            claimed: claimed.len(),
            ..DrainReport::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let mut settled = Vec::with_capacity(claimed.len());
        let mut batch = Vec::with_capacity(claimed.len());
        // Rendered a few at a time: each is a store read and a directory call, and a large
        // batch must not take the whole connection pool from the requests.
        let mut rendered = Vec::with_capacity(claimed.len());
        for chunk in claimed.chunks(RENDERS_AT_ONCE) {
            rendered.extend(futures_util::future::join_all(chunk.iter().map(|due| self.render(due))).await);
        }
        for (due, rendered) in claimed.into_iter().zip(rendered) {
            match rendered {
                Ok(Some((notification, through_seq))) => batch.push((due, notification, through_seq)),
                Ok(None) => {
                    report.skipped += 1;
                    let through_seq = u64::MAX;
                    settled.push(self.delivered(due, through_seq));
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(
                        conversation_id = %due.conversation, notification_id = %due.id(), %error,
                        "rendering a notification failed; retrying later"
                    );
                    settled.push(self.retry(due));
                }
            }
        }
        if !batch.is_empty() {
            let notifications: Vec<Notification> =
                batch.iter().map(|(_, notification, _)| notification.clone()).collect();
            let outcome = tokio::time::timeout(self.notify_timeout, self.notifier.notify(&notifications)).await;
            for (due, notification, through_seq) in batch {
                let failed = match &outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => error.covers(notification.id).then(|| error.to_string()),
                    Err(_) => Some("the notifier timed out".to_owned()),
                };
                if let Some(error) = failed {
                    report.failed += 1;
                    tracing::warn!(
                        conversation_id = %due.conversation, notification_id = %notification.id,
                        attempt = due.pending.attempts, %error, "a notification failed; retrying later"
                    );
                    settled.push(self.retry(due));
                } else {
                    report.delivered += 1;
                    settled.push(self.delivered(due, through_seq));
                }
            }
        }
        store.settle_notifications(&settled).await?;
        Ok(report)
    }

    fn delivered(&self, due: DueNotification, through_seq: u64) -> SettledNotification {
        let delay = self.services.notify_after.unwrap_or(TimeDelta::zero());
        let rearm_at = crate::model::now()
            .checked_add_signed(delay)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        SettledNotification {
            due,
            outcome: NotificationOutcome::Delivered { through_seq, rearm_at },
        }
    }

    fn retry(&self, due: DueNotification) -> SettledNotification {
        let retry_at = after(crate::model::now(), self.backoff_after(due.pending.attempts));
        SettledNotification {
            due,
            outcome: NotificationOutcome::Retry { retry_at },
        }
    }

    /// The notification for `due` and the newest seq it covers; `None` when nothing is
    /// left to tell (the recipient read everything or left).
    async fn render(&self, due: &DueNotification) -> ChatResult<Option<(Notification, u64)>> {
        let ctx = &self.services;
        let recipient = Identity::new(due.tenant.clone(), due.user.clone());
        let query = HistoryQuery {
            before: None,
            after: None,
            limit: self.message_cap,
        };
        let page = match ctx.store.history_page(&recipient, due.conversation, query).await {
            Ok(page) => page,
            Err(ChatError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let record = page.record;
        let Some(me) = record.participant(&due.user) else {
            return Ok(None);
        };
        if me.unread_count == 0 {
            return Ok(None);
        }
        let (read, unread_count) = (me.last_read_seq, me.unread_count);
        let through_seq = record.conversation.last_seq;
        let messages: Vec<_> = page
            .messages
            .into_iter()
            .filter(|message| {
                message.seq > read && message.deleted_at.is_none() && message.sender.as_ref() != Some(&due.user)
            })
            .collect();
        let mut originals = Originals::of(page.quoted);
        originals.add_page(&messages);
        let profiles = ctx
            .profiles(&recipient, ChatServices::involved(&record, &messages, &originals))
            .await?;
        let messages = messages
            .into_iter()
            .map(|message| profiles.message(message, &record, &originals, &due.user))
            .collect();
        let notification = Notification {
            id: due.id(),
            tenant: due.tenant.clone(),
            recipient: due.user.clone(),
            conversation: profiles.conversation(record, &due.user),
            messages,
            unread_count,
            attempt: due.pending.attempts,
        };
        Ok(Some((notification, through_seq)))
    }

    /// Runs rounds until `shutdown` completes: back to back while batches come full, one
    /// poll interval apart otherwise. A round in progress when `shutdown` fires is
    /// finished (its notifier call bounded by the timeout) and settled, so the worker holds
    /// no claim when this returns. A store error is logged and the round retried after the
    /// poll interval.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let full = match self.run_once().await {
                Ok(report) => report.claimed == self.batch,
                Err(error) => {
                    tracing::warn!(%error, "the notification worker could not claim or settle; retrying");
                    false
                }
            };
            if full {
                if shutdown.as_mut().now_or_never().is_some() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.as_mut() => return,
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// Spawns [`run_until`](Self::run_until) on the tokio runtime; the handle's
    /// [`shutdown`](NotificationWorkerHandle::shutdown) stops it. Dropping the handle
    /// detaches the worker: it runs as long as the runtime does.
    pub fn spawn(self) -> NotificationWorkerHandle {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run_until(async move {
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        NotificationWorkerHandle { stop, task }
    }
}

/// A spawned [`NotificationWorker`].
#[derive(Debug)]
#[must_use = "dropping the handle detaches the worker; keep it to shut the worker down gracefully"]
pub struct NotificationWorkerHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl NotificationWorkerHandle {
    /// Stops the worker: the round in progress finishes and settles, then it returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the notification worker ended abnormally");
        }
    }
}
