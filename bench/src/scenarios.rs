//! The scenarios, each run on one backend.

use std::path::Path;
use std::time::{Duration, Instant};

use chat_core::{ConversationId, InboxFilter, SendMessage, StartDirect};
use chat_store_sled::Durability;

use crate::env::{self, AnyStore, Backend, identity, user_id};
use crate::load;
use crate::measure::{self, Measured, OpFuture};
use crate::report::{Point, Report};
use crate::ws_clients;

/// Sizes and durations of a run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where sled directories go.
    pub data_dir: std::path::PathBuf,
    /// Measured time per throughput case.
    pub duration: Duration,
    /// Warm-up per throughput case.
    pub warmup: Duration,
    /// Samples per latency case.
    pub samples: usize,
    /// Inbox sizes.
    pub inbox_sizes: Vec<usize>,
    /// (small, large) conversation sizes.
    pub history_sizes: (usize, usize),
    /// Conversations of the stats user.
    pub stats_size: usize,
    /// WebSocket client counts, one run each.
    pub ws_clients: Vec<usize>,
    /// WebSocket measured time.
    pub ws_duration: Duration,
}

impl Plan {
    /// The plan of `--quick` or the full run.
    pub fn new(quick: bool, data_dir: std::path::PathBuf) -> Self {
        if quick {
            Self {
                data_dir,
                duration: Duration::from_millis(700),
                warmup: Duration::from_millis(150),
                samples: 200,
                inbox_sizes: vec![100, 2_000],
                history_sizes: (1_000, 20_000),
                stats_size: 2_000,
                ws_clients: vec![100],
                ws_duration: Duration::from_secs(2),
            }
        } else {
            let history_large = std::env::var("BENCH_HISTORY_SIZE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000);
            let inbox_large = std::env::var("BENCH_INBOX_SIZE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100_000);
            // Sizes from the environment: distinct and in order (the targets compare the
            // largest with the smallest); the long conversation must be longer than 1,000.
            let mut inbox_sizes = vec![100, 10_000, inbox_large.max(1)];
            inbox_sizes.sort_unstable();
            inbox_sizes.dedup();
            let history_large = if history_large > 1_000 {
                history_large
            } else {
                eprintln!("BENCH_HISTORY_SIZE must be over 1000 (the short conversation's length); using 2000");
                2_000
            };
            Self {
                data_dir,
                duration: Duration::from_secs(4),
                warmup: Duration::from_millis(500),
                samples: 1_000,
                inbox_sizes,
                history_sizes: (1_000, history_large),
                stats_size: 10_000,
                ws_clients: std::env::var("BENCH_WS_CLIENTS")
                    .ok()
                    .and_then(|v| v.split(',').map(|n| n.trim().parse().ok()).collect())
                    .unwrap_or_else(|| vec![1_000, 10_000]),
                ws_duration: Duration::from_secs(10),
            }
        }
    }
}

/// A fresh store for a scenario; Postgres schemas are dropped by [`close`].
pub(crate) async fn fresh(backend: Backend, plan: &Plan, name: &str, durability: Durability) -> AnyStore {
    match backend {
        Backend::Sled => AnyStore::Sled(env::open_sled(&plan.data_dir, name, durability).await.0),
        Backend::Postgres => AnyStore::Postgres(env::open_postgres(24).await),
    }
}

pub(crate) async fn close(store: AnyStore) {
    match store {
        AnyStore::Sled(store) => {
            let _ = store.engine().flush();
        }
        AnyStore::Postgres(store) => env::drop_postgres(&store).await,
    }
}

pub(crate) fn boxed<F: std::future::Future<Output = ()> + Send + 'static>(f: F) -> OpFuture {
    Box::pin(f)
}

/// Loads the inbox users of `sizes` into a fresh store (fast paths, see [`load`]).
pub(crate) async fn inbox_store(backend: Backend, plan: &Plan, sizes: &[usize], report: &mut Report) -> AnyStore {
    let store = fresh(backend, plan, "inbox", Durability::Relaxed).await;
    for &size in sizes {
        let began = Instant::now();
        match &store {
            AnyStore::Sled(s) => {
                load::sled_inbox(s, size).await;
                s.engine().flush().expect("flush");
            }
            AnyStore::Postgres(s) => load::pg_inbox(s, size).await,
        }
        report.notes.push(format!(
            "{}: loaded an inbox of {size} conversations in {:.1} s",
            backend.name(),
            began.elapsed().as_secs_f64()
        ));
    }
    store
}

/// Scenario 2: the first inbox page of users with more and more conversations.
pub async fn inbox(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = inbox_store(backend, plan, &plan.inbox_sizes, report).await;
    let conversations = store.services().conversations();
    let name = backend.name();
    let cases: Vec<measure::Case> = plan
        .inbox_sizes
        .iter()
        .map(|&size| {
            let (conversations, actor) = (conversations.clone(), identity(&load::inbox_user(size)));
            Box::new(move || {
                let (conversations, actor) = (conversations.clone(), actor.clone());
                boxed(async move {
                    let filter = InboxFilter {
                        limit: Some(50),
                        ..InboxFilter::default()
                    };
                    let page = conversations.inbox(&actor, filter).await.expect("inbox");
                    assert_eq!(page.items.len(), 50.min(size), "inbox page size");
                })
            }) as measure::Case
        })
        .collect();
    let results = measure::interleaved(plan.samples, plan.samples / 10, &cases).await;
    let mut p99s = Vec::new();
    for (&size, m) in plan.inbox_sizes.iter().zip(&results) {
        report.measured(
            "inbox",
            name,
            &format!("page of 50, {size} conversations"),
            m,
            false,
            String::new(),
        );
        report.points.push(Point {
            series: format!("{name} inbox"),
            size: size as u64,
            p99_ms: m.p99(),
        });
        p99s.push(m.p99());
    }
    if let (Some(first), Some(last)) = (p99s.first(), p99s.last()) {
        report.target(name, "inbox p99 largest / smallest", last / first, 2.0, true);
    }
    close(store).await;
}

/// Scenario 4: stats and the unread-only inbox of a user with many conversations.
pub async fn stats(backend: Backend, plan: &Plan, report: &mut Report) {
    let size = plan.stats_size;
    let store = inbox_store(backend, plan, &[size], report).await;
    let conversations = store.services().conversations();
    let actor = identity(&load::inbox_user(size));
    let name = backend.name();
    let expected = conversations.stats(&actor).await.expect("stats");
    let m = measure::repeat(plan.samples, |_| {
        let (conversations, actor) = (conversations.clone(), actor.clone());
        async move {
            conversations.stats(&actor).await.expect("stats");
        }
    })
    .await;
    report.measured(
        "stats",
        name,
        &format!("stats, {size} conversations"),
        &m,
        false,
        format!(
            "{} total, {} unread conv, {} unread msgs",
            expected.total_conversations, expected.unread_conversations, expected.unread_messages
        ),
    );
    let m = measure::repeat(plan.samples, |_| {
        let (conversations, actor) = (conversations.clone(), actor.clone());
        async move {
            let filter = InboxFilter {
                unread_only: true,
                limit: Some(50),
                ..InboxFilter::default()
            };
            conversations.inbox(&actor, filter).await.expect("unread inbox");
        }
    })
    .await;
    report.measured(
        "stats",
        name,
        &format!("unread-only inbox page, {size} conversations"),
        &m,
        false,
        format!("1 in {} unread", load::UNREAD_EVERY),
    );
    close(store).await;
}

/// Scenario 3: history pages of a short and a very long conversation.
pub async fn history(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = fresh(backend, plan, "history", Durability::Relaxed).await;
    let name = backend.name();
    let (small, large) = plan.history_sizes;
    let mut ids = Vec::new();
    for size in [small, large] {
        let began = Instant::now();
        let id = match &store {
            AnyStore::Sled(s) => {
                let id = load::sled_history(s, size).await;
                s.engine().flush().expect("flush");
                id
            }
            AnyStore::Postgres(s) => load::pg_history(s, size).await,
        };
        report.notes.push(format!(
            "{name}: loaded a conversation of {size} messages in {:.1} s",
            began.elapsed().as_secs_f64()
        ));
        ids.push((size, id));
    }
    let messages = store.services().messages();
    let mut labels = Vec::new();
    let mut cases: Vec<measure::Case> = Vec::new();
    for &(size, id) in &ids {
        let actor = identity(&load::history_users(size).0);
        for (label, before) in [("newest", None), ("middle", Some(size as u64 / 2 + 1))] {
            labels.push((size, label, before));
            let (messages, actor) = (messages.clone(), actor.clone());
            cases.push(Box::new(move || {
                let (messages, actor) = (messages.clone(), actor.clone());
                boxed(async move {
                    let page = messages
                        .history(&actor, id, before, None, Some(50))
                        .await
                        .expect("history");
                    assert_eq!(page.len(), 50, "history page size");
                })
            }));
        }
    }
    let results = measure::interleaved(plan.samples, plan.samples / 10, &cases).await;
    let mut small_p99 = f64::NAN;
    let mut large_worst = 0.0f64;
    for ((size, label, before), m) in labels.into_iter().zip(&results) {
        report.measured(
            "history",
            name,
            &format!("page of 50, {label}, {size} messages"),
            m,
            false,
            String::new(),
        );
        report.points.push(Point {
            series: format!("{name} history {label}"),
            size: size as u64,
            p99_ms: m.p99(),
        });
        if size == small && before.is_none() {
            small_p99 = m.p99();
        }
        if size == large {
            large_worst = large_worst.max(m.p99());
        }
    }
    report.target(
        name,
        "history p99 large (worst position) / small (newest)",
        large_worst / small_p99,
        2.0,
        true,
    );
    close(store).await;
}

/// Scenario 5: find-or-create with new pairs and with existing ones.
pub async fn find_or_create(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = fresh(backend, plan, "foc", Durability::Durable).await;
    let conversations = store.services().conversations();
    let name = backend.name();
    let concurrency = 4;
    let c = conversations.clone();
    let created = measure::drive(concurrency, plan.duration, plan.warmup, move |worker, iteration| {
        let c = c.clone();
        boxed(async move {
            let actor = identity(&format!("f{worker}"));
            let (_, new) = c
                .start_direct(&actor, StartDirect::with(user_id(&format!("n{worker}_{iteration}"))))
                .await
                .expect("find-or-create");
            assert!(new, "a new pair creates");
        })
    })
    .await;
    report.measured(
        "find-or-create",
        name,
        "new pairs, 4 tasks",
        &created,
        true,
        String::new(),
    );
    for worker in 0..concurrency {
        for index in 0..50 {
            conversations
                .start_direct(
                    &identity(&format!("e{worker}")),
                    StartDirect::with(user_id(&format!("x{worker}_{index}"))),
                )
                .await
                .expect("find-or-create");
        }
    }
    let c = conversations.clone();
    let existing = measure::drive(concurrency, plan.duration, plan.warmup, move |worker, iteration| {
        let c = c.clone();
        boxed(async move {
            // Alternate which side asks: the pair is unordered.
            let (a, b) = (format!("e{worker}"), format!("x{worker}_{}", iteration % 50));
            let (actor, other) = if iteration % 2 == 0 { (a, b) } else { (b, a) };
            let (_, new) = c
                .start_direct(&identity(&actor), StartDirect::with(user_id(&other)))
                .await
                .expect("find-or-create");
            assert!(!new, "an existing pair finds");
        })
    })
    .await;
    report.measured(
        "find-or-create",
        name,
        "existing pairs, 4 tasks",
        &existing,
        true,
        String::new(),
    );
    close(store).await;
}

/// Scenario 6: live delivery over WebSocket and memory per idle connection.
pub async fn websocket(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = fresh(backend, plan, "ws", Durability::Durable).await;
    let services = store.services();
    let addr = env::serve(services.clone()).await;
    let url = format!("ws://{addr}/ws");
    let name = backend.name();
    // Whole pairs, at least one.
    let counts: Vec<usize> = plan.ws_clients.iter().map(|&count| count.max(2) / 2 * 2).collect();
    let largest = counts.iter().copied().max().unwrap_or(2);
    let pairs = ws_pairs(&services, largest / 2).await;
    // The idle server: one pair connected, one message every 20 ms.
    let idle = {
        let clients = ws_clients::Clients::start(&url, 2, ws_clients::Auth::Bearer).await;
        let sent = ws_chat(&services, &pairs[..1], 50.0, plan.ws_duration / 2).await;
        let latencies = clients.finish().await;
        let m = Measured::from_latencies(latencies, plan.ws_duration / 2);
        report.measured(
            "websocket",
            name,
            "idle server: 2 clients, send -> receipt (50 msg/s)",
            &m,
            true,
            format!("{}/{sent} delivered", m.ops),
        );
        m.p99()
    };
    for &count in &counts {
        let rss_before = measure::rss_kib();
        let clients = ws_clients::Clients::start(&url, count, ws_clients::Auth::Bearer).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after = measure::rss_kib();
        let connected = clients.connected;
        // Steady chatting: pairs in turn, each direction alternately.
        let rate = (count as f64 / 2.0).clamp(50.0, 500.0);
        let sent = ws_chat(&services, &pairs[..count / 2], rate, plan.ws_duration).await;
        let latencies = clients.finish().await;
        let m = Measured::from_latencies(latencies, plan.ws_duration);
        report.measured(
            "websocket",
            name,
            &format!("{count} clients, send -> receipt ({rate:.0} msg/s)"),
            &m,
            true,
            format!("{}/{sent} delivered, {connected}/{count} connected", m.ops),
        );
        report.target(
            name,
            &format!("delivery p99 with {count} clients / idle p99"),
            m.p99() / idle,
            10.0,
            true,
        );
        let raw = raw_ws_memory(count).await;
        let ours = match (rss_before, rss_after) {
            (Some(before), Some(after)) => after.saturating_sub(before) as f64 / count as f64,
            _ => f64::NAN,
        };
        let raw_per = raw.map_or(f64::NAN, |raw| raw as f64 / count as f64);
        report.note_row(
            "websocket",
            name,
            &format!("server RSS per idle connection, {count} clients"),
            format!(
                "ours {ours:.1} KiB; a bare tokio-tungstenite echo server {raw_per:.1} KiB \
                 (clients in a child process, so this is the server side alone)"
            ),
        );
        // Not measured (no /proc) or not every client connected: NaN, never met.
        report.target(
            name,
            &format!("server KiB per idle connection, {count} connected"),
            if connected == count { ours } else { f64::NAN },
            64.0,
            true,
        );
    }
    close(store).await;
}

/// `count` direct conversations, between users `w<2i>` and `w<2i+1>`.
async fn ws_pairs(services: &chat_core::ChatServices, count: usize) -> Vec<(usize, ConversationId)> {
    let mut pairs = Vec::with_capacity(count);
    for pair in 0..count {
        let a = identity(&format!("w{}", 2 * pair));
        let (view, _) = services
            .conversations()
            .start_direct(&a, StartDirect::with(user_id(&format!("w{}", 2 * pair + 1))))
            .await
            .expect("start_direct");
        pairs.push((2 * pair, view.conversation.id));
    }
    pairs
}

/// Sends `rate` messages a second for `duration` through the service, pairs in turn and each
/// direction alternately, bodies `t:<send time>`; returns how many were sent, after every
/// send has returned and half a second more for the last deliveries.
async fn ws_chat(
    services: &chat_core::ChatServices,
    pairs: &[(usize, ConversationId)],
    rate: f64,
    duration: Duration,
) -> usize {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let deadline = Instant::now() + duration;
    let mut sent = 0usize;
    let mut sends = Vec::new();
    while Instant::now() < deadline {
        ticker.tick().await;
        let (first, id) = pairs[sent % pairs.len()];
        let from = first + (sent / pairs.len()) % 2;
        let actor = identity(&format!("w{from}"));
        let messages = services.messages();
        sends.push(tokio::spawn(async move {
            let body = format!("t:{}", ws_clients::unix_micros());
            messages.send(&actor, id, SendMessage::text(body)).await.expect("send");
        }));
        sent += 1;
    }
    for task in sends {
        task.await.expect("send task");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sent
}

/// Resident memory growth (KiB) of a bare tokio-tungstenite echo server, in a process of
/// its own, while `clients` connections from another process are open.
async fn raw_ws_memory(clients: usize) -> Option<u64> {
    let server = ws_clients::EchoServer::start().await;
    let before = server.rss_kib();
    let connections =
        ws_clients::Clients::start(&format!("ws://{}/", server.addr), clients, ws_clients::Auth::None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    let complete = connections.connected == clients;
    connections.finish().await;
    server.stop().await;
    match (before, after) {
        (Some(before), Some(after)) if complete => Some(after.saturating_sub(before)),
        _ => None,
    }
}

/// Removes the sled directories of a run.
pub fn clean_data(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
