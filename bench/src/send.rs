//! Scenario 1, `send`: sends through the services, over HTTP and the raw baseline; on sled
//! also on a Relaxed store (no flush, no sync), the ceiling of any group commit, and the
//! same sends on the other embedded engine, redb (durable: its commit fsyncs), in the same
//! rotation.

use std::net::SocketAddr;
use std::sync::Arc;

use chat_core::{ConversationId, SendMessage, StartDirect};
use chat_store_sled::Durability;
use sled::Transactional as _;
use sled::transaction::ConflictableTransactionResult;
use tokio::sync::Mutex;

use crate::env::{self, AnyStore, Backend, HttpClient, identity, user_id};
use crate::measure;
use crate::report::Report;
use crate::scenarios::{Plan, boxed, close, fresh};
use crate::write_cost;

/// Scenario 1: sends through the services, over HTTP and the raw baseline.
pub async fn send(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = fresh(backend, plan, "send", Durability::Durable).await;
    let services = store.services();
    let addr = env::serve(services.clone()).await;
    let raw = RawBaseline::new(backend, &store, plan).await;
    let name = backend.name();
    // sled only: the same sends, through the service and over HTTP, on a Relaxed store (no
    // flush, no sync): the ceiling of any group commit.
    let relaxed = match backend {
        Backend::Sled => {
            let relaxed = fresh(backend, plan, "send-relaxed", Durability::Relaxed).await;
            let relaxed_services = relaxed.services();
            let relaxed_addr = env::serve(relaxed_services.clone()).await;
            Some((relaxed, relaxed_services, relaxed_addr))
        }
        Backend::Postgres => None,
    };
    // sled only: the other embedded engine, durable, beside it.
    let redb = match backend {
        Backend::Sled => {
            let path = plan
                .data_dir
                .join(format!("send-redb-{}.redb", uuid::Uuid::now_v7().simple()));
            let store = chat_store_redb::open(&path).await.expect("opening the redb store");
            let services = env::services_over(Arc::new(store.clone()));
            let addr = env::serve(services.clone()).await;
            Some((store, services, addr, path))
        }
        Backend::Postgres => None,
    };
    for concurrency in [1usize, 4, 16] {
        let conversations = sender_conversations(&services, concurrency).await;
        let service = service_op(&services, Arc::clone(&conversations));
        let http = http_op(addr, conversations).await;
        let mut ops = vec![service, http, raw.op(concurrency)];
        if let Some((_, relaxed_services, relaxed_addr)) = &relaxed {
            let conversations = sender_conversations(relaxed_services, concurrency).await;
            ops.push(service_op(relaxed_services, Arc::clone(&conversations)));
            ops.push(http_op(*relaxed_addr, conversations).await);
        }
        if let Some((_, redb_services, redb_addr, _)) = &redb {
            let conversations = sender_conversations(redb_services, concurrency).await;
            ops.push(service_op(redb_services, Arc::clone(&conversations)));
            ops.push(http_op(*redb_addr, conversations).await);
        }
        let commits_before = store.commit_stats();
        let results = measure::drive_rotating(concurrency, plan.duration, plan.warmup, SEND_TURNS, &ops).await;
        if let (Some((before, syncs_before)), Some((after, syncs_after))) = (commits_before, store.commit_stats()) {
            let (writes, groups, syncs) = (
                after.writes - before.writes,
                after.groups - before.groups,
                syncs_after - syncs_before,
            );
            report.notes.push(format!(
                "{name}: {concurrency} senders, group commit: {writes} durable writes (service and HTTP sends, \
                 warm-ups included) in {groups} groups ({:.1} per group), {syncs} fdatasyncs of the log",
                writes as f64 / groups.max(1) as f64
            ));
        }
        let mut results = results.into_iter();
        let (Some(service), Some(http), Some(raw_m)) = (results.next(), results.next(), results.next()) else {
            unreachable!("drive_rotating gives one result per op");
        };
        let raw_rate = raw_m.ops_per_sec().max(1e-9);
        let ceiling = results.next().zip(results.next());
        let redb_results = results.next().zip(results.next());
        let against_ceiling = |durable: &measure::Measured, no_sync: Option<&measure::Measured>| match no_sync {
            Some(no_sync) => format!(
                "{:.2}x raw, {:.2}x the same on Relaxed",
                durable.ops_per_sec() / raw_rate,
                durable.ops_per_sec() / no_sync.ops_per_sec().max(1e-9)
            ),
            None => format!("{:.2}x raw", durable.ops_per_sec() / raw_rate),
        };
        if let Some((service_relaxed, http_relaxed)) = &ceiling {
            for (case, m) in [("service", service_relaxed), ("HTTP", http_relaxed)] {
                report.measured(
                    "send",
                    name,
                    &format!("{concurrency} senders, {case}, Relaxed (no flush, no sync)"),
                    m,
                    true,
                    format!(
                        "{:.2}x raw: the ceiling of any group commit",
                        m.ops_per_sec() / raw_rate
                    ),
                );
            }
        }
        if let Some((redb_service, redb_http)) = &redb_results {
            for (case, m, relaxed) in [
                ("service", redb_service, ceiling.as_ref().map(|(s, _)| s)),
                ("HTTP", redb_http, ceiling.as_ref().map(|(_, h)| h)),
            ] {
                let note = match relaxed {
                    Some(relaxed) => format!(
                        "redb durable (its commit fsyncs): {:.2}x sled Relaxed, {:.2}x sled durable",
                        m.ops_per_sec() / relaxed.ops_per_sec().max(1e-9),
                        m.ops_per_sec()
                            / if case == "HTTP" {
                                http.ops_per_sec()
                            } else {
                                service.ops_per_sec()
                            }
                            .max(1e-9)
                    ),
                    None => String::new(),
                };
                report.measured("send", "redb", &format!("{concurrency} senders, {case}"), m, true, note);
            }
        }
        let service_note = against_ceiling(&service, ceiling.as_ref().map(|(s, _)| s));
        let http_note = against_ceiling(&http, ceiling.as_ref().map(|(_, h)| h));
        report.measured(
            "send",
            name,
            &format!("{concurrency} senders, service"),
            &service,
            true,
            service_note,
        );
        report.measured(
            "send",
            name,
            &format!("{concurrency} senders, HTTP"),
            &http,
            true,
            http_note,
        );
        report.measured(
            "send",
            name,
            &format!("{concurrency} senders, raw baseline"),
            &raw_m,
            true,
            raw.describe(),
        );
        if concurrency == 1 && backend == Backend::Postgres {
            report.target(
                name,
                "send, 1 sender, HTTP p50 / raw p50",
                http.p50() / raw_m.p50().max(1e-9),
                2.0,
                true,
            );
        }
        if concurrency == 16 {
            match (backend, &ceiling) {
                (Backend::Postgres, _) => report.target(
                    name,
                    "send, 16 senders, HTTP / raw",
                    http.ops_per_sec() / raw_rate,
                    0.6,
                    false,
                ),
                (Backend::Sled, Some((_, http_relaxed))) => report.target(
                    name,
                    "send durable (log write + fdatasync), 16 senders, HTTP / HTTP on Relaxed",
                    http.ops_per_sec() / http_relaxed.ops_per_sec().max(1e-9),
                    0.8,
                    false,
                ),
                (Backend::Sled, None) => unreachable!("sled measures the Relaxed ceiling"),
            }
        }
    }
    if let AnyStore::Postgres(pg) = &store {
        write_cost(pg, &services, &raw, plan, report).await;
    }
    raw.close().await;
    close(store).await;
    if let Some((relaxed, ..)) = relaxed {
        close(relaxed).await;
    }
    if let Some((store, services, _, path)) = redb {
        drop((store, services));
        let _ = std::fs::remove_file(path);
    }
}

/// A send over HTTP through `addr`, worker `w` on its own keep-alive connection in
/// conversation `w`.
async fn http_op(addr: SocketAddr, conversations: Arc<Vec<(chat_core::Identity, ConversationId)>>) -> measure::Op {
    let mut clients = Vec::new();
    for _ in 0..conversations.len() {
        clients.push(Mutex::new(HttpClient::connect(addr).await));
    }
    let clients = Arc::new(clients);
    Arc::new(move |worker, iteration| {
        let clients = Arc::clone(&clients);
        let (actor, id) = conversations[worker].clone();
        boxed(async move {
            let mut client = clients[worker].lock().await;
            let body = serde_json::json!({ "body": format!("http message {iteration}") }).to_string();
            let (status, text) = client
                .request(
                    "POST",
                    &format!("/conversations/{id}/messages"),
                    actor.user.as_str(),
                    Some(body),
                )
                .await;
            assert_eq!(status, 201, "send over HTTP: {}", String::from_utf8_lossy(&text));
        })
    })
}

/// One direct conversation per sender, `s<concurrency>_<worker>` to `r<concurrency>_<worker>`.
async fn sender_conversations(
    services: &chat_core::ChatServices,
    concurrency: usize,
) -> Arc<Vec<(chat_core::Identity, ConversationId)>> {
    named_conversations(services, "", concurrency).await
}

/// One direct conversation per sender, `<prefix>s<concurrency>_<worker>` to
/// `<prefix>r<concurrency>_<worker>`.
pub(crate) async fn named_conversations(
    services: &chat_core::ChatServices,
    prefix: &str,
    concurrency: usize,
) -> Arc<Vec<(chat_core::Identity, ConversationId)>> {
    let mut conversations = Vec::new();
    for worker in 0..concurrency {
        let sender = identity(&format!("{prefix}s{concurrency}_{worker}"));
        let (view, _) = services
            .conversations()
            .start_direct(
                &sender,
                StartDirect::with(user_id(&format!("{prefix}r{concurrency}_{worker}"))),
            )
            .await
            .expect("start_direct");
        conversations.push((sender, view.conversation.id));
    }
    Arc::new(conversations)
}

/// A send through the services, worker `w` in conversation `w`.
pub(crate) fn service_op(
    services: &chat_core::ChatServices,
    conversations: Arc<Vec<(chat_core::Identity, ConversationId)>>,
) -> measure::Op {
    let messages = services.messages();
    Arc::new(move |worker, iteration| {
        let messages = messages.clone();
        let (actor, id) = conversations[worker].clone();
        boxed(async move {
            messages
                .send(&actor, id, SendMessage::text(format!("service message {iteration}")))
                .await
                .expect("send");
        })
    })
}

/// Turns each send case takes, in rotation with the others (see [`measure::drive_rotating`]).
const SEND_TURNS: u32 = 4;

/// Issue 31: what one direct send writes in Postgres, against the raw baseline's operation:
/// WAL bytes and rows per table (with the HOT share of updates), each run alone, one after
/// another, in a conversation of its own.
async fn write_cost(
    store: &chat_store_sqlx::PgStore,
    services: &chat_core::ChatServices,
    raw: &RawBaseline,
    plan: &Plan,
    report: &mut Report,
) {
    let full = plan.duration >= std::time::Duration::from_secs(1);
    let ops: u64 = if full { 2_000 } else { 200 };
    let schema = store.schema().as_str();
    let send = service_op(services, sender_conversations(services, 1).await);
    let (before, after) = write_cost::around(store.pool(), schema, &send, ops, full).await;
    let (raw_before, raw_after) = write_cost::around(store.pool(), schema, &raw.op(1), ops, full).await;
    let wal = before.wal_per_op(&after, ops);
    let raw_wal = raw_before.wal_per_op(&raw_after, ops);
    report.note_row(
        "send",
        "postgres",
        "write cost of a direct send",
        format!(
            "{wal:.0} WAL bytes per send ({:.2}x raw's {raw_wal:.0}); rows per send: {}",
            wal / raw_wal.max(1.0),
            before.rows_per_op(&after, ops)
        ),
    );
    report.target("postgres", "WAL bytes per direct send", wal, 1024.0, true);
}

/// The raw baseline of scenario 1.
enum RawBaseline {
    Postgres(sqlx::PgPool, String),
    Sled(sled::Db, sled::Tree, sled::Tree, Arc<std::fs::File>),
}

impl RawBaseline {
    async fn new(backend: Backend, store: &AnyStore, plan: &Plan) -> Self {
        match (backend, store) {
            (Backend::Postgres, AnyStore::Postgres(store)) => {
                let s = store.schema().as_str().to_owned();
                for sql in [
                    format!(
                        "CREATE TABLE {s}.raw_conversations (id bigint PRIMARY KEY, last_seq bigint NOT NULL, \
                         last_activity_at timestamptz NOT NULL, last_message_text text)"
                    ),
                    format!(
                        "CREATE TABLE {s}.raw_messages (conversation_id bigint NOT NULL REFERENCES {s}.raw_conversations (id), \
                         seq bigint NOT NULL, sender text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL, \
                         PRIMARY KEY (conversation_id, seq))"
                    ),
                    format!("INSERT INTO {s}.raw_conversations SELECT g, 0, now(), NULL FROM generate_series(0, 99) g"),
                ] {
                    sqlx::query(&sql)
                        .execute(store.pool())
                        .await
                        .expect("creating the raw tables");
                }
                Self::Postgres(store.pool().clone(), s)
            }
            _ => {
                let path = plan.data_dir.join(format!("raw-{}", uuid::Uuid::now_v7().simple()));
                let db = sled::Config::new().path(&path).open().expect("opening the raw sled db");
                let conversations = db.open_tree("raw_conversations").expect("tree");
                let messages = db.open_tree("raw_messages").expect("tree");
                let file = std::fs::File::open(path.join("db")).expect("the raw sled data file");
                Self::Sled(db, conversations, messages, Arc::new(file))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Postgres(..) => "sqlx tx: UPDATE conversation + INSERT message".to_owned(),
            Self::Sled(..) => "sled tx over 2 trees + flush + fdatasync per op".to_owned(),
        }
    }

    /// One baseline send, as an op of [`measure::drive_rotating`].
    fn op(&self, concurrency: usize) -> measure::Op {
        match self {
            Self::Postgres(pool, s) => {
                let pool = pool.clone();
                let update = format!(
                    "UPDATE {s}.raw_conversations SET last_seq = last_seq + 1, last_activity_at = now(), \
                     last_message_text = $2 WHERE id = $1 RETURNING last_seq"
                );
                let insert = format!(
                    "INSERT INTO {s}.raw_messages (conversation_id, seq, sender, body, created_at) VALUES ($1, $2, $3, $4, now())"
                );
                let (update, insert) = (Arc::new(update), Arc::new(insert));
                Arc::new(move |worker, iteration| {
                    let (pool, update, insert) = (pool.clone(), Arc::clone(&update), Arc::clone(&insert));
                    boxed(async move {
                        let id = (concurrency * 5 + worker) as i64;
                        let body = format!("raw message {iteration}");
                        let mut tx = pool.begin().await.expect("begin");
                        let seq: i64 = sqlx::query_scalar(&update)
                            .bind(id)
                            .bind(&body)
                            .fetch_one(&mut *tx)
                            .await
                            .expect("update");
                        sqlx::query(&insert)
                            .bind(id)
                            .bind(seq)
                            .bind("sender")
                            .bind(&body)
                            .execute(&mut *tx)
                            .await
                            .expect("insert");
                        tx.commit().await.expect("commit");
                    })
                })
            }
            Self::Sled(db, conversations, messages, file) => {
                let (db, conversations, messages, file) =
                    (db.clone(), conversations.clone(), messages.clone(), Arc::clone(file));
                Arc::new(move |worker, iteration| {
                    let (db, conversations, messages, file) =
                        (db.clone(), conversations.clone(), messages.clone(), Arc::clone(&file));
                    boxed(async move {
                        tokio::task::spawn_blocking(move || {
                            let key = ((concurrency * 100 + worker) as u64).to_be_bytes();
                            let body = format!("raw message {iteration}");
                            (&conversations, &messages)
                                .transaction(|(c, m)| -> ConflictableTransactionResult<(), ()> {
                                    let seq = c
                                        .get(key)?
                                        .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
                                        .map(u64::from_be_bytes)
                                        .unwrap_or(0)
                                        + 1;
                                    let mut value = seq.to_be_bytes().to_vec();
                                    value.extend_from_slice(body.as_bytes());
                                    c.insert(&key, value)?;
                                    let mut message_key = key.to_vec();
                                    message_key.extend_from_slice(&seq.to_be_bytes());
                                    m.insert(message_key, body.as_bytes())?;
                                    Ok(())
                                })
                                .expect("raw sled transaction");
                            db.flush().expect("raw sled flush");
                            file.sync_data().expect("raw sled fdatasync");
                        })
                        .await
                        .expect("raw sled task");
                    })
                })
            }
        }
    }

    async fn close(self) {
        if let Self::Sled(db, ..) = self {
            let _ = db.flush_async().await;
        }
    }
}
