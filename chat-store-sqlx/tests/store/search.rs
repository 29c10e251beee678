//! Search details beyond the conformance case: a conversation matching by title and by
//! participant is listed once, members added later find the group by title, archived
//! conversations are included, and results come in inbox order.

use std::sync::Arc;

use chat_core::testing::{Fixture, MemoryStore};
use chat_core::{NewGroupInput, Store};

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_lists_each_match_once_in_inbox_order() {
    let Some(test_store) = common::conformance_store().await else {
        return;
    };
    check(Arc::clone(&test_store.store)).await;
}

/// The reference store answers the same, so the expectations above are the contract's.
#[tokio::test]
async fn the_reference_store_agrees() {
    check(Arc::new(MemoryStore::new())).await;
}

async fn check(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let conversations = fx.conversations();
    // "Bruno Díaz 1" is u1: this group matches "bruno" by title and by participant.
    let fans = conversations
        .create_group(
            fx.user(0),
            NewGroupInput {
                participants: vec![fx.user(1).user.clone()],
                title: "Bruno's Fans".into(),
                tag: None,
                metadata: Default::default(),
            },
        )
        .await
        .expect("group")
        .conversation
        .id;
    let direct = fx.direct(0, 1).await;
    fx.send(0, fans, "newest activity").await;
    conversations.archive(fx.user(0), direct).await.expect("archive");
    let found: Vec<_> = conversations
        .search(fx.user(0), "bruno", None)
        .await
        .expect("search")
        .iter()
        .map(|view| view.conversation.id)
        .collect();
    assert_eq!(found, vec![fans, direct], "once each, newest first, archived included");

    // A member added later finds the group by its title.
    conversations
        .add_participants(fx.user(0), fans, vec![fx.user(2).user.clone()])
        .await
        .expect("add");
    let found: Vec<_> = conversations
        .search(fx.user(2), "FANS", None)
        .await
        .expect("search")
        .iter()
        .map(|view| view.conversation.id)
        .collect();
    assert_eq!(found, vec![fans]);
    // Limits apply to the merged list.
    let limited = conversations
        .search(fx.user(0), "bruno", Some(1))
        .await
        .expect("search");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].conversation.id, fans);
}
