//! Scenario `notifications` (invariant 14): what the outbox costs a send, and how fast a
//! worker drains it.
//!
//! - Sends through the services on one durable store, with offline notifications on and
//!   off, rotating in the same run (each sender writes to its own conversation; its
//!   recipient never reads, so the first message of each conversation creates the pending
//!   notification and the burst after it leaves it as it is, as in a real conversation).
//! - A worker draining due notifications, one per conversation, into a notifier that
//!   accepts everything: notifications per second, each round's latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::{Notification, NotificationWorker, Notifier, NotifyError, SendMessage};
use chat_store_sled::Durability;

use crate::env::Backend;
use crate::measure::{self, Measured};
use crate::report::Report;
use crate::scenarios::{Plan, close, fresh};
use crate::send::{named_conversations, service_op};

/// Turns each case takes, in rotation with the other.
const TURNS: u32 = 4;

/// The delay of the sends with the outbox on: nothing falls due during the run.
const DELAY: Duration = Duration::from_secs(300);

/// A notifier that accepts every notification.
#[derive(Default)]
struct Accepting(AtomicUsize);

#[async_trait]
impl Notifier for Accepting {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// The scenario on `backend`.
pub async fn notifications(backend: Backend, plan: &Plan, quick: bool, report: &mut Report) {
    let name = backend.name();
    let store = fresh(backend, plan, "notifications", Durability::Durable).await;
    let without = store.services();
    let with = without.clone().with_notifications(DELAY);
    for concurrency in [1usize, 16] {
        let plain = named_conversations(&without, "off", concurrency).await;
        let outboxed = named_conversations(&with, "on", concurrency).await;
        let ops = vec![service_op(&without, plain), service_op(&with, outboxed)];
        let results = measure::drive_rotating(concurrency, plan.duration, plan.warmup, TURNS, &ops).await;
        let [off, on] = results.as_slice() else {
            unreachable!("drive_rotating gives one result per op");
        };
        let ratio = on.ops_per_sec() / off.ops_per_sec().max(1e-9);
        report.measured(
            "notifications",
            name,
            &format!("{concurrency} senders, service, outbox off"),
            off,
            true,
            "durable; the same store as the next row".to_owned(),
        );
        report.measured(
            "notifications",
            name,
            &format!("{concurrency} senders, service, outbox on"),
            on,
            true,
            format!("{ratio:.2}x the same sends without the outbox"),
        );
        if concurrency == 16 {
            report.target(
                name,
                "send with the outbox, 16 senders, service / without",
                ratio,
                0.85,
                false,
            );
        }
    }

    // The worker: one due notification in each of `due` conversations.
    let due = if quick { 300 } else { 3_000 };
    let immediate = without.clone().with_notifications(Duration::ZERO);
    let conversations = named_conversations(&immediate, "due", due).await;
    for (sender, conversation) in conversations.iter() {
        immediate
            .messages()
            .send(sender, *conversation, SendMessage::text("is it still available?"))
            .await
            .expect("send");
    }
    let notifier = Arc::new(Accepting::default());
    let worker = NotificationWorker::new(immediate.clone(), notifier.clone());
    let started = Instant::now();
    let mut rounds_us = Vec::new();
    loop {
        let began = Instant::now();
        let drained = worker.run_once().await.expect("a worker round");
        if drained.claimed == 0 {
            break;
        }
        rounds_us.push(began.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed();
    let delivered = notifier.0.load(Ordering::Relaxed);
    assert_eq!(delivered, due, "every due notification delivered once");
    let mut measured = Measured::from_latencies(rounds_us, elapsed);
    measured.ops = delivered;
    report.measured(
        "notifications",
        name,
        &format!("worker, {due} due notifications, batches of 32"),
        &measured,
        true,
        "ops: notifications; latencies: one round (claim, render, notify, settle)".to_owned(),
    );
    close(store).await;
}
