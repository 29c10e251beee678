//! The "cross-node" scenario: live-event fan-out between two nodes, `PgEventBus` against
//! `RedisEventBus` in the same run. 16 writers publish on node A, 64 subscribers listen on
//! node B (each event to one of them); measured: events/s received on B, and p50/p99 from
//! the `publish` call to the receipt on B. First closed loop (as fast as the writers go:
//! where each bus saturates), then open loop at fixed rates (p99 until the bus falls behind).
//!
//! The bus alone is measured (no store write): the events are `conversation.read` receipts,
//! about 250 bytes on the wire. Postgres comes from `DATABASE_URL`, Redis from `REDIS_URL`
//! (default `redis://127.0.0.1:6379`); without a reachable Redis the scenario notes it and
//! measures Postgres only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_bus_redis::RedisEventBus;
use chat_core::{ConversationId, Event, EventBus, EventPayload, TenantId};
use chat_store_sqlx::PgEventBus;

use crate::env;
use crate::measure::Measured;
use crate::report::Report;

const WRITERS: usize = 16;
const SUBSCRIBERS: usize = 64;
/// Events whose send time a run can hold.
const SLOTS: usize = 4 << 20;

/// Runs the scenario (once per run: it compares buses, not stores).
pub async fn run(quick: bool, report: &mut Report) {
    let (closed, rates, per_rate): (Duration, &[u64], Duration) = if quick {
        (Duration::from_secs(1), &[1000], Duration::from_secs(1))
    } else {
        (
            Duration::from_secs(5),
            &[1000, 4000, 16000, 64000],
            Duration::from_secs(3),
        )
    };
    let store = env::open_postgres(WRITERS as u32 + 4).await;
    let pg = |store: &chat_store_sqlx::PgStore| {
        PgEventBus::builder(store.pool().clone())
            .schema(store.schema().as_str())
            .capacity(1 << 16)
            .connect()
    };
    let pg_a: Arc<dyn EventBus> = Arc::new(pg(&store).await.expect("Postgres bus A"));
    let pg_b: Arc<dyn EventBus> = Arc::new(pg(&store).await.expect("Postgres bus B"));
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let redis = |prefix: String| {
        let url = redis_url.clone();
        async move {
            RedisEventBus::builder()
                .key_prefix(prefix)
                .capacity(1 << 16)
                .connect(&url)
                .await
        }
    };
    let redis_pair = match (redis(prefix.clone()).await, redis(prefix).await) {
        (Ok(a), Ok(b)) => Some((Arc::new(a) as Arc<dyn EventBus>, Arc::new(b) as Arc<dyn EventBus>)),
        (Err(error), _) | (_, Err(error)) => {
            report.note_row("cross-node", "redis", "fan-out", format!("not measured: {error}"));
            None
        }
    };
    let mut buses = vec![("postgres", pg_a, pg_b)];
    if let Some((a, b)) = redis_pair {
        buses.push(("redis", a, b));
    }
    let mut closed_rates = Vec::new();
    for (name, a, b) in &buses {
        let m = fan_out(a, b, None, closed).await;
        closed_rates.push((*name, m.ops_per_sec()));
        report.measured(
            "cross-node",
            name,
            "16 writers on A -> 64 subscribers on B, closed loop (saturation)",
            &m,
            true,
            String::new(),
        );
    }
    for &rate in rates {
        for (name, a, b) in &buses {
            let m = fan_out(a, b, Some(rate), per_rate).await;
            let achieved = m.ops_per_sec();
            let kept_up = achieved >= 0.95 * rate as f64;
            report.measured(
                "cross-node",
                name,
                &format!("open loop at {rate} events/s"),
                &m,
                true,
                if kept_up {
                    "kept up".to_owned()
                } else {
                    format!("fell behind: {achieved:.0}/s")
                },
            );
        }
    }
    if let [(_, pg), (_, redis)] = closed_rates[..] {
        report.note_row(
            "cross-node",
            "both",
            "saturation events/s, redis / postgres",
            format!("{:.2}x ({redis:.0} / {pg:.0})", redis / pg),
        );
    }
    drop(buses);
    env::drop_postgres(&store).await;
}

/// One measured run: `WRITERS` tasks publish on `a` (as fast as they can, or `rate` events/s
/// in all) for `duration`; `SUBSCRIBERS` tasks receive on `b`.
async fn fan_out(a: &Arc<dyn EventBus>, b: &Arc<dyn EventBus>, rate: Option<u64>, duration: Duration) -> Measured {
    let tenant = TenantId::default();
    let conversation = ConversationId::new_v7();
    let users: Vec<_> = (0..SUBSCRIBERS).map(|i| env::user_id(&format!("sub{i}"))).collect();
    let mut streams = Vec::new();
    for user in &users {
        streams.push(b.subscribe_live(&tenant, user).await);
    }
    let origin = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for mut stream in streams {
        let (sent, received, stop) = (Arc::clone(&sent), Arc::clone(&received), Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut last = origin;
            let mut lost = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(50), stream.recv()).await {
                    // Only this run's events (a previous run's may still be in flight).
                    Ok(Ok(event)) if event.conversation_id == conversation => {
                        if let EventPayload::ConversationRead { seq, .. } = event.payload {
                            let at = origin.elapsed().as_micros() as u64;
                            let published = sent[seq as usize].load(Ordering::Acquire);
                            latencies.push(at.saturating_sub(published));
                            received.fetch_add(1, Ordering::Relaxed);
                            last = Instant::now();
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(chat_core::StreamError::Lagged { skipped })) => lost += skipped,
                    Ok(Err(_)) => break,
                    Err(_) => {}
                }
            }
            (latencies, last, lost)
        }));
    }
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (a, sent, next) = (Arc::clone(a), Arc::clone(&sent), Arc::clone(&next));
        let (tenant, users) = (tenant.clone(), users.clone());
        writers.push(tokio::spawn(async move {
            let me = env::user_id(&format!("writer{writer}"));
            let started = Instant::now();
            let mut mine = 0u64;
            while started.elapsed() < duration {
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(mine as f64 * WRITERS as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= SLOTS {
                    break;
                }
                sent[index].store(origin.elapsed().as_micros() as u64, Ordering::Release);
                let event = Event {
                    tenant: tenant.clone(),
                    recipients: vec![users[index % users.len()].clone()],
                    conversation_id: conversation,
                    payload: EventPayload::ConversationRead {
                        user: me.clone(),
                        seq: index as u64,
                        read_at: chrono::Utc::now(),
                    },
                };
                let _ = a.publish(event).await;
                mine += 1;
            }
        }));
    }
    for writer in writers {
        let _ = writer.await;
    }
    let published = next.load(Ordering::Relaxed).min(SLOTS);
    // Let the receipts drain (at most 10 s).
    let drain = Instant::now();
    while received.load(Ordering::Relaxed) < published && drain.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut last = origin;
    let mut lost = 0;
    for reader in readers {
        let (mine, at, skipped) = reader.await.expect("reader");
        latencies.extend(mine);
        last = last.max(at);
        lost += skipped;
    }
    if lost > 0 || latencies.len() < published {
        println!(
            "  note: {} of {published} events received ({lost} lagged)",
            latencies.len()
        );
    }
    Measured::from_latencies(latencies, last.duration_since(origin))
}
