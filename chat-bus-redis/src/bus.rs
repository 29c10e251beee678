//! The bus: a publishing connection, a subscribing connection and the task that runs it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chat_core::{ChatResult, Event, EventBus, EventStream, InProcessEventBus, TenantId, UserId};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use serde::Deserialize;
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

use crate::channel;
use crate::error::RedisBusError;

/// The key prefix when none is set: channels are `chat:<tenant length>:<tenant>:<user>`.
pub const DEFAULT_KEY_PREFIX: &str = "chat";

/// How many events a local subscriber may fall behind before it lags (default).
pub const DEFAULT_CAPACITY: usize = 256;

/// Events whose envelope is larger than this (default 1 MiB) are not sent: their recipients
/// on other nodes are told to resync instead.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// How often the subscribing task drops the Redis subscriptions of users nobody on this
/// node follows any more (default).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How long a Redis round trip (connect, subscribe, ping, publish) may take.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the subscribing connection is pinged, so a silently dead one is noticed.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Channels per SUBSCRIBE or UNSUBSCRIBE command.
const BATCH: usize = 512;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

type Key = (TenantId, UserId);

/// The event bus for many nodes: Redis pub/sub, one channel per user.
///
/// [`EventBus::publish`] hands the event to this node's own subscribers at once and
/// publishes it (one pipelined `PUBLISH` per recipient, on one multiplexed connection that
/// reconnects by itself) to each recipient's channel,
/// `<prefix>:<tenant length>:<tenant>:<user>`. The envelope names the publishing node, so a
/// node never delivers its own events twice.
///
/// ## Redis subscriptions a node holds
///
/// One dedicated pub/sub connection per node, subscribed to the channel of each user who
/// has at least one live [`EventStream`] on this node (a WebSocket), and to nothing else: a
/// node with 10,000 connected users holds 10,000 channel subscriptions on that one
/// connection, a node with 3 holds 3, and an idle node none. A user's channel is subscribed
/// when their first stream opens and dropped within one sweep interval
/// ([`DEFAULT_SWEEP_INTERVAL`]) after their last one closes. Redis only routes an event to
/// the nodes that follow one of its recipients, so the traffic of a node grows with its own
/// users, not with the cluster. Plus one multiplexed connection for publishing: two
/// connections per node.
///
/// ## At most once, never a silent gap
///
/// Events are the fast path: a client that reconnects catches up from the store
/// (`history(after = seq)`). Whenever this node may have missed an event, the subscribers
/// concerned are told to do so: their [`EventStream`] ends with
/// [`StreamError::Closed`](chat_core::StreamError::Closed) after the events already queued
/// (the WebSocket layer sends `resync`), and they subscribe again.
///
/// - The subscribing connection is watched (its stream ending, a failed command, a ping
///   unanswered for 5 s). When it is lost, every local subscription ends at once
///   ([`InProcessEventBus::disconnect_all`]); the task reconnects with backoff (50 ms to
///   5 s) and ends every subscription made during the outage too, since those may have
///   missed events as well. Redis' own automatic resubscription is not used: it would hide
///   the gap.
/// - [`EventBus::subscribe_live`] returns once the user's channel is subscribed on Redis,
///   so nothing published after it returns is missed; if that cannot happen within 5 s the
///   stream it returns is already ended (the client resyncs and tries again).
/// - An event whose envelope passes the payload limit ([`DEFAULT_MAX_PAYLOAD`]) is not
///   sent; its recipients' channels get a resync marker instead. An envelope a node cannot
///   read (a newer version's event type, say) ends the subscriptions of that channel's user
///   on that node. Neither is a silent drop.
/// - Queues are bounded: each local subscriber has a bounded channel (it lags and resyncs
///   like on the other buses). The `redis` crate reads the pub/sub socket into a queue of
///   its own that this bus drains without waiting on anyone; Redis' `client-output-buffer-limit
///   pubsub` bounds what waits on the server side, and a node that passes it is
///   disconnected, which ends its local subscriptions as above.
///
/// ## Only committed changes are sent
///
/// The services publish after the store's transaction has committed, and a failed
/// operation publishes nothing. If publishing fails (Redis unreachable), `publish` returns
/// the error after delivering locally; the other nodes' subscribing connections see the
/// same outage and resync their subscribers.
///
/// The subscribing task stops when the last clone of the bus is dropped.
#[derive(Clone)]
pub struct RedisEventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEventBus")
            .field("key_prefix", &self.inner.shared.prefix)
            .field("node", &self.inner.shared.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    shared: Arc<Shared>,
    publisher: ConnectionManager,
    max_payload: usize,
    /// Dropped with the last clone of the bus: stops the subscribing task.
    _stop: oneshot::Sender<()>,
}

/// What the subscribing task shares with the bus handles.
struct Shared {
    local: InProcessEventBus,
    prefix: String,
    node: Uuid,
    state: Mutex<State>,
    /// Wakes the task when `pending` grew.
    wake: Notify,
}

/// The subscriptions on Redis. Lock order: this, then the local bus.
#[derive(Default)]
struct State {
    /// Channels subscribed (confirmed by Redis) on the current connection.
    remote: HashSet<Key>,
    /// Channels wanted by local subscribers, not yet subscribed.
    pending: HashSet<Key>,
    /// `subscribe_live` callers waiting for a channel: told `true` once it is subscribed,
    /// `false` when the connection was lost first.
    waiters: HashMap<Key, Vec<oneshot::Sender<bool>>>,
    /// Whether the subscribing connection is up.
    connected: bool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Configures and connects a [`RedisEventBus`].
#[derive(Clone, Debug)]
pub struct RedisEventBusBuilder {
    prefix: String,
    capacity: usize,
    max_payload: usize,
    sweep_interval: Duration,
}

impl RedisEventBusBuilder {
    /// The prefix of every channel name (default `chat`): one per deployment sharing a Redis
    /// (`shop-prod`, `shop-staging`). Every node of one deployment must use the same.
    /// 1 to 64 bytes, no whitespace or control characters.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many events a local subscriber may fall behind before it lags (default 256).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The largest envelope sent (default 1 MiB); past it the recipients resync instead.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// How soon the channel of a user whose last local stream closed is unsubscribed
    /// (default 1 s).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Connects to `url` (`redis://host:port/db`, `rediss://` needs a TLS feature of the
    /// `redis` crate); returns once both connections are up.
    pub async fn connect(self, url: &str) -> Result<RedisEventBus, RedisBusError> {
        if !channel::valid_prefix(&self.prefix) {
            return Err(RedisBusError::InvalidKeyPrefix { prefix: self.prefix });
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(ROUND_TRIP_TIMEOUT))
            .set_response_timeout(Some(ROUND_TRIP_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(MAX_BACKOFF);
        let publisher = client.get_connection_manager_with_config(config).await?;
        let (sink, stream) = open(&client).await?;
        let shared = Arc::new(Shared {
            local: InProcessEventBus::with_capacity(self.capacity),
            prefix: self.prefix,
            node: Uuid::now_v7(),
            state: Mutex::new(State {
                connected: true,
                ..State::default()
            }),
            wake: Notify::new(),
        });
        let (stop, stopped) = oneshot::channel();
        let task = Task {
            shared: Arc::clone(&shared),
            client,
            sweep_interval: self.sweep_interval,
        };
        tokio::spawn(task.run(sink, stream, stopped));
        Ok(RedisEventBus {
            inner: Arc::new(Inner {
                shared,
                publisher,
                max_payload: self.max_payload,
                _stop: stop,
            }),
        })
    }
}

/// A fresh subscribing connection.
async fn open(client: &redis::Client) -> Result<(PubSubSink, PubSubStream), RedisBusError> {
    let pubsub = tokio::time::timeout(ROUND_TRIP_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| RedisBusError::Timeout(ROUND_TRIP_TIMEOUT))??;
    Ok(pubsub.split())
}

impl RedisEventBus {
    /// A builder (key prefix `chat`, capacity 256, payload limit 1 MiB).
    pub fn builder() -> RedisEventBusBuilder {
        RedisEventBusBuilder {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            capacity: DEFAULT_CAPACITY,
            max_payload: DEFAULT_MAX_PAYLOAD,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
        }
    }

    /// The bus with the default settings on `url`.
    pub async fn connect(url: &str) -> Result<Self, RedisBusError> {
        Self::builder().connect(url).await
    }

    /// The channel prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.shared.prefix
    }

    /// How many user channels this node is subscribed to on Redis now.
    pub fn redis_subscriptions(&self) -> usize {
        self.inner.shared.state().remote.len()
    }

    /// Whether the subscribing connection is up now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.state().connected
    }

    async fn send(&self, event: &Event) -> Result<(), RedisBusError> {
        let inner = &self.inner;
        let shared = &inner.shared;
        let mut envelope = format!(
            r#"{{"origin":"{}","event":{}}}"#,
            shared.node,
            serde_json::to_string(event)?
        );
        if envelope.len() > inner.max_payload {
            tracing::warn!(
                bytes = envelope.len(),
                limit = inner.max_payload,
                "an event passes the payload limit; its recipients on other nodes resync"
            );
            envelope = format!(r#"{{"origin":"{}","resync":true}}"#, shared.node);
        }
        let mut pipe = redis::pipe();
        for recipient in &event.recipients {
            pipe.cmd("PUBLISH")
                .arg(channel::name(&shared.prefix, &event.tenant, recipient))
                .arg(envelope.as_str())
                .ignore();
        }
        let mut connection = inner.publisher.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct InEnvelope {
    origin: Uuid,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    resync: bool,
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, event: Event) -> ChatResult<()> {
        if event.recipients.is_empty() {
            return Ok(());
        }
        let sent = self.send(&event).await;
        self.inner.shared.local.deliver(event);
        sent.map_err(Into::into)
    }

    fn subscribe(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        let shared = &self.inner.shared;
        // The local stream first: the sweep never drops a channel that has one.
        let stream = shared.local.subscribe(tenant, user);
        let key = (tenant.clone(), user.clone());
        let mut state = shared.state();
        if !state.remote.contains(&key) && state.pending.insert(key) {
            drop(state);
            shared.wake.notify_one();
        }
        stream
    }

    async fn subscribe_live(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        let stream = self.subscribe(tenant, user);
        let key = (tenant.clone(), user.clone());
        let confirmed = {
            let mut state = self.inner.shared.state();
            if state.remote.contains(&key) {
                return stream;
            }
            let (tell, confirmed) = oneshot::channel();
            state.waiters.entry(key).or_default().push(tell);
            confirmed
        };
        match tokio::time::timeout(ROUND_TRIP_TIMEOUT, confirmed).await {
            Ok(Ok(true)) => stream,
            _ => {
                tracing::debug!(%user, "the user's channel could not be subscribed; the stream ends at once");
                ended_stream(tenant, user)
            }
        }
    }
}

/// A stream that has already ended: its subscriber resyncs.
fn ended_stream(tenant: &TenantId, user: &UserId) -> EventStream {
    let bus = InProcessEventBus::with_capacity(1);
    let stream = bus.subscribe(tenant, user);
    bus.disconnect_all();
    stream
}

/// The subscribing task: one connection at a time, reconnecting after a loss.
struct Task {
    shared: Arc<Shared>,
    client: redis::Client,
    sweep_interval: Duration,
}

/// Why a connection was given up.
enum Exit {
    Stopped,
    Lost(String),
}

impl Task {
    async fn run(self, sink: PubSubSink, stream: PubSubStream, mut stopped: oneshot::Receiver<()>) {
        let mut connection = Some((sink, stream));
        let mut backoff = MIN_BACKOFF;
        loop {
            let Some((sink, stream)) = connection.take() else {
                tokio::select! {
                    _ = &mut stopped => return,
                    fresh = open(&self.client) => match fresh {
                        Ok(fresh) => {
                            tracing::info!(prefix = %self.shared.prefix, "redis event subscriber reconnected; subscribers resync");
                            // Subscriptions made during the outage may have missed events too.
                            self.reset(true);
                            backoff = MIN_BACKOFF;
                            connection = Some(fresh);
                        }
                        Err(error) => {
                            tracing::warn!(%error, ?backoff, "redis event subscriber could not reconnect");
                            let wait = backoff;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            tokio::select! {
                                _ = &mut stopped => return,
                                () = tokio::time::sleep(wait) => {}
                            }
                        }
                    },
                }
                continue;
            };
            match self.serve(sink, stream, &mut stopped).await {
                Exit::Stopped => return,
                Exit::Lost(why) => {
                    tracing::warn!(prefix = %self.shared.prefix, %why, "redis event subscriber lost its connection; subscribers resync");
                    self.reset(false);
                }
            }
        }
    }

    /// Forgets every Redis subscription and ends every local stream (they may have missed
    /// events); callers waiting for a channel are told it failed.
    fn reset(&self, connected: bool) {
        let waiters = {
            let mut state = self.shared.state();
            self.shared.local.disconnect_all();
            state.remote.clear();
            state.pending.clear();
            state.connected = connected;
            std::mem::take(&mut state.waiters)
        };
        for tell in waiters.into_values().flatten() {
            let _ = tell.send(false);
        }
    }

    /// Runs one connection until it is lost or the bus is dropped.
    async fn serve(&self, mut sink: PubSubSink, mut stream: PubSubStream, stopped: &mut oneshot::Receiver<()>) -> Exit {
        let mut sweep = tokio::time::interval(self.sweep_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Wanted channels first (also those added while the last command ran).
            if let Err(why) = self.subscribe_pending(&mut sink).await {
                return Exit::Lost(why);
            }
            tokio::select! {
                _ = &mut *stopped => return Exit::Stopped,
                message = stream.next() => match message {
                    Some(message) => self.handle(&message),
                    None => return Exit::Lost("the connection closed".to_owned()),
                },
                () = self.shared.wake.notified() => {}
                _ = sweep.tick() => {
                    if let Err(why) = self.sweep(&mut sink).await {
                        return Exit::Lost(why);
                    }
                }
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(ROUND_TRIP_TIMEOUT, sink.ping::<redis::Value>()).await;
                    match pong {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return Exit::Lost(format!("ping failed: {error}")),
                        Err(_) => return Exit::Lost("ping unanswered".to_owned()),
                    }
                }
            }
        }
    }

    /// Subscribes the channels local subscribers wait for, in batches.
    async fn subscribe_pending(&self, sink: &mut PubSubSink) -> Result<(), String> {
        loop {
            let batch: Vec<Key> = {
                let mut state = self.shared.state();
                let batch: Vec<Key> = state.pending.iter().take(BATCH).cloned().collect();
                for key in &batch {
                    state.pending.remove(key);
                }
                batch
            };
            if batch.is_empty() {
                return Ok(());
            }
            let names: Vec<String> = batch
                .iter()
                .map(|(tenant, user)| channel::name(&self.shared.prefix, tenant, user))
                .collect();
            match tokio::time::timeout(ROUND_TRIP_TIMEOUT, sink.subscribe(&names)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("subscribe failed: {error}")),
                Err(_) => return Err("subscribe unanswered".to_owned()),
            }
            let mut told = Vec::new();
            {
                let mut state = self.shared.state();
                for key in batch {
                    if let Some(waiters) = state.waiters.remove(&key) {
                        told.extend(waiters);
                    }
                    state.remote.insert(key);
                }
            }
            for tell in told {
                let _ = tell.send(true);
            }
        }
    }

    /// Unsubscribes the channels of users with no local stream left.
    async fn sweep(&self, sink: &mut PubSubSink) -> Result<(), String> {
        let idle: Vec<Key> = {
            let mut state = self.shared.state();
            let idle: Vec<Key> = state
                .remote
                .iter()
                .filter(|(tenant, user)| !self.shared.local.is_subscribed(tenant, user))
                .cloned()
                .collect();
            for key in &idle {
                state.remote.remove(key);
            }
            self.shared.local.prune();
            idle
        };
        for batch in idle.chunks(BATCH) {
            let names: Vec<String> = batch
                .iter()
                .map(|(tenant, user)| channel::name(&self.shared.prefix, tenant, user))
                .collect();
            match tokio::time::timeout(ROUND_TRIP_TIMEOUT, sink.unsubscribe(&names)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("unsubscribe failed: {error}")),
                Err(_) => return Err("unsubscribe unanswered".to_owned()),
            }
        }
        Ok(())
    }

    /// Delivers one message to the local subscribers of its channel's user.
    fn handle(&self, message: &redis::Msg) {
        let Some((tenant, user)) = channel::parse(&self.shared.prefix, message.get_channel_name()) else {
            tracing::warn!(
                channel = message.get_channel_name(),
                "ignoring a message on a channel this bus does not name"
            );
            return;
        };
        let envelope: InEnvelope = match serde_json::from_slice(message.get_payload_bytes()) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, %user, "an event this node cannot read; its recipient resyncs");
                self.shared.local.disconnect(&tenant, std::slice::from_ref(&user));
                return;
            }
        };
        if envelope.origin == self.shared.node {
            // Delivered locally when it was published.
            return;
        }
        match envelope.event {
            Some(mut event) if !envelope.resync && event.tenant == tenant => {
                // Only to the user of this channel: the other recipients on this node get
                // their own copy on their own channel.
                event.recipients = vec![user];
                self.shared.local.deliver(event);
            }
            _ => self.shared.local.disconnect(&tenant, std::slice::from_ref(&user)),
        }
    }
}
