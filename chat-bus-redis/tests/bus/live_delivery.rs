//! Live delivery at scale over two server nodes on the Redis bus (chat-axum's
//! `live_delivery` test, with the nodes split): 100 WebSocket clients, 50 direct pairs whose
//! two users sit on different nodes, 100 messages from every client, each sent through its
//! own node. A socket never delivers a message twice, and a client that is dropped (or told
//! to `resync`) recovers every missed message over HTTP (`GET .../messages?after=seq`) from
//! its own node, with no gap and no duplicate.
//!
//! Across nodes only each node's publish order is kept (the two users of a pair publish from
//! different nodes), so a socket may see a partner's message after a later one of its own:
//! the client treats that as a gap and catches up, and the test counts it.
//!
//! `CHAT_LIVE_CLIENTS` and `CHAT_LIVE_MESSAGES` scale it (defaults 100 and 100).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chat_axum::ChatApi;
use chat_bus_redis::RedisEventBus;
use chat_core::testing::MemoryStore;
use chat_core::{ChatServices, Identity, InMemoryDirectory, Profile, SendMessage, StartDirect, TenantId};

#[path = "../../../chat-axum/tests/support/live_client.rs"]
mod live_client;

use live_client::{UserIdTokens, client, env_usize, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_redis_every_client_gets_every_message_once_or_recovers_it() {
    let Some(url) = crate::common::redis_url() else { return };
    let clients = env_usize("CHAT_LIVE_CLIENTS", 100) & !1;
    let per_client = env_usize("CHAT_LIVE_MESSAGES", 100);
    let tenant = TenantId::default();
    let directory = Arc::new((0..clients).fold(InMemoryDirectory::new(), |directory, index| {
        directory.with_profile(&tenant, Profile::new(user(index), format!("User {index}")))
    }));
    // One store (the shared database of a real deployment), two nodes with their own bus.
    let store = Arc::new(MemoryStore::new());
    let prefix = crate::common::fresh_prefix();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let bus = RedisEventBus::builder()
            .key_prefix(&prefix)
            .connect(&url)
            .await
            .expect("bus");
        let services = ChatServices::new(store.clone(), directory.clone()).with_event_bus(Arc::new(bus));
        let router = chat_axum::router(ChatApi::new(services.clone(), Arc::new(UserIdTokens)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = router.clone();
        tokio::spawn(async move { axum::serve(listener, served).await });
        nodes.push((services, router, addr));
    }
    // u(2p) on node 0, u(2p+1) on node 1.
    let node_of = |me: usize| &nodes[me % 2];

    let mut conversations = HashMap::new();
    for pair in 0..clients / 2 {
        let actor = Identity::new(tenant.clone(), user(2 * pair));
        let (view, _) = node_of(2 * pair)
            .0
            .conversations()
            .start_direct(&actor, StartDirect::with(user(2 * pair + 1)))
            .await
            .expect("start");
        conversations.insert(2 * pair, view.conversation.id);
        conversations.insert(2 * pair + 1, view.conversation.id);
    }
    let expected = (2 * per_client) as u64;
    let mut readers = Vec::new();
    for me in 0..clients {
        // Every tenth client drops its socket a third of the way through.
        let drop_after = (me % 10 == 0).then_some(expected / 3);
        let (_, router, addr) = node_of(me);
        readers.push(tokio::spawn(client(
            *addr,
            router.clone(),
            me,
            conversations[&me],
            expected,
            drop_after,
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut senders = Vec::new();
    for me in 0..clients {
        let services = node_of(me).0.clone();
        let conversation = conversations[&me];
        let actor = Identity::new(tenant.clone(), user(me));
        senders.push(tokio::spawn(async move {
            for n in 0..per_client {
                services
                    .messages()
                    .send(&actor, conversation, SendMessage::text(format!("u{} #{n}", actor.user)))
                    .await
                    .expect("send");
                if n % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    let (mut recoveries, mut reorders) = (0, 0);
    for (me, reader) in readers.into_iter().enumerate() {
        let report = reader.await.expect("reader");
        assert_eq!(
            report.seqs,
            (1..=expected).collect::<Vec<_>>(),
            "client u{me}: every message once, in order, after recovery"
        );
        assert_eq!(
            report.socket_duplicates, 0,
            "client u{me}: the socket repeated a message"
        );
        recoveries += report.recoveries;
        reorders += report.socket_reorders;
    }
    eprintln!(
        "live delivery, two nodes on redis: {clients} clients, {} messages, {recoveries} recoveries over HTTP, \
         {reorders} cross-node reorders on sockets, 0 gaps, 0 duplicates",
        clients * per_client
    );
    assert!(
        recoveries >= clients / 10,
        "the dropped clients must have recovered over HTTP"
    );
}
