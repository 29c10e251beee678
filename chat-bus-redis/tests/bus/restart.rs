//! Redis goes away in the middle of a stream (a restart of a private `redis-server`, and
//! `CLIENT KILL` of the bus's connections): every subscriber is told to resync, the bus
//! recovers by itself, nothing panics.

use std::sync::Arc;
use std::time::Duration;

use chat_bus_redis::RedisEventBus;
use chat_core::testing::MemoryStore;
use chat_core::testing::bus_suite::{ends_within, next_event};
use chat_core::testing::fixtures::{fresh_tenant, user_id};
use chat_core::{
    ChatServices, ConversationId, EventBus, EventPayload, EventStream, Identity, InMemoryDirectory, Profile,
    SendMessage, StartDirect,
};

use crate::common::{self, PrivateRedis};

const USERS: usize = 8;

struct Nodes {
    a: ChatServices,
    bus_a: RedisEventBus,
    bus_b: RedisEventBus,
    users: Vec<Identity>,
    /// u0 with each other user.
    conversations: Vec<ConversationId>,
}

async fn nodes(url: &str) -> Nodes {
    let prefix = common::fresh_prefix();
    let tenant = fresh_tenant();
    let mut directory = InMemoryDirectory::new();
    let mut users = Vec::new();
    for index in 0..USERS {
        directory = directory.with_profile(&tenant, Profile::new(user_id(index), format!("User {index}")));
        users.push(Identity::new(tenant.clone(), user_id(index)));
    }
    let bus_a = common::bus(url, &prefix).await;
    let bus_b = common::bus(url, &prefix).await;
    let a =
        ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory)).with_event_bus(Arc::new(bus_a.clone()));
    let mut conversations = Vec::new();
    for other in 1..USERS {
        let (view, _) = a
            .conversations()
            .start_direct(&users[0], StartDirect::with(users[other].user.clone()))
            .await
            .expect("start");
        conversations.push(view.conversation.id);
    }
    Nodes {
        a,
        bus_a,
        bus_b,
        users,
        conversations,
    }
}

impl Nodes {
    /// Every user but u0 subscribed on B, u0 on A.
    async fn subscribe_all(&self) -> (EventStream, Vec<EventStream>) {
        let u0 = &self.users[0];
        let on_a = self.bus_a.subscribe_live(&u0.tenant, &u0.user).await;
        let mut on_b = Vec::new();
        for user in &self.users[1..] {
            on_b.push(self.bus_b.subscribe_live(&user.tenant, &user.user).await);
        }
        (on_a, on_b)
    }

    /// u0 sends `text` to every other user through A (publish failures are logged, the
    /// sends themselves succeed: the store is the truth).
    async fn send_all(&self, text: &str) {
        for id in &self.conversations {
            self.a
                .messages()
                .send(&self.users[0], *id, SendMessage::text(text))
                .await
                .expect("send");
        }
    }

    /// Subscribes every user on B again and sends until each one hears a message (the
    /// publishing connection may fail one command after a loss); returns the attempts.
    async fn flows_again(&self, label: &str) -> usize {
        wait_connected(&self.bus_b).await;
        wait_connected(&self.bus_a).await;
        let (_on_a, mut on_b) = self.subscribe_all().await;
        let mut heard = vec![false; on_b.len()];
        for attempt in 1..=20 {
            let text = format!("{label} #{attempt}");
            self.send_all(&text).await;
            for (stream, heard) in on_b.iter_mut().zip(&mut heard) {
                while !*heard {
                    match tokio::time::timeout(Duration::from_millis(500), stream.recv()).await {
                        Ok(Ok(event)) => {
                            *heard =
                                matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == text);
                        }
                        _ => break,
                    }
                }
            }
            if heard.iter().all(|&h| h) {
                return attempt;
            }
        }
        panic!("{label}: events did not flow again");
    }
}

async fn wait_connected(bus: &RedisEventBus) {
    for _ in 0..400 {
        if bus.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the bus did not reconnect");
}

async fn all_end(on_a: &mut EventStream, on_b: &mut [EventStream], label: &str) {
    assert!(
        ends_within(on_a, Duration::from_secs(15)).await,
        "{label}: u0 on A resyncs"
    );
    for (index, stream) in on_b.iter_mut().enumerate() {
        assert!(
            ends_within(stream, Duration::from_secs(15)).await,
            "{label}: u{} on B resyncs",
            index + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_mid_stream_resyncs_every_subscriber_and_the_bus_recovers() {
    if common::redis_url().is_none() {
        return;
    }
    let mut server = PrivateRedis::start();
    let nodes = nodes(&server.url()).await;
    let (mut on_a, mut on_b) = nodes.subscribe_all().await;
    nodes.send_all("before").await;
    for stream in &mut on_b {
        let event = next_event(stream).await.expect("before the restart");
        assert!(matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == "before"));
    }
    // A stream of messages while the server dies and comes back.
    let streaming = {
        let a = nodes.a.clone();
        let u0 = nodes.users[0].clone();
        let ids = nodes.conversations.clone();
        tokio::spawn(async move {
            for n in 0..100 {
                for id in &ids {
                    a.messages()
                        .send(&u0, *id, SendMessage::text(format!("during #{n}")))
                        .await
                        .expect("sends succeed while Redis is down");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    all_end(&mut on_a, &mut on_b, "restart").await;
    // Subscribing during the outage gives a stream that ends (the client retries).
    let u1 = &nodes.users[1];
    let mut during = nodes.bus_b.subscribe_live(&u1.tenant, &u1.user).await;
    assert!(
        ends_within(&mut during, Duration::from_secs(10)).await,
        "a subscription during the outage ends"
    );
    server.restart();
    streaming.await.expect("no panic while streaming through the restart");
    let attempts = nodes.flows_again("after the restart").await;
    eprintln!("redis restart: every subscriber resynced; events flowed again after {attempts} attempt(s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_kill_of_the_bus_connections_resyncs_and_recovers() {
    if common::redis_url().is_none() {
        return;
    }
    let server = PrivateRedis::start();
    let nodes = nodes(&server.url()).await;
    let mut admin = common::admin(&server.url()).await;

    // The subscribing connections.
    let (mut on_a, mut on_b) = nodes.subscribe_all().await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL TYPE pubsub");
    assert_eq!(killed, 2, "one subscribing connection per node");
    all_end(&mut on_a, &mut on_b, "client kill pubsub").await;
    let attempts = nodes.flows_again("after killing the subscribers").await;
    assert_eq!(attempts, 1, "the publishing connection was not touched");

    // The publishing connections (and every other normal client but this one).
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL TYPE normal");
    assert!(killed >= 2, "the publishing connections");
    let attempts = nodes.flows_again("after killing the publishers").await;
    eprintln!("client kill: subscribers resynced and recovered; publishing recovered after {attempts} attempt(s)");
}
