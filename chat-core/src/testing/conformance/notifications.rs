//! Offline notifications (invariant 14): a burst is one pending notification per
//! recipient, reading everything (or clearing, leaving, being removed) before it falls due
//! cancels it, claims are leased, and the worker hands every due one to the notifier, also
//! through a notifier that fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{ConversationId, NotificationId, UserId};
use crate::notification::{
    DueNotification, Notification, NotificationOutcome, Notifier, NotifyError, SettledNotification,
};
use crate::service::NotificationWorker;
use crate::store::Store;
use crate::testing::fixtures::{Fixture, user_name};

pub(super) const DELAY: Duration = Duration::from_secs(300);

pub(super) fn notifying(store: Arc<dyn Store>, users: usize, delay: Duration) -> Fixture {
    let mut fx = Fixture::new(store, users);
    fx.services = fx.services.clone().with_notifications(delay);
    fx
}

/// Every pending notification of the fixture's tenant due at `at`, claimed with a minute's
/// lease.
pub(super) async fn claim_at(fx: &Fixture, at: DateTime<Utc>) -> Vec<DueNotification> {
    fx.services
        .store()
        .claim_notifications(Some(&fx.tenant), at, at + TimeDelta::minutes(1), 1000)
        .await
        .expect("claim notifications")
}

pub(super) fn later() -> DateTime<Utc> {
    Utc::now() + TimeDelta::hours(1)
}

/// Ten messages to one recipient are one pending notification from the first, due after
/// the delay (not before), none for the sender; reading everything before it is due
/// cancels it; a message after that read is a second notification with another id.
pub async fn a_burst_is_one_notification_and_reading_first_cancels_it(store: Arc<dyn Store>) {
    let fx = notifying(store, 3, DELAY);
    let conversation = fx.direct(0, 1).await;
    for index in 0..10 {
        fx.send(0, conversation, &format!("message {index}")).await;
    }
    assert!(
        claim_at(&fx, Utc::now()).await.is_empty(),
        "nothing is due before the delay"
    );
    let due = claim_at(&fx, later()).await;
    assert_eq!(due.len(), 1, "a burst is one notification: {due:?}");
    assert_eq!((&due[0].user, due[0].conversation), (&fx.user(1).user, conversation));
    assert_eq!(due[0].pending.first_unread_seq, 1);
    assert_eq!(due[0].id(), NotificationId::of(conversation, &fx.user(1).user, 1));

    let read_first = fx.direct(0, 2).await;
    fx.send(0, read_first, "are you there?").await;
    fx.conversations()
        .mark_read(fx.user(2), read_first, None)
        .await
        .expect("read");
    assert!(
        claim_at(&fx, later()).await.is_empty(),
        "reading before it is due cancels it"
    );
    fx.send(0, read_first, "one more").await;
    let again = claim_at(&fx, later()).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        again[0].pending.first_unread_seq, 2,
        "the second notification starts after the read"
    );
    assert_ne!(again[0].id(), NotificationId::of(read_first, &fx.user(2).user, 1));
}

/// In a group, leaving, being removed and clearing history each cancel that member's
/// pending notification; a reply cancels the replier's own; the member who does nothing
/// keeps theirs.
pub async fn leaving_removal_clearing_and_replying_cancel_pending_notifications(store: Arc<dyn Store>) {
    let fx = notifying(store, 6, DELAY);
    let group = fx.group(0, &[1, 2, 3, 4, 5]).await;
    fx.send(0, group, "who is coming on Friday?").await;
    fx.send(4, group, "me!").await;
    let conversations = fx.conversations();
    conversations.leave(fx.user(1), group).await.expect("leave");
    conversations
        .remove_participant(fx.user(0), group, &fx.user(2).user)
        .await
        .expect("remove");
    conversations.clear_history(fx.user(3), group).await.expect("clear");
    let due = claim_at(&fx, later()).await;
    let users: BTreeSet<&UserId> = due.iter().map(|due| &due.user).collect();
    assert_eq!(
        users,
        BTreeSet::from([&fx.user(0).user, &fx.user(5).user]),
        "only the member who did nothing and the first sender (told of the reply) remain"
    );
    let of_owner = due.iter().find(|due| due.user == fx.user(0).user).expect("owner's");
    assert_eq!(of_owner.pending.first_unread_seq, 2, "the owner is told of the reply");
}

/// A system message (the host's "order shipped") pends a notification for every member,
/// none of whom sent it; a sender deleting the only message a recipient had not read takes
/// the recipient's notification away, while one with older unread messages keeps it.
pub async fn system_messages_notify_everyone_and_deleting_the_unread_cancels(store: Arc<dyn Store>) {
    let fx = notifying(store, 3, DELAY);
    let order = fx.direct(0, 1).await;
    fx.messages()
        .send_system(
            &fx.tenant,
            order,
            crate::service::SystemMessage::text("Order #1001 was shipped."),
        )
        .await
        .expect("system message");
    let due = claim_at(&fx, later()).await;
    let users: BTreeSet<&UserId> = due.iter().map(|due| &due.user).collect();
    assert_eq!(
        users,
        BTreeSet::from([&fx.user(0).user, &fx.user(1).user]),
        "both members"
    );

    let chat = fx.direct(0, 2).await;
    let oops = fx.send(0, chat, "sent to the wrong person").await;
    fx.messages().delete(fx.user(0), chat, oops.id).await.expect("delete");
    let kept = fx.direct(1, 2).await;
    fx.send(1, kept, "first").await;
    let second = fx.send(1, kept, "second").await;
    fx.messages().delete(fx.user(1), kept, second.id).await.expect("delete");
    let due = claim_at(&fx, later()).await;
    let pairs: BTreeSet<(ConversationId, &UserId)> = due.iter().map(|due| (due.conversation, &due.user)).collect();
    assert_eq!(
        pairs,
        BTreeSet::from([(kept, &fx.user(2).user)]),
        "nothing is left to tell of a deleted message; \"first\" is still unread"
    );
}

/// A claim is leased: not claimed again before the lease ends, claimed again (one more
/// attempt) after it. A retry is due at its time; a delivery removes the row, unless a
/// message arrived during the call: then it comes back from that message.
pub async fn claims_are_leased_and_settle_by_the_rules(store: Arc<dyn Store>) {
    let fx = notifying(store.clone(), 2, DELAY);
    let conversation = fx.direct(0, 1).await;
    fx.send(0, conversation, "is the bike still for sale?").await;
    let at = later();
    let lease_end = at + TimeDelta::minutes(1);
    let first = claim_at(&fx, at).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].pending.attempts, 1);
    let lease_error = (first[0].pending.due_at - lease_end).abs();
    assert!(
        lease_error < TimeDelta::milliseconds(1),
        "leased until its end: {lease_error}"
    );
    assert!(claim_at(&fx, at).await.is_empty(), "leased");
    let second = claim_at(&fx, lease_end).await;
    assert_eq!(second.len(), 1, "claimed again once the lease ended");
    assert_eq!(second[0].pending.attempts, 2);

    let retry_at = lease_end + TimeDelta::minutes(5);
    let settle = |due: &DueNotification, outcome| SettledNotification {
        due: due.clone(),
        outcome,
    };
    // The first worker comes back after its lease ended and the row was claimed again:
    // its settlement is stale and changes nothing, the second claim stands.
    let stale = NotificationOutcome::Delivered {
        through_seq: 1,
        rearm_at: retry_at,
    };
    store
        .settle_notifications(&[settle(&first[0], stale)])
        .await
        .expect("settle");
    let record = store
        .get_conversation(fx.user(1), conversation)
        .await
        .expect("the recipient's conversation");
    let pending = record
        .participant(&fx.user(1).user)
        .and_then(|me| me.pending_notification);
    assert_eq!(pending, Some(second[0].pending), "a stale claim settles nothing");
    store
        .settle_notifications(&[settle(&second[0], NotificationOutcome::Retry { retry_at })])
        .await
        .expect("settle");
    assert!(claim_at(&fx, retry_at - TimeDelta::seconds(1)).await.is_empty());
    let third = claim_at(&fx, retry_at).await;
    assert_eq!(third.len(), 1, "due again at the retry time");

    fx.send(0, conversation, "I can pick it up today").await;
    let delivered = NotificationOutcome::Delivered {
        through_seq: 1,
        rearm_at: retry_at,
    };
    store
        .settle_notifications(&[settle(&third[0], delivered)])
        .await
        .expect("settle");
    let rearmed = claim_at(&fx, later() + TimeDelta::hours(1)).await;
    assert_eq!(rearmed.len(), 1, "a message sent during the call is not missed");
    assert_eq!(rearmed[0].pending.first_unread_seq, 2);
    let done = NotificationOutcome::Delivered {
        through_seq: 2,
        rearm_at: retry_at,
    };
    store
        .settle_notifications(&[settle(&rearmed[0], done), settle(&third[0], done)])
        .await
        .expect("settle");
    assert!(
        claim_at(&fx, later() + TimeDelta::days(1)).await.is_empty(),
        "delivered"
    );
}

/// A notifier that fails every third call, recording what it was told.
#[derive(Default)]
struct FlakyNotifier {
    calls: AtomicUsize,
    failed_calls: AtomicUsize,
    delivered: Mutex<BTreeMap<NotificationId, usize>>,
    seen: Mutex<Vec<Notification>>,
}

#[async_trait]
impl Notifier for FlakyNotifier {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call % 3 == 1 {
            self.failed_calls.fetch_add(1, Ordering::SeqCst);
            return Err(NotifyError::all("the mail server said no"));
        }
        let mut delivered = self.delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for notification in batch {
            *delivered.entry(notification.id).or_default() += 1;
        }
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(batch.iter().cloned());
        Ok(())
    }
}

/// Twelve recipients with unread messages and a notifier failing a third of its calls:
/// the worker ends with every notification delivered exactly once (a failed call delivers
/// nothing, so its retry is the only delivery), each rendered for its recipient with the
/// sender's name and the newest unread messages up to the cap, and the outbox empty.
pub async fn the_worker_delivers_every_notification_through_a_failing_notifier(store: Arc<dyn Store>) {
    let fx = notifying(store, 13, Duration::ZERO);
    let mut expected: BTreeMap<NotificationId, (UserId, ConversationId)> = BTreeMap::new();
    for recipient in 1..13 {
        let conversation = fx.direct(0, recipient).await;
        for index in 0..4 {
            fx.send(0, conversation, &format!("offer {index}")).await;
        }
        let user = fx.user(recipient).user.clone();
        expected.insert(NotificationId::of(conversation, &user, 1), (user, conversation));
    }
    let notifier = Arc::new(FlakyNotifier::default());
    let worker = NotificationWorker::new(fx.services.clone(), notifier.clone())
        .for_tenant(fx.tenant.clone())
        .with_batch_size(5)
        .with_message_cap(3)
        .with_retry_backoff(Duration::ZERO, Duration::ZERO);
    for _ in 0..50 {
        let report = worker.run_once().await.expect("a round");
        if report.claimed == 0 {
            break;
        }
    }
    let delivered = notifier
        .delivered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(
        notifier.failed_calls.load(Ordering::SeqCst) > 0,
        "the notifier did fail"
    );
    assert_eq!(
        delivered.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "every notification delivered"
    );
    assert!(delivered.values().all(|&times| times == 1), "{delivered:?}");
    for notification in notifier
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        let (user, conversation) = &expected[&notification.id];
        assert_eq!(
            (&notification.recipient, notification.conversation.conversation.id),
            (user, *conversation)
        );
        assert_eq!(notification.unread_count, 4);
        let bodies: Vec<&str> = notification.messages.iter().map(|m| m.message.body.as_str()).collect();
        assert_eq!(
            bodies,
            ["offer 1", "offer 2", "offer 3"],
            "the newest unread, up to the cap"
        );
        let sender = notification.messages[0].sender.as_ref().expect("a sender");
        assert_eq!(sender.name, user_name(0), "rendered with the sender's profile");
    }
    assert!(claim_at(&fx, later()).await.is_empty(), "the outbox is empty");
}

/// How long a worker's first notifier call waits for the other worker's.
const RENDEZVOUS: Duration = Duration::from_secs(30);

/// Where the two workers of [`two_workers_share_the_outbox`] are.
#[derive(Clone, Copy, Debug, Default)]
struct Phases {
    /// Workers inside their first notifier call, holding their first claimed batch.
    inside: usize,
    /// Workers that finished draining.
    finished: usize,
    /// Whether both were ever inside at once: they held claims of the outbox together.
    met: bool,
}

/// What the two workers of [`two_workers_share_the_outbox`] share: the ids they were
/// handed (by worker), and the rendezvous of their first calls.
struct Overlap {
    calls: Mutex<Vec<(usize, NotificationId)>>,
    phases: tokio::sync::watch::Sender<Phases>,
}

/// Worker `worker`'s notifier: records the ids; its first call waits (at most
/// [`RENDEZVOUS`]) until the other worker is inside its own first call at the same time,
/// or has finished.
struct OverlapNotifier {
    worker: usize,
    shared: Arc<Overlap>,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Notifier for OverlapNotifier {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(batch.iter().map(|notification| (self.worker, notification.id)));
        if self.first.swap(false, Ordering::SeqCst) {
            let mut phases = self.shared.phases.subscribe();
            self.shared.phases.send_modify(|phases| {
                phases.inside += 1;
                phases.met |= phases.inside >= 2;
            });
            let _ =
                tokio::time::timeout(RENDEZVOUS, phases.wait_for(|phases| phases.met || phases.finished >= 1)).await;
            self.shared.phases.send_modify(|phases| phases.inside -= 1);
        }
        Ok(())
    }
}

/// Two workers, each over its own store handle (two nodes on one database, or one store
/// shared), drain `count` due notifications (at least 32: two batches) at once: each
/// worker's first notifier call waits, holding its claimed batch, until the other worker
/// has claimed a batch of its own and called too, so both claim some under a real overlap
/// (one worker draining everything before the other starts fails). In all the notifier is
/// called once per notification, no id twice (nothing fails, so nothing is retried), and
/// the outbox ends empty. Not part of [`crate::conformance_tests!`], since it needs two
/// handles on one backend.
pub async fn two_workers_share_the_outbox(node_a: Arc<dyn Store>, node_b: Arc<dyn Store>, count: usize) {
    const BATCH: usize = 16;
    assert!(count >= 2 * BATCH, "two workers need at least two batches to share");
    let limits = crate::limits::Limits {
        conversations_started_per_hour: 0,
        ..crate::limits::Limits::default()
    };
    let mut fx = Fixture::with_limits(node_a, count + 1, limits);
    fx.services = fx.services.clone().with_notifications(Duration::ZERO);
    for recipient in 1..=count {
        let conversation = fx.direct(0, recipient).await;
        fx.send(0, conversation, "a new offer").await;
    }
    let shared = Arc::new(Overlap {
        calls: Mutex::new(Vec::new()),
        phases: tokio::sync::watch::Sender::new(Phases::default()),
    });
    let worker = |index: usize, store: Arc<dyn Store>| {
        let services = crate::service::ChatServices::new(store, fx.services.directory().clone())
            .with_notifications(Duration::ZERO);
        let notifier = OverlapNotifier {
            worker: index,
            shared: Arc::clone(&shared),
            first: std::sync::atomic::AtomicBool::new(true),
        };
        NotificationWorker::new(services, Arc::new(notifier))
            .for_tenant(fx.tenant.clone())
            .with_batch_size(BATCH)
    };
    let drain = |worker: NotificationWorker, shared: Arc<Overlap>| async move {
        let mut claimed = 0;
        loop {
            let report = worker.run_once().await.expect("a round");
            if report.claimed == 0 {
                break;
            }
            claimed += report.claimed;
        }
        shared.phases.send_modify(|phases| phases.finished += 1);
        claimed
    };
    let a = tokio::spawn(drain(worker(0, fx.services.store().clone()), Arc::clone(&shared)));
    let b = tokio::spawn(drain(worker(1, node_b), Arc::clone(&shared)));
    let claimed = [a.await.expect("worker a"), b.await.expect("worker b")];
    let calls = shared
        .calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let per_worker = [0, 1].map(|worker| calls.iter().filter(|(by, _)| *by == worker).count());
    let distinct: BTreeSet<&NotificationId> = calls.iter().map(|(_, id)| id).collect();
    eprintln!("two workers: claimed {claimed:?}, notified {per_worker:?} of {count}");
    assert!(
        claimed.iter().all(|&n| n > 0) && per_worker.iter().all(|&n| n > 0),
        "each worker claims and notifies some: claimed {claimed:?}, notified {per_worker:?}"
    );
    assert!(
        shared.phases.borrow().met,
        "the workers never held claims at the same time: their rounds ran one after the other \
         (claimed {claimed:?})"
    );
    assert_eq!(calls.len(), count, "one call per due notification");
    assert_eq!(distinct.len(), count, "no id twice");
    assert!(claim_at(&fx, later()).await.is_empty(), "the outbox is empty");
}
