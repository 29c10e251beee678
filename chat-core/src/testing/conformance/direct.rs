//! Direct conversations (invariant 1): find-or-create is idempotent and symmetric, also
//! when many tasks race for the same pair.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::model::ConversationKind;
use crate::service::{InboxFilter, NewGroupInput, StartDirect};
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

/// Issue 13: a user may start `Limits::conversations_started_per_hour` conversations (direct
/// and group); past it a start is `RateLimited`, but an existing direct conversation still
/// opens (finding it never counts, on any store: `crate::store::ConversationStore::find_direct`), for either member,
/// and other users keep their own budget.
pub async fn starting_conversations_is_rate_limited_per_user(store: Arc<dyn Store>) {
    let limits = crate::Limits {
        conversations_started_per_hour: 3,
        ..crate::Limits::default()
    };
    let fx = Fixture::with_limits(store, 4, limits);
    let conversations = fx.conversations();
    let about = |id: i64| StartDirect::with(fx.user(1).user.clone()).tagged(tag("Order", id));
    let (first, created) = conversations.start_direct(fx.user(0), about(1)).await.expect("start");
    assert!(created);
    // Finding the same one again, while within budget, does not count.
    for _ in 0..5 {
        let (again, created) = conversations.start_direct(fx.user(0), about(1)).await.expect("find");
        assert!(!created && again.conversation.id == first.conversation.id);
    }
    conversations.start_direct(fx.user(0), about(2)).await.expect("second");
    fx.group(0, &[2]).await;
    let limited = conversations.start_direct(fx.user(0), about(3)).await;
    let Err(ChatError::RateLimited { retry_after }) = limited else {
        panic!("the fourth start is limited: {limited:?}");
    };
    assert!(retry_after >= std::time::Duration::from_secs(1));
    let group = NewGroupInput {
        participants: vec![fx.user(2).user.clone()],
        title: "one more".into(),
        tag: None,
        metadata: Default::default(),
    };
    assert!(matches!(
        conversations.create_group(fx.user(0), group).await,
        Err(ChatError::RateLimited { .. })
    ));
    // At the limit, the existing conversation still opens, from either side.
    let (found, created) = conversations
        .start_direct(fx.user(0), about(1))
        .await
        .expect("existing");
    assert!(!created && found.conversation.id == first.conversation.id);
    let reverse = StartDirect::with(fx.user(0).user.clone()).tagged(tag("Order", "1"));
    let (found, created) = conversations.start_direct(fx.user(1), reverse).await.expect("existing");
    assert!(!created && found.conversation.id == first.conversation.id);
    // Another user has a budget of their own; a refused start created nothing.
    fx.direct(1, 3).await;
    let inbox = conversations
        .inbox(fx.user(0), InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(inbox.items.len(), 3);
}

/// Issue 32, item 10: adding people to a group counts toward the same hourly limit, one per
/// call that adds anyone, so adding and removing someone over and over is bounded; a call
/// that adds nobody (all already members) is free, and a refused add changes nothing.
pub async fn adding_people_to_groups_is_rate_limited_per_user(store: Arc<dyn Store>) {
    let limits = crate::Limits {
        conversations_started_per_hour: 3,
        ..crate::Limits::default()
    };
    let fx = Fixture::with_limits(store, 4, limits);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1]).await;
    let victim = || vec![fx.user(2).user.clone()];
    conversations
        .add_participants(fx.user(0), group, victim())
        .await
        .expect("first add");
    for _ in 0..3 {
        conversations
            .add_participants(fx.user(0), group, victim())
            .await
            .expect("adding a member again adds nobody and is free");
    }
    let remove = || conversations.remove_participant(fx.user(0), group, &fx.user(2).user);
    remove().await.expect("remove");
    conversations
        .add_participants(fx.user(0), group, victim())
        .await
        .expect("the third token: the group, the first add and this one");
    remove().await.expect("remove again");
    let limited = conversations.add_participants(fx.user(0), group, victim()).await;
    assert!(
        matches!(limited, Err(ChatError::RateLimited { .. })),
        "past the limit: {limited:?}"
    );
    let view = conversations.get(fx.user(0), group).await.expect("group");
    assert_eq!(view.participants.len(), 2, "the refused add changed nothing");
    // Another member has a budget of their own.
    conversations
        .add_participants(fx.user(1), group, victim())
        .await
        .expect("another member adds");
}
