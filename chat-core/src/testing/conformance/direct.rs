//! Direct conversations (invariant 1): find-or-create is idempotent and symmetric, also
//! when many tasks race for the same pair.

use std::collections::HashSet;
use std::sync::Arc;

use crate::events::EventPayload;
use crate::model::ConversationKind;
use crate::service::{InboxFilter, StartDirect};
use crate::store::Store;
use crate::tag::TaggableId;
use crate::testing::fixtures::Fixture;

use super::tag;

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
