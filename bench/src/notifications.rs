//! Scenario `notifications` (invariant 14): what the outbox costs a send, and how fast a
//! worker drains it.
//!
//! - Sends through the services on one durable store, with offline notifications on and
//!   off, rotating in the same run (each sender writes to its own conversation; its
//!   recipient never reads, so the first message of each conversation creates the pending
//!   notification and the burst after it leaves it as it is, as in a real conversation).
//! - The worst case: each send followed by the recipient reading it, so that every send
//!   creates the pending notification and every read removes it, on and off.
//! - A worker draining due notifications, one per conversation, into a notifier that
//!   accepts everything: notifications per second, each round's latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::{
    ChatServices, ConversationId, Identity, Notification, NotificationWorker, Notifier, NotifyError, SendMessage,
};
use chat_store_sled::Durability;

use crate::env::{Backend, identity};
use crate::measure::{self, Measured};
use crate::report::Report;
use crate::scenarios::{Plan, boxed, close, fresh};
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

/// A send by worker `w` in conversation `w`, then its recipient reading it.
fn send_then_read(
    services: &ChatServices,
    prefix: &str,
    concurrency: usize,
    conversations: Arc<Vec<(Identity, ConversationId)>>,
) -> measure::Op {
    let recipients: Arc<Vec<Identity>> = Arc::new(
        (0..concurrency)
            .map(|worker| identity(&format!("{prefix}r{concurrency}_{worker}")))
            .collect(),
    );
    let (messages, reads) = (services.messages(), services.conversations());
    Arc::new(move |worker, iteration| {
        let (messages, reads) = (messages.clone(), reads.clone());
        let (sender, id) = conversations[worker].clone();
        let recipient = recipients[worker].clone();
        boxed(async move {
            messages
                .send(&sender, id, SendMessage::text(format!("message {iteration}")))
                .await
                .expect("send");
            reads.mark_read(&recipient, id, None).await.expect("read");
        })
    })
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
        let plain_read = named_conversations(&without, "offread", concurrency).await;
        let outboxed_read = named_conversations(&with, "onread", concurrency).await;
        let ops = vec![
            service_op(&without, plain),
            service_op(&with, outboxed),
            send_then_read(&without, "offread", concurrency, plain_read),
            send_then_read(&with, "onread", concurrency, outboxed_read),
        ];
        let results = measure::drive_rotating(concurrency, plan.duration, plan.warmup, TURNS, &ops).await;
        let [off, on, off_read, on_read] = results.as_slice() else {
            unreachable!("drive_rotating gives one result per op");
        };
        let ratio = on.ops_per_sec() / off.ops_per_sec().max(1e-9);
        let read_ratio = on_read.ops_per_sec() / off_read.ops_per_sec().max(1e-9);
        let cases = [
            (
                "service, outbox off",
                off,
                "durable; the same store as the rows below".to_owned(),
            ),
            (
                "service, outbox on",
                on,
                format!("{ratio:.2}x the same sends without the outbox"),
            ),
            (
                "send then the recipient reads, outbox off",
                off_read,
                "ops: a send and a read".to_owned(),
            ),
            (
                "send then the recipient reads, outbox on",
                on_read,
                format!("{read_ratio:.2}x without: every send creates the notification, every read removes it"),
            ),
        ];
        for (case, measured, note) in cases {
            report.measured(
                "notifications",
                name,
                &format!("{concurrency} senders, {case}"),
                measured,
                true,
                note,
            );
        }
        if concurrency == 16 {
            report.target(
                name,
                "send with the outbox, 16 senders, service / without",
                ratio,
                0.85,
                false,
            );
            report.target(
                name,
                "send + read with the outbox (a notification created and removed each time), 16 senders / without",
                read_ratio,
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
