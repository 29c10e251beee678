//! [`PgEventBus`]: live events across nodes with Postgres `LISTEN`/`NOTIFY`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::{ChatResult, Event, EventBus, EventStream, InProcessEventBus, TenantId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::error::PgStoreError;
use crate::schema::{SchemaName, is_plain_identifier};
use crate::store::PgStore;

/// Postgres refuses NOTIFY payloads of 8000 bytes or more (with the default 8 kB pages).
/// Envelopes from this size on travel by reference (a little margin below the limit).
pub const MAX_INLINE_PAYLOAD: usize = 7900;

/// How long a stored large event is kept for the other nodes to load (default).
pub const DEFAULT_PAYLOAD_RETENTION: Duration = Duration::from_secs(600);

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What travels in a NOTIFY payload: the event itself, or the id of the row holding it
/// (with the event's tenant and recipients when they fit, see [`PgEventBus`]).
#[derive(Serialize)]
struct OutEnvelope<'a> {
    origin: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a TenantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<&'a [UserId]>,
}

#[derive(Deserialize)]
struct InEnvelope {
    origin: Uuid,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    stored: Option<Uuid>,
    #[serde(default)]
    tenant: Option<TenantId>,
    #[serde(default)]
    recipients: Option<Vec<UserId>>,
}

/// The event bus for several nodes on one database.
///
/// [`EventBus::publish`] hands the event to this node's own subscribers at once and sends it
/// to the other nodes with `pg_notify` on the channel (default `<schema>_events`). Every
/// node runs a listener task (a dedicated connection doing `LISTEN`) that delivers what the
/// other nodes publish to its local subscribers through an [`InProcessEventBus`]. Events
/// whose envelope would reach Postgres' NOTIFY limit are written to `<schema>.event_payloads`
/// and notified by reference; the receivers load them from there (rows are deleted after
/// [`DEFAULT_PAYLOAD_RETENTION`] by later large events).
///
/// ## At most once, never a silent gap
///
/// Events are the fast path: a client that reconnects catches up from the store
/// (`history(after = seq)`). Whenever this node may have missed an event, the subscribers
/// concerned are told to do so: their [`EventStream`] ends with
/// [`StreamError::Closed`](chat_core::StreamError::Closed) after the events already queued
/// (the WebSocket layer sends `resync`), and they subscribe again.
///
/// - The listener reconnects by itself after a dropped connection (with backoff); events
///   notified while it was disconnected are lost, as with any NOTIFY consumer, so after a
///   reconnect every local subscription is ended ([`InProcessEventBus::disconnect_all`]).
/// - A large event whose row cannot be loaded (it expired, was deleted, or the query
///   failed) ends the subscriptions of its recipients on this node
///   ([`InProcessEventBus::disconnect`]). The reference names the tenant and recipients for
///   that; when naming them would itself pass the NOTIFY limit (hundreds of long user ids),
///   it names nobody and a node that cannot load the event ends every local subscription.
///
/// ## Only committed changes are sent
///
/// The services publish after the store's transaction has committed, and a failed operation
/// publishes nothing, so `pg_notify` runs in its own statement after the commit instead of
/// inside the writing transaction (as the design document first said): the store stays
/// unaware of events, and the other nodes still hear of exactly the committed changes. The
/// cost is a small window in which a node could crash between commit and notify; clients
/// then catch up from the store, which is the contract for every gap anyway.
///
/// The listener task stops when the last clone of the bus is dropped.
#[derive(Clone)]
pub struct PgEventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventBus")
            .field("channel", &self.inner.shared.channel)
            .field("node", &self.inner.shared.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    shared: Arc<Shared>,
    notify_sql: String,
    store_sql: String,
    retention: Duration,
    /// Dropped with the last clone of the bus: stops the listener task.
    _stop: oneshot::Sender<()>,
}

/// What the listener task shares with the publishing side.
struct Shared {
    pool: PgPool,
    listener_pool: PgPool,
    local: InProcessEventBus,
    channel: String,
    node: Uuid,
    load_sql: String,
}

/// Configures and connects a [`PgEventBus`].
#[derive(Clone, Debug)]
pub struct PgEventBusBuilder {
    pool: PgPool,
    schema: String,
    channel: Option<String>,
    capacity: usize,
    retention: Duration,
}

impl PgEventBusBuilder {
    /// The schema holding `event_payloads` (default `chat`; must be migrated, see
    /// [`PgStore::migrate`]).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The NOTIFY channel (default `<schema>_events`); `[a-z_][a-z0-9_]{0,62}`. Every node
    /// of one deployment must use the same. Set one when the schema name is longer than 56
    /// characters (the default would pass Postgres' 63-byte identifier limit).
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// How many events a local subscriber may fall behind before it lags (default 256).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long large events stay loadable by other nodes (default 10 minutes).
    pub fn payload_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Starts listening; returns once `LISTEN` is in place, so anything published by any
    /// node after this returns reaches this node's subscribers.
    pub async fn connect(self) -> Result<PgEventBus, PgStoreError> {
        let schema = SchemaName::new(self.schema)?;
        let channel = self.channel.unwrap_or_else(|| format!("{schema}_events"));
        if !is_plain_identifier(&channel) {
            return Err(PgStoreError::InvalidChannel { name: channel });
        }
        let s = schema.quoted();
        // The listener's own pool of one connection, so it never takes one of the pool's.
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let shared = Arc::new(Shared {
            pool: self.pool,
            listener_pool,
            local: InProcessEventBus::with_capacity(self.capacity),
            channel,
            node: Uuid::now_v7(),
            load_sql: format!("SELECT payload FROM {s}.event_payloads WHERE id = $1"),
        });
        let listener = shared.listen().await?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(Arc::clone(&shared).run(listener, stopped));
        Ok(PgEventBus {
            inner: Arc::new(Inner {
                shared,
                notify_sql: "SELECT pg_notify($1, $2)".to_owned(),
                store_sql: format!(
                    "WITH expired AS ( \
                       DELETE FROM {s}.event_payloads WHERE created_at < now() - make_interval(secs => $3) \
                     ), stored AS ( \
                       INSERT INTO {s}.event_payloads (id, payload) VALUES ($1, $2) \
                     ) SELECT pg_notify($4, $5)"
                ),
                retention: self.retention,
                _stop: stop,
            }),
        })
    }
}

impl PgEventBus {
    /// A builder over `pool` (schema `chat`, channel `chat_events`).
    pub fn builder(pool: PgPool) -> PgEventBusBuilder {
        PgEventBusBuilder {
            pool,
            schema: crate::schema::DEFAULT_SCHEMA.to_owned(),
            channel: None,
            capacity: 256,
            retention: DEFAULT_PAYLOAD_RETENTION,
        }
    }

    /// The bus on `store`'s pool and schema, with the default channel `<schema>_events`.
    pub async fn connect(store: &PgStore) -> Result<Self, PgStoreError> {
        Self::builder(store.pool().clone())
            .schema(store.schema().as_str())
            .connect()
            .await
    }

    /// The NOTIFY channel.
    pub fn channel(&self) -> &str {
        &self.inner.shared.channel
    }

    async fn send(&self, event: &Event) -> Result<(), PgStoreError> {
        let inner = &self.inner;
        let shared = &inner.shared;
        let inline = serde_json::to_string(&OutEnvelope {
            origin: shared.node,
            event: Some(event),
            stored: None,
            tenant: None,
            recipients: None,
        })?;
        if inline.len() < MAX_INLINE_PAYLOAD {
            sqlx::query(&inner.notify_sql)
                .bind(&shared.channel)
                .bind(&inline)
                .execute(&shared.pool)
                .await?;
            return Ok(());
        }
        let id = Uuid::now_v7();
        let mut reference = serde_json::to_string(&OutEnvelope {
            origin: shared.node,
            event: None,
            stored: Some(id),
            tenant: Some(&event.tenant),
            recipients: Some(&event.recipients),
        })?;
        if reference.len() >= MAX_INLINE_PAYLOAD {
            // Too many recipients to name: a node that cannot load the event resyncs all of
            // its subscribers instead.
            reference = serde_json::to_string(&OutEnvelope {
                origin: shared.node,
                event: None,
                stored: Some(id),
                tenant: None,
                recipients: None,
            })?;
        }
        // The row and the notification commit together: a receiver always finds the row.
        sqlx::query(&inner.store_sql)
            .bind(id)
            .bind(serde_json::to_string(event)?)
            .bind(inner.retention.as_secs_f64())
            .bind(&shared.channel)
            .bind(&reference)
            .execute(&shared.pool)
            .await?;
        Ok(())
    }
}

impl Shared {
    async fn listen(&self) -> Result<PgListener, PgStoreError> {
        let mut listener = PgListener::connect_with(&self.listener_pool).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }

    /// The listener task: receives, reconnects, stops when the bus is dropped.
    async fn run(self: Arc<Self>, listener: PgListener, mut stopped: oneshot::Receiver<()>) {
        let mut listener = Some(listener);
        let mut backoff = MIN_BACKOFF;
        loop {
            let Some(active) = listener.as_mut() else {
                // The broken listener is gone (its connection back to the one-connection
                // pool), so a fresh one can connect.
                tokio::select! {
                    _ = &mut stopped => return,
                    fresh = self.listen() => match fresh {
                        Ok(fresh) => {
                            tracing::info!(channel = %self.channel, "event listener reconnected; subscribers resync");
                            self.local.disconnect_all();
                            listener = Some(fresh);
                        }
                        Err(error) => {
                            tracing::warn!(channel = %self.channel, %error, ?backoff, "event listener could not reconnect");
                            if self.pause(&mut stopped, &mut backoff).await {
                                return;
                            }
                        }
                    },
                }
                continue;
            };
            tokio::select! {
                _ = &mut stopped => return,
                received = active.try_recv() => match received {
                    Ok(Some(notification)) => {
                        backoff = MIN_BACKOFF;
                        self.handle(notification.payload()).await;
                    }
                    // The connection dropped; sqlx has connected and listened again already.
                    Ok(None) => {
                        tracing::warn!(channel = %self.channel, "event listener reconnected; subscribers resync");
                        self.local.disconnect_all();
                    }
                    Err(error) => {
                        tracing::warn!(channel = %self.channel, %error, ?backoff, "event listener failed; reconnecting");
                        // Start over on a fresh connection: a broken one may keep failing.
                        listener = None;
                        if self.pause(&mut stopped, &mut backoff).await {
                            return;
                        }
                    }
                },
            }
        }
    }

    /// Waits `backoff` (doubling it for next time); `true` when the bus was dropped meanwhile.
    async fn pause(&self, stopped: &mut oneshot::Receiver<()>, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = stopped => true,
            () = tokio::time::sleep(wait) => false,
        }
    }

    async fn handle(&self, payload: &str) {
        let envelope: InEnvelope = match serde_json::from_str(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(channel = %self.channel, %error, "ignoring a notification that is not an event");
                return;
            }
        };
        if envelope.origin == self.node {
            // Delivered locally when it was published.
            return;
        }
        let event = match (envelope.event, envelope.stored) {
            (Some(event), _) => event,
            (None, Some(id)) => match self.load(id).await {
                Ok(Some(event)) => event,
                Ok(None) => {
                    tracing::warn!(%id, "a large event expired before this node loaded it; its recipients resync");
                    self.resync(envelope.tenant, envelope.recipients);
                    return;
                }
                Err(error) => {
                    tracing::warn!(%id, %error, "loading a large event failed; its recipients resync");
                    self.resync(envelope.tenant, envelope.recipients);
                    return;
                }
            },
            (None, None) => return,
        };
        self.local.deliver(event);
    }

    /// Tells the local subscribers of an event that could not be delivered to catch up from
    /// the store: its recipients if the envelope named them, otherwise everyone.
    fn resync(&self, tenant: Option<TenantId>, recipients: Option<Vec<UserId>>) {
        match (tenant, recipients) {
            (Some(tenant), Some(recipients)) => self.local.disconnect(&tenant, &recipients),
            _ => self.local.disconnect_all(),
        }
    }

    async fn load(&self, id: Uuid) -> Result<Option<Event>, PgStoreError> {
        let payload: Option<String> = sqlx::query_scalar(&self.load_sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        payload
            .map(|text| serde_json::from_str(&text).map_err(PgStoreError::from))
            .transpose()
    }
}

#[async_trait]
impl EventBus for PgEventBus {
    async fn publish(&self, event: Event) -> ChatResult<()> {
        let sent = self.send(&event).await;
        self.inner.shared.local.deliver(event);
        sent.map_err(Into::into)
    }

    fn subscribe(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        self.inner.shared.local.subscribe(tenant, user)
    }
}
