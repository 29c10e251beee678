//! Seq and history (invariant 2): seqs stay dense under concurrent senders, history pages
//! by seq, and a reader following with `after` sees every message once, in order.

use std::collections::HashSet;
use std::sync::Arc;

use crate::ids::MessageId;
use crate::model::Message;
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::{all_history, assert_consistent};

/// Invariant 2: 16 concurrent senders produce seq 1..=N with no gap or duplicate, and the
/// counters stay consistent.
pub async fn seq_is_dense_under_16_concurrent_senders(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let conversation = fx.group(0, &[1, 2, 3]).await;
    const SENDERS: usize = 16;
    const EACH: usize = 8;
    let mut tasks = Vec::new();
    for task in 0..SENDERS {
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                seqs.push(
                    fx.send(task % 4, conversation, &format!("task {task} message {n}"))
                        .await
                        .seq,
                );
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        let mine = task.await.expect("sender task");
        assert!(
            mine.windows(2).all(|pair| pair[0] < pair[1]),
            "one sender's seqs increase"
        );
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    let total = (SENDERS * EACH) as u64;
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, total);
    assert_consistent(&fx, 0, conversation).await;
}

/// History pages by seq: newest page, before, after, both; deleted messages keep their place.
pub async fn history_pages_by_seq(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let mut sent = Vec::new();
    for n in 1..=30 {
        sent.push(fx.send(n % 2, conversation, &format!("message {n}")).await);
    }
    assert_eq!(sent[14].sender.as_ref(), Some(&fx.user(1).user));
    messages
        .delete(fx.user(1), conversation, sent[14].id)
        .await
        .expect("delete seq 15");
    let seqs =
        |page: crate::view::Page<crate::view::MessageView>| page.into_iter().map(|v| v.message.seq).collect::<Vec<_>>();
    let u = fx.user(0);
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, None, None, Some(10))
                .await
                .expect("newest")
        ),
        (21..=30).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, Some(21), None, Some(10))
                .await
                .expect("before")
        ),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, Some(3), None, Some(10))
                .await
                .expect("start")
        ),
        vec![1, 2]
    );
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, None, Some(25), Some(10))
                .await
                .expect("after")
        ),
        (26..=30).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, Some(9), Some(5), Some(10))
                .await
                .expect("both")
        ),
        vec![6, 7, 8]
    );
    assert_eq!(
        seqs(
            messages
                .history(u, conversation, None, Some(0), Some(3))
                .await
                .expect("oldest")
        ),
        vec![1, 2, 3]
    );
    assert!(
        messages
            .history(u, conversation, None, Some(30), None)
            .await
            .expect("caught up")
            .is_empty()
    );
    let page = messages
        .history(u, conversation, Some(16), Some(14), None)
        .await
        .expect("deleted");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].message.seq, 15);
    assert!(page[0].message.deleted_at.is_some() && page[0].message.body.is_empty());
    let sender = page[0].sender.as_ref().expect("a user's message has a sender");
    assert_eq!(
        Some(&sender.id),
        sent[14].sender.as_ref(),
        "history carries the sender's profile"
    );
    assert_ne!(sender.name, "Unknown user");
}

/// Follow while writing: writers send into shared conversations while a reader follows each
/// conversation with `history(after = last seen seq)` every few milliseconds; the reader
/// sees every message exactly once and in seq order. A new message only ever becomes
/// visible after all lower seqs. 8 writers x 25 messages by default;
/// `CHAT_FOLLOW_WRITERS` and `CHAT_FOLLOW_MESSAGES` scale it (the long run: 20 x 500).
pub async fn a_reader_following_with_after_sees_every_message_once_in_order(store: Arc<dyn Store>) {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let writers = env("CHAT_FOLLOW_WRITERS", 8);
    let per_writer = env("CHAT_FOLLOW_MESSAGES", 25);
    let fx = Fixture::new(store, 5);
    let shared = [fx.group(0, &[1, 2, 3]).await, fx.group(1, &[0, 2, 3]).await];
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let conversation = shared[(writer + n) % shared.len()];
                fx.send(writer % 4, conversation, &format!("w{writer} n{n}")).await;
            }
        }));
    }
    let total = writers * per_writer;
    let reader = {
        let fx = fx.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Vec<Message>> = vec![Vec::new(); shared.len()];
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
            while seen.iter().map(Vec::len).sum::<usize>() < total {
                assert!(tokio::time::Instant::now() < deadline, "the reader must catch up");
                for (index, conversation) in shared.iter().enumerate() {
                    let after = seen[index].last().map_or(0, |m| m.seq);
                    let page = fx
                        .messages()
                        .history(fx.user(3), *conversation, None, Some(after), Some(100))
                        .await
                        .expect("follow page");
                    seen[index].extend(page.into_iter().map(|view| view.message));
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            seen
        })
    };
    for task in tasks {
        task.await.expect("writer");
    }
    let seen = reader.await.expect("reader");
    for (index, messages) in seen.iter().enumerate() {
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=messages.len() as u64).collect::<Vec<_>>(),
            "conversation {index}: every seq once, in order"
        );
        let ids: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), messages.len(), "no message twice");
        let stored = all_history(&fx, 3, shared[index]).await;
        assert_eq!(stored.len(), messages.len(), "the reader saw everything stored");
    }
    assert_eq!(seen.iter().map(Vec::len).sum::<usize>(), total);
}
