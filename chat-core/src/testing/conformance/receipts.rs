//! Delivery receipts (invariant 11): the delivery watermark never moves back and never
//! falls below the read watermark; receipts are derived from the watermarks.

use std::sync::Arc;
use std::time::Duration;

use crate::events::EventPayload;
use crate::rules::Receipts;
use crate::store::Store;

use super::super::fixtures::Fixture;

/// The receipts published since the last call, one `(user, seq, recipients)` each.
fn delivered_events(fx: &Fixture) -> Vec<(String, u64, Vec<String>)> {
    fx.bus
        .take()
        .into_iter()
        .filter_map(|event| match event.payload {
            EventPayload::ConversationDelivered { receipts } => Some(
                receipts
                    .into_iter()
                    .map(|receipt| {
                        let recipients = event.recipients.iter().map(|r| r.as_str().to_owned()).collect();
                        (receipt.user.as_str().to_owned(), receipt.seq, recipients)
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Marking delivered moves the watermark forward only and tells the other members; reading
/// delivers; reading history delivers what it returned; receipts of the sender's messages
/// follow; receipts noted from live events are written in one batch.
pub async fn delivery_receipts_follow_the_watermarks(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let conversation = fx.direct(0, 1).await;
    for text in ["one", "two", "three", "four"] {
        fx.send(0, conversation, text).await;
    }
    fx.bus.take();
    let receipts = |fx: Fixture| async move {
        fx.messages()
            .history(fx.user(0), conversation, None, None, None)
            .await
            .expect("history")
            .iter()
            .map(|view| view.receipts)
            .collect::<Vec<Receipts>>()
    };
    let sent = Receipts {
        delivered: 0,
        read: 0,
        of: 1,
    };
    assert_eq!(receipts(fx.clone()).await, [sent; 4], "sent, not yet delivered");

    let view = conversations
        .mark_delivered(fx.user(1), conversation, Some(2))
        .await
        .expect("delivered");
    assert_eq!(view.me().map(|me| me.last_delivered_seq), Some(2));
    assert_eq!(
        delivered_events(&fx),
        [("u1".to_owned(), 2, vec!["u0".to_owned()])],
        "the other member hears"
    );
    let delivered = Receipts {
        delivered: 1,
        read: 0,
        of: 1,
    };
    assert_eq!(receipts(fx.clone()).await, [delivered, delivered, sent, sent]);

    conversations
        .mark_delivered(fx.user(1), conversation, Some(1))
        .await
        .expect("not back");
    assert!(
        delivered_events(&fx).is_empty(),
        "a watermark that does not move tells nobody"
    );
    let read = conversations
        .mark_read(fx.user(1), conversation, Some(3))
        .await
        .expect("read");
    let me = read.me().expect("member");
    assert_eq!((me.last_read_seq, me.last_delivered_seq), (3, 3), "reading delivers");
    let read_receipt = Receipts {
        delivered: 1,
        read: 1,
        of: 1,
    };
    assert_eq!(
        receipts(fx.clone()).await,
        [read_receipt, read_receipt, read_receipt, sent]
    );
    fx.bus.take();

    // History delivers what it returned.
    fx.messages()
        .history(fx.user(1), conversation, None, None, None)
        .await
        .expect("history of u1");
    assert_eq!(delivered_events(&fx), [("u1".to_owned(), 4, vec!["u0".to_owned()])]);

    // Live deliveries are batched: many notes, one write and one event.
    let batched = fx
        .services
        .clone()
        .with_delivery_batch_interval(Duration::from_millis(20))
        .conversations();
    fx.send(0, conversation, "five").await;
    fx.send(0, conversation, "six").await;
    fx.bus.take();
    for seq in [5, 6, 5, 6, 6] {
        batched.delivered_later(fx.user(1), conversation, seq).await;
    }
    let mut waited = Duration::ZERO;
    let mut events = Vec::new();
    while events.is_empty() && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
        events = delivered_events(&fx);
    }
    assert_eq!(
        events,
        [("u1".to_owned(), 6, vec!["u0".to_owned()])],
        "one batch, the highest seq"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(delivered_events(&fx).is_empty(), "nothing more");
    let view = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(view.me().map(|me| me.last_delivered_seq), Some(6));
}

/// 16 tasks mark read and delivered in one conversation at random seqs, concurrently:
/// every answer has delivered >= read, and in the end read is the highest read target and
/// delivered the highest target of all.
pub async fn delivered_never_below_read_under_concurrent_reads_and_deliveries(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversation = fx.group(0, &[1]).await;
    for index in 0..30 {
        fx.send(0, conversation, &format!("m{index}")).await;
    }
    let tasks: Vec<_> = (0..16u64)
        .map(|task| {
            let fx = fx.clone();
            tokio::spawn(async move {
                let conversations = fx.conversations();
                let mut highest = (0, 0);
                for round in 0..8u64 {
                    let seq = (task * 7 + round * 11) % 30 + 1;
                    let view = if (task + round) % 2 == 0 {
                        highest.0 = highest.0.max(seq);
                        conversations.mark_read(fx.user(1), conversation, Some(seq)).await
                    } else {
                        highest.1 = highest.1.max(seq);
                        conversations.mark_delivered(fx.user(1), conversation, Some(seq)).await
                    }
                    .expect("mark");
                    let me = view.me().expect("member");
                    assert!(
                        me.last_delivered_seq >= me.last_read_seq,
                        "delivered {} < read {}",
                        me.last_delivered_seq,
                        me.last_read_seq
                    );
                }
                highest
            })
        })
        .collect();
    let (mut read, mut delivered) = (0, 0);
    for task in tasks {
        let (task_read, task_delivered) = task.await.expect("task");
        read = read.max(task_read);
        delivered = delivered.max(task_delivered);
    }
    let view = fx.conversations().get(fx.user(1), conversation).await.expect("get");
    let me = view.me().expect("member");
    assert_eq!(me.last_read_seq, read);
    assert_eq!(me.last_delivered_seq, read.max(delivered));
    assert_eq!(me.unread_count, 30 - read);
}

/// Socket receipts of a group, noted for several members, are written in one batch and
/// told in one `conversation.delivered` to every member; a member who left before the batch
/// is skipped, and a batch for another tenant's conversation writes nothing.
pub async fn batched_receipts_of_a_group_are_one_event_for_every_member(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let group = fx.group(0, &[1, 2, 3]).await;
    fx.send(0, group, "one").await;
    fx.send(0, group, "two").await;
    fx.conversations()
        .remove_participant(fx.user(3), group, &fx.user(3).user)
        .await
        .expect("u3 leaves");
    let batched = fx
        .services
        .clone()
        .with_delivery_batch_interval(Duration::from_millis(20))
        .conversations();
    fx.bus.take();
    for (user, seq) in [(1, 2), (2, 1), (3, 2), (1, 1)] {
        batched.delivered_later(fx.user(user), group, seq).await;
    }
    let mut events = Vec::new();
    for _ in 0..250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        events = fx
            .bus
            .take()
            .into_iter()
            .filter(|event| matches!(event.payload, EventPayload::ConversationDelivered { .. }))
            .collect::<Vec<_>>();
        if !events.is_empty() {
            break;
        }
    }
    assert_eq!(events.len(), 1, "one event for the batch");
    let EventPayload::ConversationDelivered { receipts } = &events[0].payload else {
        unreachable!("filtered above");
    };
    let mut got: Vec<(&str, u64)> = receipts.iter().map(|r| (r.user.as_str(), r.seq)).collect();
    got.sort_unstable();
    assert_eq!(got, [("u1", 2), ("u2", 1)], "the highest seq per member; u3 left");
    let mut recipients: Vec<&str> = events[0].recipients.iter().map(|r| r.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(
        recipients,
        ["u0", "u1", "u2"],
        "every member hears of the others' receipts"
    );
    let view = fx.conversations().get(fx.user(0), group).await.expect("get");
    let delivered: Vec<u64> = view
        .participants
        .iter()
        .map(|p| p.participant.last_delivered_seq)
        .collect();
    assert_eq!(delivered, [2, 2, 1], "u0 sent both; u1 and u2 as batched");
    let receipts = &fx
        .messages()
        .history(fx.user(0), group, None, None, None)
        .await
        .expect("history");
    assert_eq!(
        receipts.iter().map(|view| view.receipts).collect::<Vec<_>>(),
        [
            Receipts {
                delivered: 2,
                read: 0,
                of: 2
            },
            Receipts {
                delivered: 1,
                read: 0,
                of: 2
            }
        ]
    );
    assert!(
        matches!(
            fx.services
                .store()
                .mark_delivered_many(
                    &super::super::fixtures::fresh_tenant(),
                    group,
                    &[(fx.user(1).user.clone(), 2)]
                )
                .await,
            Err(crate::ChatError::NotFound { what: "conversation" })
        ),
        "another tenant's batch writes nothing"
    );
}
