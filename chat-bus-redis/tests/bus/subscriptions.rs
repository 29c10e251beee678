//! The Redis subscriptions a node holds, and the events that end subscriptions instead of
//! being dropped silently.

use std::sync::Arc;
use std::time::Duration;

use chat_bus_redis::RedisEventBus;
use chat_core::testing::MemoryStore;
use chat_core::testing::bus_suite::{ends_within, next_event};
use chat_core::testing::fixtures::{fresh_tenant, user_id};
use chat_core::{ChatServices, EventBus, EventPayload, Identity, InMemoryDirectory, Profile, SendMessage, StartDirect};

use crate::common;

/// Redis' own count of subscribers of each channel of `prefix`.
async fn channels_on_server(url: &str, prefix: &str) -> usize {
    let mut admin = common::admin(url).await;
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut admin)
        .await
        .expect("PUBSUB CHANNELS");
    channels.len()
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_subscribes_only_the_users_it_serves_and_drops_them_after() {
    let Some(url) = common::redis_url() else { return };
    let prefix = common::fresh_prefix();
    let bus = common::bus(&url, &prefix).await;
    let tenant = fresh_tenant();
    assert_eq!(bus.redis_subscriptions(), 0, "an idle node subscribes nothing");
    let mut streams = Vec::new();
    for index in 0..3 {
        streams.push(bus.subscribe_live(&tenant, &user_id(index)).await);
    }
    // A second device of u0: no second channel.
    streams.push(bus.subscribe_live(&tenant, &user_id(0)).await);
    assert_eq!(bus.redis_subscriptions(), 3);
    assert_eq!(channels_on_server(&url, &prefix).await, 3);

    streams.truncate(3); // u0 still has a device
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bus.redis_subscriptions(), 3);
    streams.remove(0); // u0's last device
    wait_until("u0's channel is dropped", async || bus.redis_subscriptions() == 2).await;
    streams.clear();
    wait_until("every channel is dropped", async || bus.redis_subscriptions() == 0).await;
    wait_until("Redis agrees", async || channels_on_server(&url, &prefix).await == 0).await;

    // 1000 users on one node: 1000 channels on one connection, subscribed in batches.
    let mut many = Vec::new();
    for index in 0..1000 {
        many.push(bus.subscribe(&tenant, &user_id(index)));
    }
    many.push(bus.subscribe_live(&tenant, &user_id(999)).await);
    wait_until("1000 channels", async || bus.redis_subscriptions() == 1000).await;
    assert_eq!(channels_on_server(&url, &prefix).await, 1000);
    drop(many);
    wait_until("all dropped again", async || bus.redis_subscriptions() == 0).await;
}

struct Pair {
    a: ChatServices,
    bus_b: RedisEventBus,
    users: [Identity; 2],
}

async fn pair(url: &str, max_payload_on_a: usize) -> Pair {
    let prefix = common::fresh_prefix();
    let tenant = fresh_tenant();
    let users = [
        Identity::new(tenant.clone(), user_id(0)),
        Identity::new(tenant.clone(), user_id(1)),
    ];
    let directory = InMemoryDirectory::new()
        .with_profile(&tenant, Profile::new(user_id(0), "User 0"))
        .with_profile(&tenant, Profile::new(user_id(1), "User 1"));
    let bus_a = RedisEventBus::builder()
        .key_prefix(&prefix)
        .max_payload(max_payload_on_a)
        .connect(url)
        .await
        .expect("bus a");
    let a = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory)).with_event_bus(Arc::new(bus_a));
    Pair {
        a,
        bus_b: common::bus(url, &prefix).await,
        users,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_past_the_payload_limit_resyncs_its_recipients_on_other_nodes() {
    let Some(url) = common::redis_url() else { return };
    let pair = pair(&url, 4096).await;
    let [u0, u1] = &pair.users;
    let mut on_b = pair.bus_b.subscribe_live(&u1.tenant, &u1.user).await;
    let mut on_a = pair.a.event_bus().subscribe_live(&u1.tenant, &u1.user).await;
    let (view, _) = pair
        .a
        .conversations()
        .start_direct(u0, StartDirect::with(u1.user.clone()))
        .await
        .expect("start");
    assert!(next_event(&mut on_b).await.is_some(), "small events travel");
    assert!(next_event(&mut on_a).await.is_some());
    let body = "€".repeat(4000);
    pair.a
        .messages()
        .send(u0, view.conversation.id, SendMessage::text(body.clone()))
        .await
        .expect("send");
    assert!(
        ends_within(&mut on_b, Duration::from_secs(10)).await,
        "the recipient on B is told to resync"
    );
    // On the publishing node it is delivered whole.
    let event = next_event(&mut on_a).await.expect("on A");
    assert!(matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_envelope_a_node_cannot_read_resyncs_that_user_only() {
    let Some(url) = common::redis_url() else { return };
    let prefix = common::fresh_prefix();
    let bus = common::bus(&url, &prefix).await;
    let tenant = fresh_tenant();
    let mut u0 = bus.subscribe_live(&tenant, &user_id(0)).await;
    let mut u1 = bus.subscribe_live(&tenant, &user_id(1)).await;
    let channel = format!(
        "{prefix}:{}:{}:{}",
        tenant.as_str().len(),
        tenant.as_str(),
        user_id(0).as_str()
    );
    let mut admin = common::admin(&url).await;
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(r#"{"origin":"0190a0a0-0000-7000-8000-000000000000","event":{"type":"from.the.future"}}"#)
        .query_async(&mut admin)
        .await
        .expect("publish");
    assert_eq!(receivers, 1);
    assert!(ends_within(&mut u0, Duration::from_secs(10)).await, "u0 resyncs");
    assert!(u1.try_recv().is_none(), "u1 is not disturbed");
}
