//! Live events: what the services publish after each change, and the bus that carries them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::ChatResult;
use crate::ids::{ConversationId, MessageId, TenantId, UserId};
use crate::model::Reaction;
use crate::view::{ConversationView, MessageView};

/// What happened. Serialized as `{"type": "...", "data": ...}`.
///
/// Conversation and message events carry views rendered once by the service, with one
/// directory batch, for every recipient: a recipient's own fields (unread count, archive
/// flag, what it cleared) are its row in the view's participants
/// ([`ConversationView::for_viewer`]), so delivering needs no further lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[non_exhaustive]
pub enum EventPayload {
    /// A conversation the recipient is in was created (or the recipient was added to it).
    #[serde(rename = "conversation.created")]
    ConversationCreated(ConversationView),
    /// The conversation changed: preview, unread counts, archive flag, participants. Each
    /// recipient finds their own row in `participants`.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated(ConversationView),
    /// A new message.
    #[serde(rename = "message.created")]
    MessageCreated(MessageView),
    /// A message was edited.
    #[serde(rename = "message.updated")]
    MessageUpdated(MessageView),
    /// A message was deleted (body already removed).
    #[serde(rename = "message.deleted")]
    MessageDeleted(MessageView),
    /// A read receipt: `user` has read up to `seq`.
    #[serde(rename = "conversation.read")]
    ConversationRead {
        /// The reader.
        user: UserId,
        /// The new watermark.
        seq: u64,
        /// When.
        read_at: DateTime<Utc>,
    },
    /// Delivery receipts: for each user listed, messages up to `seq` reached one of their
    /// devices. One event carries the receipts of one conversation written together (a
    /// batch of socket deliveries), so a busy group costs one event per batch, not one per
    /// member.
    #[serde(rename = "conversation.delivered")]
    ConversationDelivered {
        /// The watermarks that moved.
        receipts: Vec<DeliveryReceipt>,
    },
    /// The reactions of a message changed; `reactions` is its whole summary now (each
    /// recipient's own `me` comes from the users listed).
    #[serde(rename = "message.reactions")]
    MessageReactions {
        /// The message.
        message: MessageId,
        /// Its seq.
        seq: u64,
        /// Every emoji on it with the users holding it.
        reactions: Vec<Reaction>,
    },
    /// `user` is typing; show it until `expires_at` unless repeated.
    #[serde(rename = "typing")]
    Typing {
        /// The typist.
        user: UserId,
        /// When the indicator should disappear.
        expires_at: DateTime<Utc>,
    },
}

impl EventPayload {
    /// The wire name of the event type (`"message.created"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ConversationCreated(_) => "conversation.created",
            Self::ConversationUpdated(_) => "conversation.updated",
            Self::MessageCreated(_) => "message.created",
            Self::MessageUpdated(_) => "message.updated",
            Self::MessageDeleted(_) => "message.deleted",
            Self::ConversationRead { .. } => "conversation.read",
            Self::ConversationDelivered { .. } => "conversation.delivered",
            Self::MessageReactions { .. } => "message.reactions",
            Self::Typing { .. } => "typing",
        }
    }
}

/// One delivery watermark that moved (in [`EventPayload::ConversationDelivered`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The recipient whose watermark moved.
    pub user: UserId,
    /// The new delivery watermark.
    pub seq: u64,
    /// When.
    pub delivered_at: DateTime<Utc>,
}

/// An event addressed to some users of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The tenant; events never cross tenants.
    pub tenant: TenantId,
    /// Who receives it: only participants of the conversation (and a user just removed).
    pub recipients: Vec<UserId>,
    /// The conversation it is about.
    pub conversation_id: ConversationId,
    /// What happened.
    pub payload: EventPayload,
}

/// Carries events from the services to subscribers (WebSocket connections).
///
/// Delivery is best effort and a fast path: after a gap a client catches up from the store.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Delivers `event` to the subscriptions of its recipients.
    async fn publish(&self, event: Event) -> ChatResult<()>;

    /// The live events addressed to `user` of `tenant` from now on.
    ///
    /// A bus that subscribes remotely per user (like a Redis bus) may miss what other nodes
    /// publish in the moment before its remote subscription is in place; use
    /// [`subscribe_live`](Self::subscribe_live) where that matters.
    fn subscribe(&self, tenant: &TenantId, user: &UserId) -> EventStream;

    /// Like [`subscribe`](Self::subscribe), but returns only once every event any node
    /// publishes from now on reaches the stream (or the stream is already ended, so the
    /// subscriber resyncs). A client that subscribes with this, then reads the store, misses
    /// nothing. The default is `subscribe`, which is live at once for buses that listen
    /// to everything.
    async fn subscribe_live(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        self.subscribe(tenant, user)
    }
}

/// Why [`EventStream::recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The subscriber fell behind and `skipped` events were dropped: resync from the store.
    #[error("subscriber lagged behind by {skipped} events")]
    Lagged {
        /// How many were dropped.
        skipped: u64,
    },
    /// The bus is gone.
    #[error("event bus closed")]
    Closed,
}

/// One user's subscription. Bounded: a subscriber that stops reading loses events and is
/// told so with [`StreamError::Lagged`] instead of growing a queue.
#[derive(Debug)]
pub struct EventStream {
    receiver: broadcast::Receiver<Arc<Event>>,
}

impl EventStream {
    /// The next event.
    pub async fn recv(&mut self) -> Result<Arc<Event>, StreamError> {
        self.receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(skipped) => StreamError::Lagged { skipped },
            broadcast::error::RecvError::Closed => StreamError::Closed,
        })
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Result<Arc<Event>, StreamError>> {
        match self.receiver.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(skipped)) => Some(Err(StreamError::Lagged { skipped })),
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(StreamError::Closed)),
        }
    }
}

type SubscriberKey = (TenantId, UserId);

/// The in-process bus: one bounded broadcast channel per subscribed user. The default for
/// a single node, and the local fan-out that multi-node buses deliver into.
#[derive(Clone, Debug)]
pub struct InProcessEventBus {
    channels: Arc<Mutex<HashMap<SubscriberKey, broadcast::Sender<Arc<Event>>>>>,
    capacity: usize,
}

impl Default for InProcessEventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessEventBus {
    /// A bus whose subscribers may fall 256 events behind.
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// A bus whose subscribers may fall `capacity` events behind before they lag.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            channels: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    /// Hands `event` to the local subscribers of its recipients. Channels nobody listens
    /// to any more are dropped here.
    pub fn deliver(&self, event: Event) {
        let event = Arc::new(event);
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for recipient in &event.recipients {
            let key = (event.tenant.clone(), recipient.clone());
            if let Some(sender) = channels.get(&key) {
                if sender.send(Arc::clone(&event)).is_err() {
                    channels.remove(&key);
                }
            }
        }
    }
}

impl InProcessEventBus {
    /// Ends every current subscription: each subscriber receives the events already queued,
    /// then [`StreamError::Closed`], and subscribes again. A multi-node bus calls this when it
    /// may have missed events (its listener reconnected), so that clients catch up from the
    /// store instead of silently missing messages.
    pub fn disconnect_all(&self) {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Ends the current subscriptions of `users` of `tenant` only, like
    /// [`disconnect_all`](Self::disconnect_all) does for everyone. A multi-node bus calls
    /// this when it could not deliver an event to those users (say its payload could not be
    /// loaded): they catch up from the store, and nobody else is disturbed.
    pub fn disconnect(&self, tenant: &TenantId, users: &[UserId]) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for user in users {
            channels.remove(&(tenant.clone(), user.clone()));
        }
    }

    /// Whether `user` of `tenant` has a subscription on this bus now.
    pub fn is_subscribed(&self, tenant: &TenantId, user: &UserId) -> bool {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), user.clone()))
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// Forgets the users whose every subscription has been dropped, and returns them: a
    /// multi-node bus that subscribes remotely per user calls this to stop listening for
    /// users nobody on this node follows any more. A later [`subscribe`](EventBus::subscribe)
    /// for one of them starts afresh.
    pub fn prune(&self) -> Vec<(TenantId, UserId)> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let idle: Vec<SubscriberKey> = channels
            .iter()
            .filter(|(_, sender)| sender.receiver_count() == 0)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &idle {
            channels.remove(key);
        }
        idle
    }
}

#[async_trait]
impl EventBus for InProcessEventBus {
    async fn publish(&self, event: Event) -> ChatResult<()> {
        self.deliver(event);
        Ok(())
    }

    fn subscribe(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = channels
            .entry((tenant.clone(), user.clone()))
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        EventStream {
            receiver: sender.subscribe(),
        }
    }
}
