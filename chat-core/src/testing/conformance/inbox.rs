//! The inbox and search (invariant 6): exactly the user's conversations in activity order,
//! cursor pages that neither skip nor repeat, search among the user's own conversations.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use crate::ids::ConversationId;
use crate::service::{InboxFilter, NewGroupInput, StartDirect};
use crate::store::{ArchiveFilter, Store};
use crate::tag::{TagFilter, TaggableId};
use crate::testing::fixtures::Fixture;
use crate::view::ConversationView;

use super::tag;

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
    // Case and accents fold (issue 13): `diaz` finds Bruno Díaz, `ines` the title `Inés`.
    let search = |query: &'static str| {
        let conversations = conversations.clone();
        let me = fx.user(0).clone();
        async move {
            conversations
                .search(&me, query, None)
                .await
                .expect("search")
                .iter()
                .map(|v| v.conversation.id)
                .collect::<HashSet<ConversationId>>()
        }
    };
    assert_eq!(search("diaz").await, HashSet::from([hiking, with_bruno]));
    assert_eq!(search("CHLOE").await, HashSet::from([hiking, with_chloe]));
    let input = NewGroupInput {
        participants: vec![fx.user(3).user.clone()],
        title: "Café con Inés".into(),
        tag: None,
        metadata: Default::default(),
    };
    let cafe = conversations
        .create_group(fx.user(0), input)
        .await
        .expect("group")
        .conversation
        .id;
    for query in ["cafe con ines", "INÉS", "ines", "CAFÉ"] {
        assert_eq!(search(query).await, HashSet::from([cafe]), "{query}");
    }
}
