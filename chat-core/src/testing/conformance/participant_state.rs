//! Each participant's own state: unread counts and read watermarks (invariant 4), archive
//! undone by a new message and history cleared for one user only (invariant 8).

use std::sync::Arc;

use crate::events::EventPayload;
use crate::service::InboxFilter;
use crate::store::Store;
use crate::testing::fixtures::Fixture;
use crate::view::ConversationView;

use super::{all_history, assert_consistent};

/// Invariant 4: unread counts follow sends and reads; watermarks never move back.
pub async fn unread_counts_follow_sends_and_reads(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let conversation = fx.direct(0, 1).await;
    for text in ["one", "two", "three"] {
        fx.send(0, conversation, text).await;
    }
    let unread = |view: &ConversationView| view.unread_count();
    let u1 = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(unread(&u1), 3);
    assert_eq!(
        unread(&conversations.get(fx.user(0), conversation).await.expect("get")),
        0
    );
    assert_eq!(conversations.stats(fx.user(1)).await.expect("stats").unread_messages, 3);

    fx.bus.take();
    let read = conversations
        .mark_read(fx.user(1), conversation, Some(2))
        .await
        .expect("read");
    assert_eq!(read.me().map(|me| (me.last_read_seq, me.unread_count)), Some((2, 1)));
    let receipts: Vec<_> = fx
        .bus
        .take()
        .into_iter()
        .filter_map(|event| match event.payload {
            EventPayload::ConversationRead { user, seq, .. } => Some((user, seq, event.recipients.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        receipts,
        vec![(fx.user(1).user.clone(), 2, 2)],
        "a read receipt goes to both participants"
    );

    let back = conversations
        .mark_read(fx.user(1), conversation, Some(1))
        .await
        .expect("read back");
    assert_eq!(
        back.me().map(|me| (me.last_read_seq, me.unread_count)),
        Some((2, 1)),
        "never moves back"
    );
    assert!(
        !fx.bus
            .take()
            .iter()
            .any(|event| matches!(event.payload, EventPayload::ConversationRead { .. })),
        "no receipt when the watermark does not move"
    );

    fx.send(1, conversation, "reply").await;
    let u1 = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(
        u1.me().map(|me| (me.last_read_seq, me.unread_count)),
        Some((4, 0)),
        "sending marks read"
    );
    let u0 = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(unread(&u0), 1);
    let beyond = conversations
        .mark_read(fx.user(0), conversation, Some(999))
        .await
        .expect("read beyond");
    assert_eq!(
        beyond.me().map(|me| (me.last_read_seq, me.unread_count)),
        Some((4, 0)),
        "clamped to the newest"
    );
    fx.send(1, conversation, "more").await;
    let newest = conversations
        .mark_read(fx.user(0), conversation, None)
        .await
        .expect("read newest");
    assert_eq!(newest.me().map(|me| (me.last_read_seq, me.unread_count)), Some((5, 0)));
    let stats = conversations.stats(fx.user(0)).await.expect("stats");
    assert_eq!(
        (
            stats.total_conversations,
            stats.unread_conversations,
            stats.unread_messages
        ),
        (1, 0, 0)
    );
    assert_consistent(&fx, 0, conversation).await;
}

/// Invariant 8 (archive): a new message un-archives the conversation for its recipients.
pub async fn new_message_unarchives_for_recipients(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1, 2]).await;
    for user in 0..3 {
        assert!(
            conversations
                .archive(fx.user(user), group)
                .await
                .expect("archive")
                .is_archived()
        );
    }
    let archived_inbox = conversations
        .inbox(fx.user(1), InboxFilter::default())
        .await
        .expect("inbox");
    assert!(archived_inbox.items.is_empty());
    fx.bus.take();
    fx.send(0, group, "wake up").await;
    for user in 0..3 {
        let view = conversations.get(fx.user(user), group).await.expect("get");
        assert!(!view.is_archived(), "user {user} sees it again");
    }
    let inbox = conversations
        .inbox(fx.user(1), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(inbox.items.len(), 1);
    let events = fx.bus.take();
    let kinds: Vec<&str> = events.iter().map(|event| event.payload.type_name()).collect();
    assert_eq!(kinds, vec!["message.created", "conversation.updated"]);
    for event in &events {
        let mut recipients = event.recipients.clone();
        recipients.sort();
        assert_eq!(
            recipients,
            vec![
                fx.user(0).user.clone(),
                fx.user(1).user.clone(),
                fx.user(2).user.clone()
            ]
        );
    }
    let unarchived = conversations.unarchive(fx.user(2), group).await.expect("unarchive");
    assert!(!unarchived.is_archived());
}

/// Invariant 8 (clear): clearing history hides it for that user only.
pub async fn clearing_history_hides_it_for_that_user_only(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let conversation = fx.direct(0, 1).await;
    for text in ["a", "b", "c"] {
        fx.send(1, conversation, text).await;
    }
    let cleared = conversations
        .clear_history(fx.user(0), conversation)
        .await
        .expect("clear");
    let me = cleared.me().cloned().expect("member");
    assert_eq!((me.cleared_through_seq, me.unread_count, me.last_read_seq), (3, 0, 3));
    assert!(
        cleared.visible_last_message().is_none(),
        "the cleared preview is hidden from the clearer"
    );
    assert!(all_history(&fx, 0, conversation).await.is_empty());
    let newest = fx
        .messages()
        .history(fx.user(0), conversation, None, None, None)
        .await
        .expect("history");
    assert!(newest.is_empty());
    assert_eq!(
        all_history(&fx, 1, conversation).await.len(),
        3,
        "the other user keeps the history"
    );
    let other = conversations.get(fx.user(1), conversation).await.expect("get");
    assert!(other.visible_last_message().is_some());

    let fourth = fx.send(1, conversation, "d").await;
    let history = all_history(&fx, 0, conversation).await;
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4]);
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(view.visible_last_message().map(|last| last.id), Some(fourth.id));
    assert_eq!(view.unread_count(), 1);
}

/// Invariant 12: deleting a message someone has not read takes it off their unread count and
/// their stats; those who read it keep theirs; reading up to a seq below a deleted message
/// does not count it.
pub async fn deleting_an_unread_message_takes_it_off_the_badge(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1, 2]).await;
    let mut sent = Vec::new();
    for text in ["one", "two", "three", "four"] {
        sent.push(fx.send(0, group, text).await);
    }
    conversations.mark_read(fx.user(2), group, Some(2)).await.expect("read");
    let unread_of = |user: usize| {
        let conversations = conversations.clone();
        let fx = &fx;
        async move {
            let view = conversations.get(fx.user(user), group).await.expect("get");
            let stats = conversations.stats(fx.user(user)).await.expect("stats");
            (view.unread_count(), stats.unread_messages, stats.unread_conversations)
        }
    };
    assert_eq!(unread_of(1).await, (4, 4, 1));
    assert_eq!(unread_of(2).await, (2, 2, 1));

    fx.bus.take();
    fx.messages()
        .delete(fx.user(0), group, sent[2].id)
        .await
        .expect("delete");
    assert_eq!(unread_of(1).await, (3, 3, 1), "user 1 had not read seq 3");
    assert_eq!(unread_of(2).await, (1, 1, 1), "user 2 had not read seq 3");
    let user_1 = &fx.user(1).user;
    let updated_counts: Vec<u64> = fx
        .bus
        .take()
        .into_iter()
        .filter(|event| event.recipients.contains(user_1))
        .filter_map(|event| match event.payload {
            EventPayload::ConversationUpdated(view) => view
                .participants
                .iter()
                .find(|p| &p.participant.user == user_1)
                .map(|p| p.participant.unread_count),
            _ => None,
        })
        .collect();
    assert_eq!(updated_counts, [3], "the new badge reaches user 1 live");
    // Deleting a message user 2 read leaves user 2's count alone.
    fx.messages()
        .delete(fx.user(0), group, sent[0].id)
        .await
        .expect("delete");
    assert_eq!(unread_of(1).await, (2, 2, 1));
    assert_eq!(unread_of(2).await, (1, 1, 1));
    // Reading up to seq 2 leaves seq 4 unread, not the deleted seq 3.
    let read = conversations.mark_read(fx.user(1), group, Some(2)).await.expect("read");
    assert_eq!(read.unread_count(), 1);
    // Deleting the rest: nothing unread, the conversation leaves the unread stats.
    fx.messages()
        .delete(fx.user(0), group, sent[3].id)
        .await
        .expect("delete");
    assert_eq!(unread_of(1).await, (0, 0, 0));
    assert_eq!(unread_of(2).await, (0, 0, 0));
    let unread_inbox = conversations
        .inbox(
            fx.user(1),
            InboxFilter {
                unread_only: true,
                ..InboxFilter::default()
            },
        )
        .await
        .expect("inbox");
    assert!(unread_inbox.items.is_empty(), "not in the unread-only inbox");
    assert_consistent(&fx, 1, group).await;
    assert_consistent(&fx, 2, group).await;
}

/// Invariants 4 and 12 under contention: 16 tasks send into one group while each deletes
/// every other message it sent and some mark the conversation read as they go; afterwards
/// every member's unread count is exactly the messages above their watermark that others
/// sent and nobody deleted, and each member's stats agree with it.
pub async fn unread_counts_stay_exact_under_16_racing_senders_deleters_and_readers(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let group = fx.group(0, &[1, 2, 3]).await;
    const TASKS: usize = 16;
    const EACH: usize = 8;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let member = task % 4;
            for n in 0..EACH {
                let sent = fx.send(member, group, &format!("task {task} message {n}")).await;
                if n % 2 == 1 {
                    fx.messages()
                        .delete(fx.user(member), group, sent.id)
                        .await
                        .expect("delete own message");
                }
                if task % 3 == 0 {
                    fx.conversations()
                        .mark_read(fx.user((member + 1) % 4), group, Some(sent.seq))
                        .await
                        .expect("read");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    for member in 0..4 {
        assert_consistent(&fx, member, group).await;
        let view = fx.conversations().get(fx.user(member), group).await.expect("get");
        let stats = fx.conversations().stats(fx.user(member)).await.expect("stats");
        assert_eq!(stats.unread_messages, view.unread_count(), "stats of member {member}");
        assert_eq!(stats.unread_conversations, u64::from(view.unread_count() > 0));
    }
}
