//! Scale check (ignored by default, it takes a while): an inbox page, a history page,
//! stats, find-or-create and a send cost the same for a user with few conversations as
//! for one with many, and in a short conversation as in a long one.
//!
//! ```text
//! cargo test -p chat-store-sled --release --test store scale:: -- --ignored --nocapture
//! CHAT_SCALE_CONVERSATIONS=100000 CHAT_SCALE_MESSAGES=1000000 cargo test ...   # the issue's sizes
//! ```

use chat_core::store::ConversationStore;
use std::time::{Duration, Instant};

use chat_core::backend::InboxCursor;
use chat_core::store::{HistoryQuery, InboxQuery, NewDirect, NewMessage, ReadUpTo};
use chat_core::{ConversationId, Identity, TenantId, UserId};
use chat_store_sled::{Durability, SledStore};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn id(text: &str) -> UserId {
    UserId::new(text).expect("user id")
}

/// The median of `runs` timings of `operation`.
async fn median<F, Fut>(runs: usize, mut operation: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let start = Instant::now();
        operation(run).await;
        times.push(start.elapsed());
    }
    times.sort();
    times[runs / 2]
}

async fn direct(store: &SledStore, tenant: &TenantId, a: &UserId, b: &UserId) -> ConversationId {
    let caller = Identity::new(tenant.clone(), a.clone());
    let new = NewDirect {
        counterpart: b.clone(),
        tag: None,
        metadata: Default::default(),
    };
    store
        .find_or_create_direct(&caller, new)
        .await
        .expect("direct")
        .0
        .conversation
        .id
}

async fn send(store: &SledStore, tenant: &TenantId, conversation: ConversationId, sender: &UserId) {
    let caller = Identity::new(tenant.clone(), sender.clone());
    let new = NewMessage {
        notify_after: None,
        attachments: Vec::new(),
        conversation_id: conversation,
        body: "a message of ordinary length, about as long as people write".to_owned(),
        client_message_id: None,
        reply_to: None,
        metadata: Default::default(),
    };
    store.append_message(&caller, new).await.expect("send");
}

struct Costs {
    inbox_first: Duration,
    inbox_deep: Duration,
    stats: Duration,
    find_existing: Duration,
}

async fn user_costs(store: &SledStore, tenant: &TenantId, user: &UserId, partner: &UserId) -> Costs {
    let caller = &Identity::new(tenant.clone(), user.clone());
    let first = store
        .inbox_page(
            caller,
            InboxQuery {
                limit: 10,
                ..InboxQuery::default()
            },
        )
        .await
        .expect("inbox");
    let middle = first.get(4).map(|row| InboxCursor {
        last_activity_at: row.conversation.last_activity_at,
        id: row.conversation.id,
    });
    let inbox_first = median(21, |_| async {
        let query = InboxQuery {
            limit: 10,
            ..InboxQuery::default()
        };
        store.inbox_page(caller, query).await.expect("inbox");
    })
    .await;
    let inbox_deep = median(21, |_| async {
        let query = InboxQuery {
            limit: 10,
            after: middle,
            ..InboxQuery::default()
        };
        store.inbox_page(caller, query).await.expect("inbox");
    })
    .await;
    let stats = median(101, |_| async {
        store.stats(caller).await.expect("stats");
    })
    .await;
    let find_existing = median(51, |_| async {
        direct(store, tenant, user, partner).await;
    })
    .await;
    Costs {
        inbox_first,
        inbox_deep,
        stats,
        find_existing,
    }
}

struct ConversationCosts {
    newest_page: Duration,
    middle_page: Duration,
    send: Duration,
    read_up_to_middle: Duration,
}

async fn conversation_costs(
    store: &SledStore,
    tenant: &TenantId,
    conversation: ConversationId,
    a: &UserId,
    b: &UserId,
    messages: u64,
) -> ConversationCosts {
    let (caller_a, caller_b) = (
        &Identity::new(tenant.clone(), a.clone()),
        &Identity::new(tenant.clone(), b.clone()),
    );
    let newest_page = median(21, |_| async {
        let query = HistoryQuery {
            limit: 50,
            ..HistoryQuery::default()
        };
        store
            .history_page(caller_a, conversation, query)
            .await
            .expect("history");
    })
    .await;
    let middle_page = median(21, |_| async {
        let query = HistoryQuery {
            after: Some(messages / 2),
            limit: 50,
            ..HistoryQuery::default()
        };
        store
            .history_page(caller_a, conversation, query)
            .await
            .expect("history");
    })
    .await;
    let send_cost = median(21, |_| send(store, tenant, conversation, a)).await;
    let read_up_to_middle = median(21, |run| async move {
        // b reads a bit further each run, far below the newest message.
        let up_to = ReadUpTo::Seq(messages / 2 + run as u64);
        store.mark_read(caller_b, conversation, up_to).await.expect("read");
    })
    .await;
    ConversationCosts {
        newest_page,
        middle_page,
        send: send_cost,
        read_up_to_middle,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: populates a large database; run with --ignored --nocapture"]
async fn costs_do_not_grow_with_conversations_or_history() {
    let conversations = env("CHAT_SCALE_CONVERSATIONS", 20_000);
    let messages = env("CHAT_SCALE_MESSAGES", 200_000);
    let store = chat_store_sled::SledStoreBuilder::new()
        .temporary()
        .durability(Durability::Relaxed)
        .open()
        .await
        .expect("store");
    let tenant = TenantId::default();
    let (small, big, partner) = (id("small-user"), id("big-user"), id("partner"));

    let clock = Instant::now();
    for n in 0..10 {
        let other = id(&format!("s{n}"));
        let conversation = direct(&store, &tenant, &small, &other).await;
        send(&store, &tenant, conversation, &other).await;
    }
    direct(&store, &tenant, &small, &partner).await;
    for n in 0..conversations {
        let other = id(&format!("b{n}"));
        let conversation = direct(&store, &tenant, &big, &other).await;
        send(&store, &tenant, conversation, &other).await;
    }
    direct(&store, &tenant, &big, &partner).await;
    let short = direct(&store, &tenant, &id("short-a"), &id("short-b")).await;
    let long = direct(&store, &tenant, &id("long-a"), &id("long-b")).await;
    for n in 0..10 {
        send(
            &store,
            &tenant,
            short,
            &id(if n % 2 == 0 { "short-a" } else { "short-b" }),
        )
        .await;
    }
    for n in 0..messages {
        send(&store, &tenant, long, &id(if n % 2 == 0 { "long-a" } else { "long-b" })).await;
    }
    eprintln!(
        "populated {conversations} conversations and {messages} messages in {:.1}s",
        clock.elapsed().as_secs_f64()
    );

    let few = user_costs(&store, &tenant, &small, &partner).await;
    let many = user_costs(&store, &tenant, &big, &partner).await;
    let short_costs = conversation_costs(&store, &tenant, short, &id("short-a"), &id("short-b"), 10).await;
    let long_costs = conversation_costs(&store, &tenant, long, &id("long-a"), &id("long-b"), messages as u64).await;

    let rows = [
        ("inbox first page (10)", few.inbox_first, many.inbox_first),
        ("inbox page via cursor", few.inbox_deep, many.inbox_deep),
        ("stats", few.stats, many.stats),
        ("find-or-create (existing)", few.find_existing, many.find_existing),
        (
            "history newest page (50)",
            short_costs.newest_page,
            long_costs.newest_page,
        ),
        (
            "history page after a seq",
            short_costs.middle_page,
            long_costs.middle_page,
        ),
        ("send", short_costs.send, long_costs.send),
        (
            "mark read below the newest",
            short_costs.read_up_to_middle,
            long_costs.read_up_to_middle,
        ),
    ];
    eprintln!("{:<28} {:>12} {:>12}", "median of each operation", "small", "large");
    for (name, small_cost, large_cost) in rows {
        eprintln!("{name:<28} {small_cost:>12.2?} {large_cost:>12.2?}");
    }
    for (name, small_cost, large_cost) in rows {
        // Generous: a full scan would be hundreds or thousands of times slower.
        let limit = small_cost.max(Duration::from_micros(200)) * 10;
        assert!(
            large_cost < limit,
            "{name}: {large_cost:?} for the large case vs {small_cost:?}"
        );
    }
}
