//! The store conformance suite: plain `async fn`s over a store, each proving one part of
//! the invariants of the design document through the services. Every backend runs all of
//! them with [`crate::conformance_tests!`]; none is ever copied per backend.
//!
//! Each case builds its own [`Fixture`] (a fresh tenant), so cases may share one store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::ids::{ConversationId, MessageId};
use crate::limits::Limits;
use crate::model::{ConversationKind, Message, Role};
use crate::service::{InboxFilter, NewGroupInput, SendMessage, StartDirect};
use crate::store::{ArchiveFilter, Store};
use crate::tag::{Tag, TagFilter, TaggableId};
use crate::view::ConversationView;

use super::fixtures::Fixture;

fn tag(kind: &str, id: impl Into<TaggableId>) -> Tag {
    Tag::new(kind, id).expect("valid tag")
}

async fn all_history(fx: &Fixture, user: usize, conversation: ConversationId) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let page = fx
            .messages()
            .history(fx.user(user), conversation, None, Some(after), Some(100))
            .await
            .expect("history page");
        let Some(last) = page.last() else { break };
        after = last.message.seq;
        messages.extend(page.into_iter().map(|view| view.message));
    }
    messages
}

/// Asserts invariants 2, 4 and 5 on one conversation as seen by `viewer`, who has cleared
/// nothing: dense seqs, unread counts recomputed from the messages, preview of the newest.
async fn assert_consistent(fx: &Fixture, viewer: usize, conversation: ConversationId) {
    let messages = all_history(fx, viewer, conversation).await;
    let view = fx
        .conversations()
        .get(fx.user(viewer), conversation)
        .await
        .expect("get conversation");
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
    let expected: Vec<u64> = (1..=view.conversation.last_seq).collect();
    assert_eq!(seqs, expected, "seq must be dense 1..=last_seq");
    for participant in view.participants.iter().map(|p| &p.participant) {
        let unread = messages
            .iter()
            .filter(|message| message.seq > participant.last_read_seq && message.sender != participant.user)
            .count() as u64;
        assert_eq!(participant.unread_count, unread, "unread count of {}", participant.user);
    }
    let newest_visible = messages.iter().rev().find(|message| message.deleted_at.is_none());
    assert_eq!(
        view.conversation.last_message.as_ref().map(|last| last.id),
        newest_visible.map(|message| message.id)
    );
    if let Some(newest) = messages.last() {
        assert_eq!(view.conversation.last_activity_at, newest.created_at);
    }
}

/// Invariant 1: find-or-create of a direct conversation is idempotent and symmetric, and
/// the tag is part of the key (`123` and `"123"` being one tag).
pub async fn direct_find_or_create_is_idempotent_and_symmetric(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let (u0, u1, u2) = (fx.user(0), fx.user(1), fx.user(2));

    let (first, created) = conversations
        .start_direct(u0, StartDirect::with(u1.user.clone()))
        .await
        .expect("start");
    assert!(created);
    assert_eq!(first.conversation.kind, ConversationKind::Direct);
    assert_eq!(
        first.counterpart().map(|c| c.participant.user.clone()),
        Some(u1.user.clone())
    );
    let (again, created) = conversations
        .start_direct(u0, StartDirect::with(u1.user.clone()))
        .await
        .expect("again");
    assert!(!created);
    assert_eq!(again.conversation.id, first.conversation.id);
    let (mirrored, created) = conversations
        .start_direct(u1, StartDirect::with(u0.user.clone()))
        .await
        .expect("mirror");
    assert!(!created);
    assert_eq!(mirrored.conversation.id, first.conversation.id);
    assert_eq!(
        mirrored.counterpart().map(|c| c.participant.user.clone()),
        Some(u0.user.clone())
    );

    let order = StartDirect::with(u1.user.clone()).tagged(tag("App\\Models\\Order", 123));
    let (tagged, created) = conversations.start_direct(u0, order).await.expect("tagged");
    assert!(created);
    assert_ne!(tagged.conversation.id, first.conversation.id);
    let same_order_as_text = StartDirect::with(u0.user.clone()).tagged(tag("App\\Models\\Order", "123"));
    let (tagged_again, created) = conversations
        .start_direct(u1, same_order_as_text)
        .await
        .expect("tagged text");
    assert!(!created);
    assert_eq!(tagged_again.conversation.id, tagged.conversation.id);
    assert_eq!(
        tagged_again.conversation.tag.map(|t| t.taggable_id),
        Some(TaggableId::Int(123))
    );
    let listing = StartDirect::with(u1.user.clone()).tagged(tag("App\\Models\\Listing", 123));
    let (other_tag, created) = conversations.start_direct(u0, listing).await.expect("other tag");
    assert!(created);
    assert_ne!(other_tag.conversation.id, tagged.conversation.id);
    let (other_pair, created) = conversations
        .start_direct(u0, StartDirect::with(u2.user.clone()))
        .await
        .expect("pair");
    assert!(created);
    assert_ne!(other_pair.conversation.id, first.conversation.id);

    let created_events: Vec<_> = fx
        .bus
        .events()
        .into_iter()
        .filter(|event| matches!(event.payload, EventPayload::ConversationCreated(_)))
        .collect();
    assert_eq!(
        created_events.len(),
        4,
        "one conversation.created per creation, none for finds"
    );
    for event in created_events {
        assert_eq!(event.recipients.len(), 2);
    }
}

/// Invariant 1 under races: 64 tasks, half asking (A, B) and half (B, A), get one id, and
/// exactly one of them created it.
pub async fn direct_find_or_create_gives_one_conversation_under_64_racing_tasks(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    for tagged in [false, true] {
        let mut tasks = Vec::new();
        for task in 0..64 {
            let fx = fx.clone();
            tasks.push(tokio::spawn(async move {
                let (me, other) = if task % 2 == 0 { (0, 1) } else { (1, 0) };
                let mut input = StartDirect::with(fx.user(other).user.clone());
                if tagged {
                    input = input.tagged(tag("Order", 42));
                }
                let (view, created) = fx
                    .conversations()
                    .start_direct(fx.user(me), input)
                    .await
                    .expect("start direct");
                (view.conversation.id, created)
            }));
        }
        let mut ids = HashSet::new();
        let mut creations = 0;
        for task in tasks {
            let (id, created) = task.await.expect("task");
            ids.insert(id);
            creations += usize::from(created);
        }
        assert_eq!(
            ids.len(),
            1,
            "racing find-or-create must give one conversation (tagged: {tagged})"
        );
        assert_eq!(creations, 1, "exactly one caller creates it (tagged: {tagged})");
    }
    let inbox = fx
        .conversations()
        .inbox(fx.user(0), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(inbox.items.len(), 2);
}

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

/// Invariant 3: a repeated client_message_id returns the stored message and changes nothing,
/// also when the repeats race.
pub async fn repeated_client_message_id_returns_the_stored_message(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversation = fx.direct(0, 1).await;
    let messages = fx.messages();
    let first = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("first").with_client_message_id("k1"),
        )
        .await
        .expect("send");
    assert!(first.created);
    let events_after_first = fx.bus.events().len();
    let repeat = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("different body").with_client_message_id("k1"),
        )
        .await
        .expect("repeat");
    assert!(!repeat.created);
    assert_eq!(repeat.message.message, first.message.message);
    assert_eq!(fx.bus.events().len(), events_after_first, "a repeat publishes nothing");
    let view = fx.conversations().get(fx.user(1), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(view.unread_count(), 1);

    let same_key_other_sender = messages
        .send(
            fx.user(1),
            conversation,
            SendMessage::text("mine").with_client_message_id("k1"),
        )
        .await
        .expect("other sender");
    assert!(same_key_other_sender.created, "the key is per sender");
    let elsewhere = fx.direct(0, 2).await;
    let same_key_other_conversation = messages
        .send(
            fx.user(0),
            elsewhere,
            SendMessage::text("x").with_client_message_id("k1"),
        )
        .await
        .expect("other conversation");
    assert!(same_key_other_conversation.created, "the key is per conversation");

    let mut tasks = Vec::new();
    for n in 0..8 {
        let messages = messages.clone();
        let actor = fx.user(0).clone();
        tasks.push(tokio::spawn(async move {
            messages
                .send(
                    &actor,
                    conversation,
                    SendMessage::text(format!("race {n}")).with_client_message_id("race"),
                )
                .await
                .expect("racing send")
        }));
    }
    let mut ids = HashSet::new();
    let mut creations = 0;
    for task in tasks {
        let sent = task.await.expect("task");
        ids.insert(sent.message.message.id);
        creations += usize::from(sent.created);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(creations, 1);
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 3);
    assert_consistent(&fx, 0, conversation).await;
}

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

/// Invariant 5: preview, last_seq and last_activity_at describe the newest message; edits
/// and deletes of the newest message update the preview.
pub async fn preview_follows_the_newest_message(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let empty = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        (empty.conversation.last_seq, empty.conversation.last_message.is_none()),
        (0, true)
    );

    let first = fx.send(0, conversation, "first").await;
    let second = fx.send(1, conversation, "second").await;
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    let preview = view.conversation.last_message.clone().expect("preview");
    assert_eq!(
        (preview.id, preview.seq, preview.text.as_str()),
        (second.id, 2, "second")
    );
    assert_eq!(preview.sender, fx.user(1).user);
    assert_eq!(view.conversation.last_activity_at, second.created_at);
    assert!(second.created_at >= first.created_at);

    messages
        .edit(fx.user(1), conversation, second.id, "second, edited")
        .await
        .expect("edit");
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        view.conversation.last_message.map(|last| last.text),
        Some("second, edited".to_owned())
    );

    let deleted = messages
        .delete(fx.user(1), conversation, second.id)
        .await
        .expect("delete");
    assert!(deleted.message.deleted_at.is_some() && deleted.message.body.is_empty());
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        view.conversation.last_message.as_ref().map(|last| last.id),
        Some(first.id)
    );
    assert_eq!(view.conversation.last_seq, 2, "a deleted message keeps its seq");
    fx.bus.take();
    let again = messages
        .delete(fx.user(1), conversation, second.id)
        .await
        .expect("delete twice");
    assert_eq!(
        again.message.deleted_at, deleted.message.deleted_at,
        "deleting twice changes nothing"
    );
    assert!(fx.bus.take().is_empty(), "deleting twice tells nobody anything");
    assert!(matches!(
        messages.edit(fx.user(1), conversation, second.id, "zombie").await,
        Err(ChatError::Conflict { .. })
    ));

    messages
        .delete(fx.user(0), conversation, first.id)
        .await
        .expect("delete first");
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert!(view.conversation.last_message.is_none());
    let third = fx.send(0, conversation, "third").await;
    assert_eq!(third.seq, 3);
    let view = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(view.conversation.last_message.map(|last| last.id), Some(third.id));
    assert_consistent(&fx, 1, conversation).await;
}

/// Invariant 6 (listing): the inbox lists exactly the user's conversations, in activity
/// order, with archive, unread and tag filters.
pub async fn inbox_lists_exactly_the_users_conversations_in_activity_order(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let conversations = fx.conversations();
    let with_1 = fx.direct(0, 1).await;
    let (about_order, _) = conversations
        .start_direct(
            fx.user(0),
            StartDirect::with(fx.user(2).user.clone()).tagged(tag("Order", 7)),
        )
        .await
        .expect("tagged");
    let about_order = about_order.conversation.id;
    let group = fx.group(3, &[0, 1]).await;
    let not_mine = fx.direct(1, 2).await;
    fx.send(1, with_1, "hello").await;
    fx.send(2, about_order, "about the order").await;
    fx.send(3, group, "group hello").await;
    fx.send(1, not_mine, "private").await;
    fx.send(0, with_1, "newest").await;

    let ids = |page: &[ConversationView]| page.iter().map(|view| view.conversation.id).collect::<Vec<_>>();
    let inbox = conversations
        .inbox(fx.user(0), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(ids(&inbox.items), vec![with_1, group, about_order]);
    assert!(inbox.next_cursor.is_none());
    let unread: Vec<u64> = inbox.items.iter().map(ConversationView::unread_count).collect();
    assert_eq!(unread, vec![0, 1, 1]);

    conversations.archive(fx.user(0), group).await.expect("archive");
    let active = conversations
        .inbox(fx.user(0), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(ids(&active.items), vec![with_1, about_order]);
    let archived = InboxFilter {
        archive: ArchiveFilter::Archived,
        ..InboxFilter::default()
    };
    assert_eq!(
        ids(&conversations.inbox(fx.user(0), archived).await.expect("archived").items),
        vec![group]
    );
    let all = InboxFilter {
        archive: ArchiveFilter::All,
        ..InboxFilter::default()
    };
    assert_eq!(
        ids(&conversations.inbox(fx.user(0), all).await.expect("all").items),
        vec![with_1, group, about_order]
    );
    let unread_only = InboxFilter {
        unread_only: true,
        archive: ArchiveFilter::All,
        ..InboxFilter::default()
    };
    assert_eq!(
        ids(&conversations
            .inbox(fx.user(0), unread_only)
            .await
            .expect("unread")
            .items),
        vec![group, about_order]
    );
    let by_type = InboxFilter {
        tag: Some(TagFilter {
            taggable_type: "Order".into(),
            taggable_id: None,
        }),
        ..InboxFilter::default()
    };
    assert_eq!(
        ids(&conversations.inbox(fx.user(0), by_type).await.expect("by type").items),
        vec![about_order]
    );
    let by_id_as_text = InboxFilter {
        tag: Some(TagFilter {
            taggable_type: "Order".into(),
            taggable_id: Some(TaggableId::Str("7".into())),
        }),
        ..InboxFilter::default()
    };
    assert_eq!(
        ids(&conversations
            .inbox(fx.user(0), by_id_as_text)
            .await
            .expect("by id")
            .items),
        vec![about_order]
    );
    let other_id = InboxFilter {
        tag: Some(TagFilter {
            taggable_type: "Order".into(),
            taggable_id: Some(TaggableId::Int(8)),
        }),
        ..InboxFilter::default()
    };
    assert!(
        conversations
            .inbox(fx.user(0), other_id)
            .await
            .expect("other id")
            .items
            .is_empty()
    );
    let stats = conversations.stats(fx.user(0)).await.expect("stats");
    assert_eq!(
        (
            stats.total_conversations,
            stats.unread_conversations,
            stats.unread_messages
        ),
        (3, 2, 2)
    );
    let outsider = conversations
        .inbox(fx.user(3), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(ids(&outsider.items), vec![group]);
}

/// Invariant 6 (paging): cursor pages never repeat a conversation and never skip one whose
/// activity did not change, while messages arrive between and during page reads.
pub async fn inbox_cursor_pages_neither_skip_nor_repeat_while_messages_arrive(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let mut all = Vec::new();
    for order in 0..25_i64 {
        let input = StartDirect::with(fx.user(1).user.clone()).tagged(tag("Order", order));
        let (view, _) = conversations.start_direct(fx.user(0), input).await.expect("start");
        fx.send(1, view.conversation.id, "hi").await;
        all.push(view.conversation.id);
    }
    // A background writer touches conversations while the pages are read.
    let writer = {
        let fx = fx.clone();
        let targets = all.clone();
        tokio::spawn(async move {
            let mut touched = Vec::new();
            for step in 0..12 {
                let id = targets[(step * 7) % targets.len()];
                fx.send(1, id, "while paging").await;
                touched.push(id);
                tokio::task::yield_now().await;
            }
            touched
        })
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut step = 0;
    loop {
        let filter = InboxFilter {
            cursor: cursor.clone(),
            limit: Some(4),
            ..InboxFilter::default()
        };
        let page = conversations.inbox(fx.user(0), filter).await.expect("page");
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|view| view.conversation.id));
        // Between pages, touch one already listed and one not yet listed.
        fx.send(1, all[step % all.len()], "between pages").await;
        fx.send(1, all[(all.len() - 1 - step) % all.len()], "between pages")
            .await;
        step += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(step < 50, "paging must end");
    }
    let mut touched: HashSet<ConversationId> = writer.await.expect("writer").into_iter().collect();
    touched.extend((0..step).flat_map(|s| [all[s % all.len()], all[(all.len() - 1 - s) % all.len()]]));
    let unique: HashSet<ConversationId> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no conversation is listed twice");
    for id in &all {
        if !touched.contains(id) {
            assert!(unique.contains(id), "an untouched conversation is never skipped");
        }
    }
    // A fresh walk after the writes lists everything exactly once.
    let mut fresh = Vec::new();
    let mut cursor = None;
    loop {
        let filter = InboxFilter {
            cursor,
            limit: Some(7),
            ..InboxFilter::default()
        };
        let page = conversations.inbox(fx.user(0), filter).await.expect("page");
        fresh.extend(page.items.iter().map(|view| view.conversation.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let fresh_set: BTreeSet<ConversationId> = fresh.iter().copied().collect();
    assert_eq!(fresh.len(), all.len());
    assert_eq!(fresh_set, all.iter().copied().collect());
}

/// Invariant 7: every operation by a non-participant answers NotFound (exactly as an
/// unknown id) and publishes nothing to anyone.
pub async fn non_participants_get_not_found_and_no_events(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let direct = fx.direct(0, 1).await;
    let group = fx.group(0, &[1]).await;
    let message = fx.send(0, direct, "secret").await;
    let group_message = fx.send(0, group, "group secret").await;
    let unknown = ConversationId::new_v7();
    let outsider = fx.user(2);
    let conversations = fx.conversations();
    let messages = fx.messages();
    fx.bus.take();

    for (conversation, message_id) in [
        (direct, message.id),
        (group, group_message.id),
        (unknown, MessageId::new_v7()),
    ] {
        let results: Vec<(&str, Result<(), ChatError>)> = vec![
            ("get", conversations.get(outsider, conversation).await.map(drop)),
            (
                "mark_read",
                conversations.mark_read(outsider, conversation, None).await.map(drop),
            ),
            (
                "mark_read up to",
                conversations.mark_read(outsider, conversation, Some(1)).await.map(drop),
            ),
            ("archive", conversations.archive(outsider, conversation).await.map(drop)),
            (
                "unarchive",
                conversations.unarchive(outsider, conversation).await.map(drop),
            ),
            (
                "clear_history",
                conversations.clear_history(outsider, conversation).await.map(drop),
            ),
            (
                "add_participants",
                conversations
                    .add_participants(outsider, conversation, vec![fx.user(3).user.clone()])
                    .await
                    .map(drop),
            ),
            (
                "remove_participant",
                conversations
                    .remove_participant(outsider, conversation, &fx.user(1).user)
                    .await
                    .map(drop),
            ),
            ("leave", conversations.leave(outsider, conversation).await.map(drop)),
            (
                "send",
                messages
                    .send(outsider, conversation, SendMessage::text("let me in"))
                    .await
                    .map(drop),
            ),
            (
                "history",
                messages
                    .history(outsider, conversation, None, None, None)
                    .await
                    .map(drop),
            ),
            (
                "history after",
                messages
                    .history(outsider, conversation, None, Some(0), None)
                    .await
                    .map(drop),
            ),
            (
                "edit",
                messages
                    .edit(outsider, conversation, message_id, "mine now")
                    .await
                    .map(drop),
            ),
            (
                "delete",
                messages.delete(outsider, conversation, message_id).await.map(drop),
            ),
            ("typing", messages.typing(outsider, conversation).await.map(drop)),
        ];
        for (operation, result) in results {
            assert!(
                matches!(result, Err(ChatError::NotFound { what: "conversation" })),
                "{operation} by a non-participant must be NotFound(conversation), got {result:?}"
            );
        }
    }
    assert!(
        fx.bus.events().is_empty(),
        "no event may be published for a refused operation"
    );
    let inbox = conversations
        .inbox(outsider, InboxFilter::default())
        .await
        .expect("inbox");
    assert!(inbox.items.is_empty());
    let search = conversations.search(outsider, "Group", None).await.expect("search");
    assert!(search.is_empty());
    let stats = conversations.stats(outsider).await.expect("stats");
    assert_eq!(stats.total_conversations, 0);
    let view = conversations.get(fx.user(1), direct).await.expect("member still reads");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(view.participants.len(), 2);
}

/// Invariant 7 (messages): only the sender edits or deletes; message ids from elsewhere
/// are NotFound.
pub async fn only_the_sender_edits_or_deletes(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let other = fx.direct(0, 2).await;
    let mine = fx.send(0, conversation, "mine").await;
    let elsewhere = fx.send(0, other, "elsewhere").await;
    fx.bus.take();
    assert!(matches!(
        messages.edit(fx.user(1), conversation, mine.id, "hijack").await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(matches!(
        messages.delete(fx.user(1), conversation, mine.id).await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(matches!(
        messages
            .edit(fx.user(0), conversation, elsewhere.id, "wrong conversation")
            .await,
        Err(ChatError::NotFound { what: "message" })
    ));
    assert!(matches!(
        messages.delete(fx.user(0), conversation, MessageId::new_v7()).await,
        Err(ChatError::NotFound { what: "message" })
    ));
    assert!(fx.bus.events().is_empty());
    let history = all_history(&fx, 1, conversation).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].body.as_str(), history[0].edited_at, history[0].deleted_at),
        ("mine", None, None)
    );

    let edited = messages
        .edit(fx.user(0), conversation, mine.id, "  mine, edited ")
        .await
        .expect("edit");
    assert_eq!(edited.message.body, "mine, edited");
    assert!(edited.message.edited_at.is_some());
    let kinds: Vec<&str> = fx.bus.take().iter().map(|event| event.payload.type_name()).collect();
    assert_eq!(kinds, vec!["message.updated", "conversation.updated"]);
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

/// Group rules: any member adds, the owner removes others, anyone leaves, ownership passes
/// on, the size limit holds, direct conversations keep their pair.
pub async fn group_membership_rules(store: Arc<dyn Store>) {
    let limits = Limits {
        group_max_participants: 4,
        ..Limits::default()
    };
    let fx = Fixture::with_limits(store, 6, limits);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1, 2]).await;
    fx.send(0, group, "before 3 joined").await;
    let view = conversations.get(fx.user(0), group).await.expect("get");
    let roles: Vec<(String, Role)> = view
        .participants
        .iter()
        .map(|p| (p.participant.user.to_string(), p.participant.role))
        .collect();
    assert_eq!(roles[0], ("u0".to_owned(), Role::Owner));
    assert!(roles[1..].iter().all(|(_, role)| *role == Role::Member));

    fx.bus.take();
    let added = conversations
        .add_participants(fx.user(1), group, vec![fx.user(3).user.clone()])
        .await
        .expect("add");
    assert_eq!(added.participants.len(), 4);
    let joined = conversations.get(fx.user(3), group).await.expect("new member reads");
    assert_eq!(joined.unread_count(), 0, "a new member starts with everything read");
    assert_eq!(
        all_history(&fx, 3, group).await.len(),
        1,
        "a new member sees the history"
    );
    let events = fx.bus.take();
    let created_for: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.payload, EventPayload::ConversationCreated(_)))
        .flat_map(|e| e.recipients.clone())
        .collect();
    assert_eq!(created_for, vec![fx.user(3).user.clone()]);

    let too_many = conversations
        .add_participants(fx.user(0), group, vec![fx.user(4).user.clone()])
        .await;
    assert!(
        too_many
            .as_ref()
            .err()
            .and_then(ChatError::field_errors)
            .is_some_and(|e| e.fields().contains_key("participant_uuids"))
    );
    assert!(matches!(
        conversations
            .remove_participant(fx.user(1), group, &fx.user(2).user)
            .await,
        Err(ChatError::PermissionDenied { .. })
    ));
    conversations
        .remove_participant(fx.user(0), group, &fx.user(2).user)
        .await
        .expect("owner removes");
    assert!(
        conversations
            .get(fx.user(2), group)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        fx.messages()
            .send(fx.user(2), group, SendMessage::text("still here?"))
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(matches!(
        conversations
            .remove_participant(fx.user(0), group, &fx.user(5).user)
            .await,
        Err(ChatError::NotFound { .. })
    ));

    let after_leave = conversations.leave(fx.user(0), group).await.expect("owner leaves");
    assert!(after_leave.me().is_none());
    let view = conversations.get(fx.user(1), group).await.expect("get");
    let owner: Vec<String> = view
        .participants
        .iter()
        .filter(|p| p.participant.role == Role::Owner)
        .map(|p| p.participant.user.to_string())
        .collect();
    assert_eq!(
        owner,
        vec!["u1".to_owned()],
        "the longest-standing member inherits the group"
    );
    conversations
        .remove_participant(fx.user(1), group, &fx.user(3).user)
        .await
        .expect("new owner removes");

    let direct = fx.direct(0, 1).await;
    assert!(matches!(
        conversations
            .add_participants(fx.user(0), direct, vec![fx.user(2).user.clone()])
            .await,
        Err(ChatError::Conflict { .. })
    ));
    assert!(matches!(
        conversations.leave(fx.user(0), direct).await,
        Err(ChatError::Conflict { .. })
    ));
}

/// Invariant 7 (atomic membership): once a removal has returned, the removed member's sends
/// fail, every send acknowledged before it is in the history exactly once, and none of the
/// removed member's messages comes after the removal.
///
/// The removal races the sends: several senders are acknowledged before it starts, keep
/// sending while it runs and until a send they start after it returned is refused. A
/// membership check made outside the writing transaction lets one of those in-flight sends
/// land after the removal (a seq past the removal's `last_seq`). Whether a send falls into
/// that window is luck, so the race is run several times, on a fresh group each.
pub async fn removed_member_cannot_slip_a_message_in(store: Arc<dyn Store>) {
    const ROUNDS: usize = 5;
    let fx = Fixture::new(store, 3);
    for _ in 0..ROUNDS {
        race_a_removal_against_sends(&fx).await;
    }
}

/// One round of [`removed_member_cannot_slip_a_message_in`]: user 1 is removed from a new
/// group of user 0 while sending to it.
async fn race_a_removal_against_sends(fx: &Fixture) {
    const SENDERS: usize = 3;
    /// Acknowledged sends to wait for before removing, so the senders are in full flow.
    const BEFORE_REMOVAL: usize = 8;
    let group = fx.group(0, &[1, 2]).await;
    let removed = Arc::new(AtomicBool::new(false));
    let acknowledged_so_far = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let fx = fx.clone();
            let removed = Arc::clone(&removed);
            let acknowledged_so_far = Arc::clone(&acknowledged_so_far);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut refused_after_removal = 0;
                for n in 0.. {
                    let started_after_removal = removed.load(Ordering::SeqCst);
                    match fx
                        .messages()
                        .send(fx.user(1), group, SendMessage::text(format!("s{sender} m{n}")))
                        .await
                    {
                        Ok(sent) => {
                            assert!(
                                !started_after_removal,
                                "a send started after the removal returned was acknowledged"
                            );
                            acknowledged.push(sent.message.message);
                            acknowledged_so_far.fetch_add(1, Ordering::SeqCst);
                        }
                        // Refused while the removal ran: keep going until a send started
                        // after it returned is refused too.
                        Err(error) if error.is_not_found() => {
                            if started_after_removal {
                                refused_after_removal += 1;
                                break;
                            }
                        }
                        Err(error) => panic!("unexpected error {error}"),
                    }
                    tokio::task::yield_now().await;
                }
                (acknowledged, refused_after_removal)
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged_so_far.load(Ordering::SeqCst) < BEFORE_REMOVAL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the senders were not acknowledged in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let removal = fx
        .conversations()
        .remove_participant(fx.user(0), group, &fx.user(1).user)
        .await
        .expect("remove");
    removed.store(true, Ordering::SeqCst);
    let removal_seq = removal.conversation.last_seq;
    let late = fx
        .messages()
        .send(fx.user(1), group, SendMessage::text("after removal"))
        .await;
    assert!(late.is_err_and(|e| e.is_not_found()));
    let mut acknowledged = Vec::new();
    let mut refused_after_removal = 0;
    for sender in senders {
        let (sent, refused) = sender.await.expect("sender");
        acknowledged.extend(sent);
        refused_after_removal += refused;
    }
    // The sends overlapped the removal: some acknowledged before it started, some refused
    // after it returned.
    assert!(acknowledged.len() >= BEFORE_REMOVAL);
    assert_eq!(refused_after_removal, SENDERS);
    for message in &acknowledged {
        assert!(
            message.seq <= removal_seq,
            "acknowledged send seq {} after the removal at seq {removal_seq}",
            message.seq
        );
    }
    let history = all_history(fx, 0, group).await;
    let mut from_removed: Vec<(u64, MessageId)> = history
        .iter()
        .filter(|m| m.sender == fx.user(1).user)
        .map(|m| (m.seq, m.id))
        .collect();
    if let Some(&(seq, _)) = from_removed.iter().find(|(seq, _)| *seq > removal_seq) {
        panic!("a message of the removed member at seq {seq}, after the removal at seq {removal_seq}");
    }
    let mut expected: Vec<(u64, MessageId)> = acknowledged.iter().map(|m| (m.seq, m.id)).collect();
    from_removed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        from_removed, expected,
        "exactly the acknowledged sends are stored, once each"
    );
    assert_consistent(fx, 0, group).await;
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
    assert_eq!(sent[14].sender, fx.user(1).user);
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
    assert_eq!(
        page[0].sender.id, sent[14].sender,
        "history carries the sender's profile"
    );
    assert_ne!(page[0].sender.name, "Unknown user");
}

/// Tenants never see each other, even with the same user ids.
pub async fn tenants_never_see_each_other(store: Arc<dyn Store>) {
    let a = Fixture::new(Arc::clone(&store), 2);
    let b = Fixture::new(store, 2);
    assert_eq!(a.user(0).user, b.user(0).user);
    let in_a = a.direct(0, 1).await;
    a.send(0, in_a, "tenant a").await;
    assert!(
        b.conversations()
            .get(b.user(0), in_a)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        b.messages()
            .send(b.user(0), in_a, SendMessage::text("x"))
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        b.conversations()
            .inbox(b.user(1), InboxFilter::default())
            .await
            .expect("inbox")
            .items
            .is_empty()
    );
    assert_eq!(
        b.conversations()
            .stats(b.user(1))
            .await
            .expect("stats")
            .total_conversations,
        0
    );
    let in_b = b.direct(1, 0).await;
    assert_ne!(in_a, in_b, "the same pair in another tenant is another conversation");
}

/// Search by group title and by another participant's name, only among the user's own.
pub async fn search_finds_by_title_and_participant_name(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let conversations = fx.conversations();
    let input = NewGroupInput {
        participants: vec![fx.user(1).user.clone(), fx.user(2).user.clone()],
        title: "Weekend Hiking Trip".into(),
        tag: None,
        metadata: Default::default(),
    };
    let hiking = conversations
        .create_group(fx.user(0), input)
        .await
        .expect("group")
        .conversation
        .id;
    let with_bruno = fx.direct(0, 1).await;
    let with_chloe = fx.direct(0, 2).await;
    let not_mine = fx.direct(1, 3).await;
    let found: HashSet<ConversationId> = conversations
        .search(fx.user(0), "hiking", None)
        .await
        .expect("search")
        .iter()
        .map(|v| v.conversation.id)
        .collect();
    assert_eq!(found, HashSet::from([hiking]));
    // "Bruno Díaz 1" is user u1: in the hiking group and the direct conversation.
    let found: HashSet<ConversationId> = conversations
        .search(fx.user(0), "bruno", None)
        .await
        .expect("search")
        .iter()
        .map(|v| v.conversation.id)
        .collect();
    assert_eq!(found, HashSet::from([hiking, with_bruno]));
    let found: Vec<ConversationId> = conversations
        .search(fx.user(3), "bruno", None)
        .await
        .expect("search")
        .iter()
        .map(|v| v.conversation.id)
        .collect();
    assert_eq!(found, vec![not_mine]);
    assert!(!found.contains(&with_chloe));
    assert!(
        conversations
            .search(fx.user(0), "nobody by this name", None)
            .await
            .expect("search")
            .is_empty()
    );
}

/// Invalid input is a validation error naming the field; nothing is stored or published.
pub async fn invalid_input_is_a_validation_error_that_changes_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let hello = fx.send(0, conversation, "hello").await;
    fx.bus.take();
    let field_of = |result: Result<(), ChatError>| -> Vec<String> {
        match result {
            Err(ChatError::Validation(errors)) => errors.fields().keys().cloned().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    };
    let u0 = fx.user(0);
    let long = "x".repeat(4001);
    let stranger = crate::ids::UserId::new("not-in-directory").expect("id");
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("   "))
                .await
                .map(drop)
        ),
        ["body"]
    );
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text(long.clone()))
                .await
                .map(drop)
        ),
        ["body"]
    );
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("x").with_client_message_id(""))
                .await
                .map(drop)
        ),
        ["client_message_id"]
    );
    assert_eq!(
        field_of(
            messages
                .send(
                    u0,
                    conversation,
                    SendMessage::text("x").with_client_message_id("caf\u{e9}")
                )
                .await
                .map(drop)
        ),
        ["client_message_id"],
        "a retry key is printable ASCII for a host calling the services too"
    );
    let nul_tag = crate::service::InboxFilter {
        tag: Some(crate::tag::TagFilter {
            taggable_type: "Order\0".into(),
            taggable_id: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        field_of(conversations.inbox(u0, nul_tag).await.map(drop)),
        ["taggable_type"],
        "an inbox tag filter follows the tag rules"
    );
    // NUL characters, which no database text column holds, are refused before any store.
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("a\0b"))
                .await
                .map(drop)
        ),
        ["body"]
    );
    let mut nul_metadata = SendMessage::text("ok");
    nul_metadata
        .metadata
        .insert("k".into(), serde_json::json!({"nested": ["x\u{0}"]}));
    assert_eq!(
        field_of(messages.send(u0, conversation, nul_metadata).await.map(drop)),
        ["metadata"]
    );
    assert_eq!(
        field_of(messages.edit(u0, conversation, hello.id, "b\0").await.map(drop)),
        ["body"],
        "an edit of a real message"
    );
    let mut big = SendMessage::text("x");
    big.metadata
        .insert("blob".into(), serde_json::Value::String("y".repeat(5000)));
    assert_eq!(
        field_of(messages.send(u0, conversation, big).await.map(drop)),
        ["metadata"]
    );
    assert_eq!(
        field_of(messages.edit(u0, conversation, MessageId::new_v7(), "").await.map(drop)),
        ["body"]
    );
    assert_eq!(
        field_of(messages.history(u0, conversation, None, None, Some(0)).await.map(drop)),
        ["limit"]
    );
    assert_eq!(
        field_of(
            messages
                .history(u0, conversation, None, None, Some(101))
                .await
                .map(drop)
        ),
        ["limit"]
    );
    assert_eq!(
        field_of(
            conversations
                .start_direct(u0, StartDirect::with(u0.user.clone()))
                .await
                .map(drop)
        ),
        ["participant_uuid"]
    );
    assert_eq!(
        field_of(
            conversations
                .start_direct(u0, StartDirect::with(stranger.clone()))
                .await
                .map(drop)
        ),
        ["participant_uuid"]
    );
    let long_type = StartDirect::with(fx.user(1).user.clone()).tagged(tag(&"T".repeat(256), 1));
    assert_eq!(
        field_of(conversations.start_direct(u0, long_type).await.map(drop)),
        ["taggable_type"]
    );
    let group = |participants: Vec<crate::ids::UserId>, title: &str| NewGroupInput {
        participants,
        title: title.to_owned(),
        tag: None,
        metadata: Default::default(),
    };
    assert_eq!(
        field_of(conversations.create_group(u0, group(vec![], "t")).await.map(drop)),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![u0.user.clone()], "t"))
                .await
                .map(drop)
        ),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![stranger.clone()], "t"))
                .await
                .map(drop)
        ),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![fx.user(1).user.clone()], " "))
                .await
                .map(drop)
        ),
        ["title"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![fx.user(1).user.clone()], &"t".repeat(201)))
                .await
                .map(drop)
        ),
        ["title"]
    );
    let bad_cursor = InboxFilter {
        cursor: Some("not-a-cursor".into()),
        ..InboxFilter::default()
    };
    assert_eq!(
        field_of(conversations.inbox(u0, bad_cursor).await.map(drop)),
        ["cursor"]
    );
    let bad_limit = InboxFilter {
        limit: Some(0),
        ..InboxFilter::default()
    };
    assert_eq!(field_of(conversations.inbox(u0, bad_limit).await.map(drop)), ["limit"]);
    assert_eq!(field_of(conversations.search(u0, "  ", None).await.map(drop)), ["q"]);
    assert_eq!(field_of(conversations.search(u0, "a\0b", None).await.map(drop)), ["q"]);

    assert!(fx.bus.events().is_empty(), "a refused operation publishes nothing");
    let view = conversations.get(u0, conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(
        view.conversation.last_message.map(|last| last.text),
        Some("hello".to_owned()),
        "the preview is the untouched message"
    );
    assert_eq!(
        conversations
            .inbox(u0, InboxFilter::default())
            .await
            .expect("inbox")
            .items
            .len(),
        1
    );
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
