//! Scenario `erase` (invariant 15): erasing a user who sent 100,000 messages (quick: 2,000)
//! in one direct conversation of 200,000 (the other side sent the rest), with 10 of theirs
//! unread by the other side. `ChatServices::erase_user` runs in batches of
//! `chat_core::service::ERASE_BATCH` messages, one store transaction each; then every counter of the
//! conversation is recomputed from its messages and compared with what the store keeps,
//! and the erase runs again (a no-op pass, what resuming costs).

use std::time::Instant;

use chat_core::backend::HistoryQuery;
use chat_core::{ChatServices, ConversationId, Identity, SendMessage};
use chat_store_sled::Durability;

use crate::env::{AnyStore, Backend, identity};
use crate::load;
use crate::measure::Measured;
use crate::report::Report;
use crate::scenarios::{Plan, close, fresh};

/// Unread messages of the erased user before the erase.
const UNREAD: usize = 10;

/// The scenario on `backend`.
pub async fn erase(backend: Backend, plan: &Plan, quick: bool, report: &mut Report) {
    let name = backend.name();
    let size = if quick { 4_000 } else { 200_000 };
    let store = fresh(backend, plan, "erase", Durability::Durable).await;
    let began = Instant::now();
    let id = match &store {
        AnyStore::Sled(s) => load::sled_history(s, size).await,
        AnyStore::Postgres(s) => load::pg_history(s, size).await,
    };
    println!("  loaded {size} messages in {:.1} s", began.elapsed().as_secs_f64());
    let (erased, other) = load::history_users(size);
    let (erased, other) = (identity(&erased), identity(&other));
    let services = store.services();
    for n in 0..UNREAD {
        services
            .messages()
            .send(&erased, id, SendMessage::text(format!("unread {n}")))
            .await
            .expect("send");
    }
    let mine = size / 2 + UNREAD;

    let began = Instant::now();
    let first = services.erase_user(&erased.tenant, &erased.user).await.expect("erase");
    let elapsed = began.elapsed();
    let consistent = consistent(&services, &other, &erased, id).await;
    let mut measured = Measured::from_latencies(vec![elapsed.as_micros() as u64], elapsed);
    measured.ops = first.messages_deleted;
    report.measured(
        "erase",
        name,
        &format!("erase a user with {mine} messages"),
        &measured,
        true,
        format!(
            "ops: messages deleted; {} batches of up to {} (one transaction each), {:.1} ms a batch; counters consistent after: {}",
            first.batches,
            chat_core::service::ERASE_BATCH,
            elapsed.as_secs_f64() * 1000.0 / first.batches.max(1) as f64,
            if consistent { "yes" } else { "NO" }
        ),
    );
    report.target(
        name,
        "erase: every message of the user deleted and every counter consistent (1 = yes)",
        f64::from(u8::from(consistent && first.done && first.messages_deleted == mine)),
        1.0,
        false,
    );

    let began = Instant::now();
    let again = services
        .erase_user(&erased.tenant, &erased.user)
        .await
        .expect("erase again");
    let elapsed = began.elapsed();
    let mut measured = Measured::from_latencies(vec![elapsed.as_micros() as u64], elapsed);
    measured.ops = again.batches;
    report.measured(
        "erase",
        name,
        "erase again (nothing left: what resuming re-reads)",
        &measured,
        true,
        format!("ops: batches; {} messages deleted", again.messages_deleted),
    );
    close(store).await;
}

/// True when, seen by `reader`, the conversation's seqs are dense, every message of
/// `erased` is deleted and empty, the reader's unread count and totals are what the
/// messages say, and the preview is the newest message not deleted.
async fn consistent(services: &ChatServices, reader: &Identity, erased: &Identity, id: ConversationId) -> bool {
    let store = services.store();
    let mut after = 0;
    let (mut seqs_dense, mut erased_gone, mut unread, mut newest_visible) = (true, true, 0u64, None);
    let record = loop {
        let query = HistoryQuery {
            before: None,
            after: Some(after),
            limit: 100,
        };
        let page = store.history_page(reader, id, query).await.expect("history page");
        let full = page.messages.len() == 100;
        let me = page.record.participant(&reader.user).map_or(0, |p| p.last_read_seq);
        for message in &page.messages {
            seqs_dense &= message.seq == after + 1;
            after = message.seq;
            if message.sender.as_ref() == Some(&erased.user) {
                erased_gone &= message.deleted_at.is_some() && message.body.is_empty();
            }
            if message.deleted_at.is_none() {
                newest_visible = Some(message.id);
                if message.seq > me && message.sender.as_ref() != Some(&reader.user) {
                    unread += 1;
                }
            }
        }
        if !full {
            break page.record;
        }
    };
    let stored_unread = record.participant(&reader.user).map_or(u64::MAX, |p| p.unread_count);
    let stats = services.conversations().stats(reader).await.expect("stats");
    let preview = record.conversation.last_message.as_ref().map(|last| last.id);
    seqs_dense
        && erased_gone
        && after == record.conversation.last_seq
        && stored_unread == unread
        && stats.unread_messages == unread
        && preview == newest_visible
}
