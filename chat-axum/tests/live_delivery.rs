//! Live delivery at scale: 100 WebSocket clients on a real listener, 50 direct pairs, 100
//! messages from every client. Per conversation a socket never delivers a message twice or
//! out of order, and a client that is dropped (or told to `resync`) recovers every missed
//! message over HTTP (`GET .../messages?after=seq`) with no gap.
//!
//! `CHAT_LIVE_CLIENTS` and `CHAT_LIVE_MESSAGES` scale it (defaults 100 and 100).

#[path = "support/live_client.rs"]
mod live_client;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chat_axum::ChatApi;
use chat_core::testing::MemoryStore;
use chat_core::{ChatServices, Identity, InMemoryDirectory, Profile, SendMessage, StartDirect, TenantId};

use crate::live_client::{UserIdTokens, client, env_usize, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_every_message_once_in_order_or_recovers_it() {
    let clients = env_usize("CHAT_LIVE_CLIENTS", 100) & !1;
    let per_client = env_usize("CHAT_LIVE_MESSAGES", 100);
    let tenant = TenantId::default();
    let directory = (0..clients).fold(InMemoryDirectory::new(), |directory, index| {
        directory.with_profile(&tenant, Profile::new(user(index), format!("User {index}")))
    });
    let services = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory));
    let router = chat_axum::router(ChatApi::new(services.clone(), Arc::new(UserIdTokens)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = router.clone();
    tokio::spawn(async move { axum::serve(listener, served).await });

    let mut conversations = HashMap::new();
    for pair in 0..clients / 2 {
        let actor = Identity::new(tenant.clone(), user(2 * pair));
        let (view, _) = services
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
        readers.push(tokio::spawn(client(
            addr,
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
        let services = services.clone();
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
    let mut recoveries = 0;
    for (me, reader) in readers.into_iter().enumerate() {
        let report = reader.await.expect("reader");
        assert_eq!(
            report.seqs,
            (1..=expected).collect::<Vec<_>>(),
            "client u{me}: every message once, in order"
        );
        assert_eq!(
            (report.socket_duplicates, report.socket_reorders),
            (0, 0),
            "client u{me}: the socket repeated or reordered a message"
        );
        recoveries += report.recoveries;
    }
    eprintln!(
        "live delivery: {clients} clients, {} messages, {recoveries} recoveries over HTTP, 0 gaps, 0 duplicates",
        clients * per_client
    );
    assert!(
        recoveries >= clients / 10,
        "the dropped clients must have recovered over HTTP"
    );
}
