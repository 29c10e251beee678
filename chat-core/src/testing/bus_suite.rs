//! The event bus suite: plain `async fn`s over two nodes (two buses, each node's services
//! over a store both share), proving what every multi-node bus guarantees. Every multi-node
//! bus runs all of them with [`crate::bus_tests!`]; none is ever copied per bus.
//!
//! - a message sent through node A reaches a subscriber on node B once (and the publishing
//!   node's own subscriber once);
//! - events arrive in publish order, per user, on both nodes;
//! - a failed write (refused by the store, or by the membership check inside it) sends
//!   nothing.
//!
//! ```ignore
//! chat_core::bus_tests!(async { my_two_nodes().await }); // yields Option<TwoNodes>
//! ```

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::directory::{InMemoryDirectory, Profile};
use crate::events::{Event, EventBus, EventPayload, EventStream, StreamError};
use crate::ids::{ConversationId, Identity, TenantId};
use crate::service::{ChatServices, SendMessage, StartDirect};
use crate::store::Store;

use super::fixtures::{fresh_tenant, user_id};

/// Two nodes of one deployment: each with its own bus (connected the way two server
/// processes would be) and its own handle on the shared store.
pub struct TwoNodes {
    /// Node A's store.
    pub store_a: Arc<dyn Store>,
    /// Node B's store (the same data as A's: another pool, or the same handle).
    pub store_b: Arc<dyn Store>,
    /// Node A's bus.
    pub bus_a: Arc<dyn EventBus>,
    /// Node B's bus.
    pub bus_b: Arc<dyn EventBus>,
    /// Kept until the test ends (a schema that drops itself, a private key prefix, …).
    pub guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TwoNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoNodes").finish_non_exhaustive()
    }
}

/// The services of both nodes, over users u0..u3 of a fresh tenant.
struct Cluster {
    a: ChatServices,
    b: ChatServices,
    bus_a: Arc<dyn EventBus>,
    bus_b: Arc<dyn EventBus>,
    users: Vec<Identity>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Cluster {
    fn new(nodes: TwoNodes) -> Self {
        let tenant: TenantId = fresh_tenant();
        let mut directory = InMemoryDirectory::new();
        let mut users = Vec::new();
        for index in 0..4 {
            directory = directory.with_profile(&tenant, Profile::new(user_id(index), format!("User {index}")));
            users.push(Identity::new(tenant.clone(), user_id(index)));
        }
        let directory = Arc::new(directory);
        let a = ChatServices::new(nodes.store_a, directory.clone()).with_event_bus(Arc::clone(&nodes.bus_a));
        let b = ChatServices::new(nodes.store_b, directory).with_event_bus(Arc::clone(&nodes.bus_b));
        Self {
            a,
            b,
            bus_a: nodes.bus_a,
            bus_b: nodes.bus_b,
            users,
            _guard: nodes.guard,
        }
    }

    async fn on_a(&self, user: usize) -> EventStream {
        let user = &self.users[user];
        self.bus_a.subscribe_live(&user.tenant, &user.user).await
    }

    async fn on_b(&self, user: usize) -> EventStream {
        let user = &self.users[user];
        self.bus_b.subscribe_live(&user.tenant, &user.user).await
    }

    /// u0 starts a direct conversation with u1 on node A; returns it and u1's subscription
    /// on node B once B has heard of the creation.
    async fn start_direct_heard_on_b(&self) -> (ConversationId, EventStream) {
        let mut on_b = self.on_b(1).await;
        let (view, _) = self
            .a
            .conversations()
            .start_direct(&self.users[0], StartDirect::with(self.users[1].user.clone()))
            .await
            .expect("start");
        let created = next_event(&mut on_b).await.expect("conversation.created on B");
        assert!(matches!(created.payload, EventPayload::ConversationCreated(_)));
        (view.conversation.id, on_b)
    }
}

/// The next event within 10 s (`None` on a timeout or an ended stream).
pub async fn next_event(stream: &mut EventStream) -> Option<Arc<Event>> {
    tokio::time::timeout(Duration::from_secs(10), stream.recv())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Panics if anything arrives within 300 ms.
pub async fn assert_quiet(stream: &mut EventStream) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(event) = stream.try_recv() {
        panic!("unexpected event: {event:?}");
    }
}

/// Whether the stream ends (the bus tells its subscriber to resync) within `within`,
/// skipping the events queued before.
pub async fn ends_within(stream: &mut EventStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), stream.recv()).await {
            Ok(Err(StreamError::Closed)) => return true,
            Ok(Err(StreamError::Lagged { .. }) | Ok(_)) | Err(_) => {}
        }
    }
    false
}

/// A message sent through node A reaches u1's subscriber on node B once, with what B's own
/// store says; the publishing node's own subscriber gets each event once (not again from
/// the bus); and the other way round.
pub async fn a_message_on_a_reaches_a_subscriber_on_b_once(nodes: TwoNodes) {
    let cluster = Cluster::new(nodes);
    let (u0, u1) = (&cluster.users[0], &cluster.users[1]);
    let mut on_b = cluster.on_b(1).await;
    let mut on_a = cluster.on_a(0).await;
    let (view, _) = cluster
        .a
        .conversations()
        .start_direct(u0, StartDirect::with(u1.user.clone()))
        .await
        .expect("start");
    let id = view.conversation.id;
    let created = next_event(&mut on_b).await.expect("conversation.created on B");
    assert!(matches!(created.payload, EventPayload::ConversationCreated(_)));

    let sent = cluster
        .a
        .messages()
        .send(u0, id, SendMessage::text("hello from A"))
        .await
        .expect("send")
        .message
        .message;
    let event = next_event(&mut on_b).await.expect("message.created on B");
    assert_eq!(event.conversation_id, id);
    assert_eq!(event.tenant, u1.tenant);
    match &event.payload {
        EventPayload::MessageCreated(view) => assert_eq!(view.message, sent),
        other => panic!("expected message.created, got {other:?}"),
    }
    let updated = next_event(&mut on_b).await.expect("conversation.updated on B");
    match &updated.payload {
        EventPayload::ConversationUpdated(view) => {
            assert_eq!(view.conversation.last_seq, 1);
            assert_eq!(view.participant(&u1.user).map(|p| p.unread_count), Some(1));
        }
        other => panic!("expected conversation.updated, got {other:?}"),
    }
    // What B heard is what B's own store says.
    let on_store_b = cluster.b.conversations().get(u1, id).await.expect("get on B");
    assert_eq!(on_store_b.conversation.last_seq, sent.seq);

    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(next_event(&mut on_a).await.expect("event on A").payload.type_name());
    }
    assert_eq!(
        kinds,
        ["conversation.created", "message.created", "conversation.updated"]
    );
    assert_quiet(&mut on_a).await;
    assert_quiet(&mut on_b).await;

    // And the other way round: B sends, A hears.
    cluster
        .b
        .messages()
        .send(u1, id, SendMessage::text("hello from B"))
        .await
        .expect("send on B");
    let event = next_event(&mut on_a).await.expect("message.created on A");
    assert!(matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == "hello from B"));
}

/// 200 messages from two senders on node A, 100 from a sender on node B: every
/// subscriber on either node sees each node's messages once, in the order that node
/// published them (seq order within one sender's sequential sends).
pub async fn events_arrive_in_publish_order_per_user(nodes: TwoNodes) {
    let cluster = Arc::new(Cluster::new(nodes));
    let (id, u1_on_b) = cluster.start_direct_heard_on_b().await;
    let u0_on_a = cluster.on_a(0).await;
    let u0_on_b = cluster.on_b(0).await;
    let per_sender = 100;
    let sender = |node: usize, user: usize| {
        let cluster = Arc::clone(&cluster);
        tokio::spawn(async move {
            let services = if node == 0 { &cluster.a } else { &cluster.b };
            for n in 0..per_sender {
                services
                    .messages()
                    .send(
                        &cluster.users[user],
                        id,
                        SendMessage::text(format!("{node}/{user}/{n}")),
                    )
                    .await
                    .expect("send");
            }
        })
    };
    let total = 3 * per_sender;
    // Readers run while the senders do: 600 events would overflow a subscriber's queue.
    let reader = |name: &'static str, mut stream: EventStream| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            let mut last_by_origin = [0u64; 2];
            while seqs.len() < total {
                let event = next_event(&mut stream)
                    .await
                    .unwrap_or_else(|| panic!("{name}: only {} of {total} messages arrived", seqs.len()));
                if let EventPayload::MessageCreated(view) = &event.payload {
                    let origin = usize::from(view.message.body.starts_with('1'));
                    assert!(
                        view.message.seq > last_by_origin[origin],
                        "{name}: node {origin}'s events out of publish order"
                    );
                    last_by_origin[origin] = view.message.seq;
                    seqs.push(view.message.seq);
                }
            }
            seqs.sort_unstable();
            assert_eq!(
                seqs,
                (1..=total as u64).collect::<Vec<_>>(),
                "{name}: each message once"
            );
            stream
        })
    };
    let readers = [
        reader("u1 on B", u1_on_b),
        reader("u0 on A", u0_on_a),
        reader("u0 on B", u0_on_b),
    ];
    let senders = [sender(0, 0), sender(0, 0), sender(1, 1)];
    for task in senders {
        task.await.expect("sender");
    }
    let mut streams = Vec::new();
    for task in readers {
        streams.push(task.await.expect("reader"));
    }
    // What is left is the trailing `conversation.updated` events, no message twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for stream in &mut streams {
        while let Some(event) = stream.try_recv() {
            let event = event.expect("no lag");
            assert!(
                !matches!(event.payload, EventPayload::MessageCreated(_)),
                "a message arrived twice"
            );
        }
    }
}

/// Writes that fail send nothing: one the block check refuses inside the store's
/// transaction (the counterpart blocked the sender; blocks publish nothing), one the
/// membership check refuses there; the next committed send, after the unblock, is the first
/// event node B hears, and takes seq 1.
pub async fn a_failed_write_sends_nothing(nodes: TwoNodes) {
    let cluster = Cluster::new(nodes);
    let (u0, u1, u2) = (&cluster.users[0], &cluster.users[1], &cluster.users[2]);
    let (id, mut on_b) = cluster.start_direct_heard_on_b().await;
    let mut on_a = cluster.on_a(1).await;

    cluster.a.blocks().block(u1, u0.user.clone()).await.expect("block");
    let failed = cluster.a.messages().send(u0, id, SendMessage::text("refused")).await;
    assert!(
        matches!(failed, Err(crate::ChatError::PermissionDenied { .. })),
        "the store refuses the blocked sender's write: {failed:?}"
    );
    cluster.a.blocks().unblock(u1, &u0.user).await.expect("unblock");
    let refused = cluster
        .a
        .messages()
        .send(u2, id, SendMessage::text("not a member"))
        .await;
    assert!(refused.is_err_and(|e| e.is_not_found()));

    let sent = cluster
        .a
        .messages()
        .send(u0, id, SendMessage::text("committed"))
        .await
        .expect("send")
        .message
        .message;
    assert_eq!(sent.seq, 1, "the failed send took no seq");
    for (name, stream) in [("B", &mut on_b), ("A", &mut on_a)] {
        let first = next_event(stream).await.expect("an event");
        match &first.payload {
            EventPayload::MessageCreated(view) => assert_eq!(view.message.body, "committed"),
            other => panic!("{name}: the first event must be the committed message, got {other:?}"),
        }
        let second = next_event(stream).await.expect("conversation.updated");
        assert!(matches!(&second.payload, EventPayload::ConversationUpdated(view) if view.conversation.last_seq == 1));
        assert_quiet(stream).await;
    }
    let history = cluster
        .b
        .messages()
        .history(u1, id, None, None, None)
        .await
        .expect("history on B");
    let bodies: Vec<&str> = history.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["committed"]);
}
