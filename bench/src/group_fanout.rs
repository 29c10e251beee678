//! Scenario 7: fan-out of a group's messages to every member's WebSocket.
//!
//! One group of [`MEMBERS`] (the largest the default limits allow, the creator included),
//! every member connected on `/ws` through the chat router, the clients in a child process
//! ([`ws_clients`]). The creator sends text messages through the service one at a time: each
//! send is awaited, then the bench waits until the child reports that every connection (the
//! sender's own included) has received its `message.created`, and only then sends the next.
//! So every message's latency, from before the send to the last member's receipt, is the
//! cost of one message's fan-out, with no queue of earlier messages in front of it, and the
//! throughput is how many messages a second one sender gets to all members that way.
//!
//! Sending faster than the fan-out would only measure a growing queue, and past the event
//! bus's buffer (256 events per subscriber, two per message) the members would lag and be
//! told to resync.

use std::time::{Duration, Instant};

use chat_core::{Metadata, NewGroupInput, SendMessage};
use chat_store_sled::Durability;

use crate::env::{self, Backend, identity, user_id};
use crate::measure::{self, Measured};
use crate::report::Report;
use crate::scenarios::{self, Plan};
use crate::ws_clients::{self, Auth, Clients, Receipts};

/// Members of the group, the sender included.
pub const MEMBERS: usize = 256;

/// (uncounted warm-up messages, measured messages) of the quick and the full run.
fn counts(quick: bool) -> (usize, usize) {
    if quick { (2, 20) } else { (10, 200) }
}

/// How long one message may take to reach every member before the run is called off.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the scenario on `backend`.
pub async fn group_fanout(backend: Backend, plan: &Plan, quick: bool, report: &mut Report) {
    let store = scenarios::fresh(backend, plan, "fanout", Durability::Durable).await;
    let services = store.services();
    let addr = env::serve(services.clone()).await;
    let name = backend.name();
    // The clients are `w0`..`w255`; `w0` creates the group and sends.
    let sender = identity("w0");
    let input = NewGroupInput {
        participants: (1..MEMBERS).map(|index| user_id(&format!("w{index}"))).collect(),
        title: "fan-out".to_owned(),
        tag: None,
        metadata: Metadata::new(),
    };
    let group = services
        .conversations()
        .create_group(&sender, input)
        .await
        .expect("creating the group")
        .conversation
        .id;
    let mut clients = Clients::start_with(&format!("ws://{addr}/ws"), MEMBERS, Auth::Bearer, Receipts::LastOfAll).await;
    let connected = clients.connected;
    let messages = services.messages();
    let (warmup, count) = counts(quick);
    let mut latencies = Vec::with_capacity(count);
    let mut send_calls = Vec::with_capacity(count);
    let mut started = Instant::now();
    let mut cpu_before = (None, None);
    for index in 0..warmup + count {
        if index == warmup {
            started = Instant::now();
            cpu_before = (measure::cpu_secs_of(std::process::id()), clients.cpu_secs());
        }
        let sent = ws_clients::unix_micros();
        let began = Instant::now();
        messages
            .send(&sender, group, SendMessage::text(format!("t:{sent}")))
            .await
            .expect("send");
        let call = began.elapsed().as_micros() as u64;
        match clients.next_delivery(DELIVERY_TIMEOUT).await {
            Some((at, latency)) if at == sent => {
                if index >= warmup {
                    latencies.push(latency);
                    send_calls.push(call);
                }
            }
            other => {
                eprintln!(
                    "group-fanout on {name}: message {index} did not reach all {connected} members \
                     within {DELIVERY_TIMEOUT:?} ({other:?}); stopping"
                );
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    // Both processes share the machine's cores: how much each took of the measured run.
    let cpu = match (cpu_before, measure::cpu_secs_of(std::process::id()), clients.cpu_secs()) {
        ((Some(server_before), Some(clients_before)), Some(server), Some(clients)) => format!(
            "; CPU in {:.1} s: server process {:.1} s ({:.0} ms per message), client process {:.1} s",
            elapsed.as_secs_f64(),
            server - server_before,
            (server - server_before) * 1000.0 / latencies.len().max(1) as f64,
            clients - clients_before
        ),
        _ => String::new(),
    };
    clients.finish().await;
    let delivered = latencies.len();
    let m = Measured::from_latencies(latencies, elapsed);
    let calls = Measured::from_latencies(send_calls, elapsed);
    report.measured(
        "group-fanout",
        name,
        &format!("{MEMBERS}-member group, send -> last member's message.created"),
        &m,
        true,
        format!(
            "{delivered}/{count} reached all {connected}/{MEMBERS} connected members; one sender, \
             next send after the last receipt; the send call alone p50 {:.3} ms, p99 {:.3} ms{cpu}",
            calls.p50(),
            calls.p99()
        ),
    );
    if let env::AnyStore::Postgres(pg) = &store {
        // Issue 31: the rows and WAL one send into the group writes (the clients are gone,
        // so nothing else runs).
        let sends: u64 = if quick { 20 } else { 200 };
        let op: measure::Op = {
            let (messages, sender) = (services.messages(), sender.clone());
            std::sync::Arc::new(move |_, iteration| {
                let (messages, sender) = (messages.clone(), sender.clone());
                scenarios::boxed(async move {
                    messages
                        .send(&sender, group, SendMessage::text(format!("rows {iteration}")))
                        .await
                        .expect("send");
                })
            })
        };
        let (before, after) = crate::write_cost::around(pg.pool(), pg.schema().as_str(), &op, sends, !quick).await;
        report.note_row(
            "group-fanout",
            name,
            &format!("{MEMBERS}-member group, write cost of a send"),
            format!(
                "{:.0} WAL bytes per send; rows per send: {}",
                before.wal_per_op(&after, sends),
                before.rows_per_op(&after, sends)
            ),
        );
    }
    scenarios::close(store).await;
}
