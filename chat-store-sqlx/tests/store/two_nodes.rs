//! Two nodes on one database: two independent pools, stores, Postgres event buses and
//! services, sharing a schema, as two server processes would. The cases every multi-node
//! bus passes come from chat-core's shared bus suite (`bus_tests!`, also run by
//! chat-bus-redis); the rest is Postgres' own: racing find-or-create across pools, a
//! rollback inside the database, the NOTIFY size limit, listener reconnects.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chat_core::testing::bus_suite::{TwoNodes, assert_quiet, ends_within, next_event};
use chat_core::testing::fixtures::{fresh_tenant, user_id};
use chat_core::{
    ChatServices, Event, EventPayload, EventStream, Identity, InMemoryDirectory, Profile, SendMessage, StartDirect,
    Tag, TenantId,
};
use chat_store_sqlx::{PgEventBus, PgStore};

use crate::common;

chat_core::bus_tests!(two_nodes());

/// Two nodes for the shared bus suite: two pools, stores and buses on a fresh schema.
async fn two_nodes() -> Option<TwoNodes> {
    let url = common::database_url()?;
    let schema = common::TestSchema::new(&url);
    let directory = Arc::new(InMemoryDirectory::new());
    let (a, b) = tokio::join!(
        node(&url, schema.name(), Arc::clone(&directory)),
        node(&url, schema.name(), directory)
    );
    Some(TwoNodes {
        store_a: Arc::new(a.store),
        store_b: Arc::new(b.store),
        bus_a: Arc::new(a.bus),
        bus_b: Arc::new(b.bus),
        guard: Box::new(schema),
    })
}

struct Node {
    store: PgStore,
    bus: PgEventBus,
    services: ChatServices,
}

async fn node(url: &str, schema: &str, directory: Arc<InMemoryDirectory>) -> Node {
    let store = PgStore::builder()
        .schema(schema)
        .run_migrations(true)
        .build(common::pool(url, 8).await)
        .await
        .expect("store");
    let bus = PgEventBus::connect(&store).await.expect("bus");
    let services = ChatServices::new(Arc::new(store.clone()), directory).with_event_bus(Arc::new(bus.clone()));
    Node { store, bus, services }
}

struct Cluster {
    a: Node,
    b: Node,
    users: Vec<Identity>,
    _schema: common::TestSchema,
}

/// Two nodes in a fresh schema (migrated by both at once), with users u0..u3 of a fresh tenant.
async fn cluster() -> Option<Cluster> {
    let url = common::database_url()?;
    Some(cluster_on(&url).await)
}

async fn cluster_on(url: &str) -> Cluster {
    let url = url.to_owned();
    let schema = common::TestSchema::new(&url);
    let tenant: TenantId = fresh_tenant();
    let mut directory = InMemoryDirectory::new();
    let mut users = Vec::new();
    for index in 0..4 {
        directory = directory.with_profile(&tenant, Profile::new(user_id(index), format!("User {index}")));
        users.push(Identity::new(tenant.clone(), user_id(index)));
    }
    let directory = Arc::new(directory);
    let (a, b) = tokio::join!(
        node(&url, schema.name(), Arc::clone(&directory)),
        node(&url, schema.name(), directory)
    );
    Cluster {
        a,
        b,
        users,
        _schema: schema,
    }
}

impl Cluster {
    /// u0 starts a direct conversation with u1 on node A; returns it and u1's subscription on
    /// node B once B has heard of the creation.
    async fn start_direct_heard_on_b(&self) -> (chat_core::ConversationId, EventStream) {
        let (u0, u1) = (&self.users[0], &self.users[1]);
        let mut on_b = self.b.bus.subscribe_user(u1);
        let (view, _) = self
            .a
            .services
            .conversations()
            .start_direct(u0, StartDirect::with(u1.user.clone()))
            .await
            .expect("start");
        let created = next_event(&mut on_b).await.expect("conversation.created on B");
        assert!(matches!(created.payload, EventPayload::ConversationCreated(_)));
        (view.conversation.id, on_b)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_find_or_create_across_two_nodes_gives_one_conversation() {
    let Some(cluster) = cluster().await else { return };
    let cluster = Arc::new(cluster);
    for tagged in [false, true] {
        let mut tasks = Vec::new();
        for task in 0..64 {
            let cluster = Arc::clone(&cluster);
            tasks.push(tokio::spawn(async move {
                let node = if task % 2 == 0 { &cluster.a } else { &cluster.b };
                let (me, other) = if task % 4 < 2 { (0, 1) } else { (1, 0) };
                let mut input = StartDirect::with(cluster.users[other].user.clone());
                if tagged {
                    input = input.tagged(Tag::new("Order", 42).expect("tag"));
                }
                let (view, created) = node
                    .services
                    .conversations()
                    .start_direct(&cluster.users[me], input)
                    .await
                    .expect("start direct");
                (view.conversation.id, created)
            }));
        }
        let mut ids = HashSet::new();
        let mut creations = 0;
        for task in tasks {
            let (id, created) = task.await.expect("task");
            ids.insert(id);
            creations += usize::from(created);
        }
        assert_eq!(ids.len(), 1, "one conversation (tagged: {tagged})");
        assert_eq!(creations, 1, "created exactly once (tagged: {tagged})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_rolled_back_inside_postgres_after_its_insert_sends_nothing() {
    let Some(cluster) = cluster().await else { return };
    let (u0, u1) = (&cluster.users[0], &cluster.users[1]);
    let (id, mut on_b) = cluster.start_direct_heard_on_b().await;

    // A write that fails inside its transaction, after the conversation was locked and the
    // message inserted: a trigger refuses bodies "boom".
    let schema = cluster.a.store.schema().quoted();
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION {schema}.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.body = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_boom BEFORE INSERT ON {schema}.messages \
         FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_boom();"
    ))
    .execute(cluster.a.store.pool())
    .await
    .expect("trigger");
    let failed = cluster
        .a
        .services
        .messages()
        .send(u0, id, SendMessage::text("boom"))
        .await;
    assert!(failed.is_err(), "the refused write fails");

    let sent = cluster
        .a
        .services
        .messages()
        .send(u0, id, SendMessage::text("committed"))
        .await
        .expect("send")
        .message
        .message;
    assert_eq!(sent.seq, 1, "the rolled-back send took no seq");
    let first = next_event(&mut on_b).await.expect("an event on B");
    match &first.payload {
        EventPayload::MessageCreated(view) => assert_eq!(view.message.body, "committed"),
        other => panic!("the first event on B must be the committed message, got {other:?}"),
    }
    let second = next_event(&mut on_b).await.expect("conversation.updated on B");
    assert!(matches!(&second.payload, EventPayload::ConversationUpdated(view) if view.conversation.last_seq == 1));
    assert_quiet(&mut on_b).await;
    let history = cluster
        .b
        .services
        .messages()
        .history(u1, id, None, None, None)
        .await
        .expect("history on B");
    let bodies: Vec<&str> = history.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["committed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_past_the_notify_limit_travel_by_reference() {
    let Some(cluster) = cluster().await else { return };
    let u0 = &cluster.users[0];
    let (id, mut on_b) = cluster.start_direct_heard_on_b().await;
    // 4000 characters of 3 bytes: 12000 bytes of body, far past NOTIFY's 8000.
    let body = "€".repeat(4000);
    let sent = cluster
        .a
        .services
        .messages()
        .send(u0, id, SendMessage::text(body.clone()))
        .await
        .expect("send")
        .message
        .message;
    let event = next_event(&mut on_b).await.expect("message.created on B");
    match &event.payload {
        EventPayload::MessageCreated(view) => {
            assert_eq!(view.message, sent);
            assert_eq!(view.message.body, body);
        }
        other => panic!("expected message.created, got {other:?}"),
    }
    let stored: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.event_payloads",
        cluster.a.store.schema().quoted()
    ))
    .fetch_one(cluster.a.store.pool())
    .await
    .expect("count");
    assert!(stored >= 1, "the large event went through the payload table");
    let updated = next_event(&mut on_b).await.expect("conversation.updated on B");
    assert!(matches!(updated.payload, EventPayload::ConversationUpdated(_)));
}

/// Makes node A's large events unloadable for the other nodes, deterministically: a trigger
/// on `event_payloads` runs `action` on every row A stores (`RETURN NULL` drops the row, as
/// if it had expired; a rewritten payload makes the load fail).
async fn sabotage_stored_events(cluster: &Cluster, action: &str) {
    let schema = cluster.a.store.schema().quoted();
    sqlx::raw_sql(&format!(
        "CREATE OR REPLACE FUNCTION {schema}.sabotage_payload() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN {action} END $$; \
         CREATE OR REPLACE TRIGGER sabotage_payload BEFORE INSERT ON {schema}.event_payloads \
         FOR EACH ROW EXECUTE FUNCTION {schema}.sabotage_payload();"
    ))
    .execute(cluster.a.store.pool())
    .await
    .expect("trigger");
}

/// The next thing on `stream` (within 10 s) is the end of the subscription: resync.
async fn expect_resync(stream: &mut EventStream, what: &str) {
    match tokio::time::timeout(Duration::from_secs(10), stream.recv()).await {
        Ok(Err(chat_core::StreamError::Closed)) => {}
        Ok(Ok(event)) => panic!(
            "{what}: expected the subscription to end (resync), got {}",
            event.payload.type_name()
        ),
        Ok(Err(error)) => panic!("{what}: expected the subscription to end (resync), got {error}"),
        Err(_) => panic!("{what}: expected the subscription to end (resync), got nothing within 10 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_event_node_b_cannot_load_ends_its_recipients_subscriptions() {
    let Some(cluster) = cluster().await else { return };
    let (u0, u1, u2) = (&cluster.users[0], &cluster.users[1], &cluster.users[2]);
    let (id, mut on_b) = cluster.start_direct_heard_on_b().await;
    let body = "€".repeat(4000);
    for (failure, action) in [
        ("row gone (expired)", "RETURN NULL;"),
        ("load fails", "NEW.payload := 'not an event'; RETURN NEW;"),
    ] {
        sabotage_stored_events(&cluster, action).await;
        let mut bystander = cluster.b.bus.subscribe_user(u2);
        cluster
            .a
            .services
            .messages()
            .send(u0, id, SendMessage::text(body.clone()))
            .await
            .expect("send");
        // B could not deliver message.created to u1: u1 is told to catch up from the store.
        expect_resync(&mut on_b, failure).await;
        // Only the event's recipients: u2 (not in the conversation) was not disturbed.
        assert!(
            bystander.try_recv().is_none(),
            "{failure}: a subscriber the event was not for keeps its subscription"
        );
        // u1 subscribes again and hears what follows, up to the last event of the next send.
        on_b = cluster.b.bus.subscribe_user(u1);
        let marker = cluster
            .a
            .services
            .messages()
            .send(u0, id, SendMessage::text(format!("after: {failure}")))
            .await
            .expect("send")
            .message
            .message;
        let mut heard = false;
        loop {
            let event = next_event(&mut on_b).await.expect("the next events on B");
            match &event.payload {
                EventPayload::MessageCreated(m) if m.message.id == marker.id => heard = true,
                EventPayload::ConversationUpdated(r) if r.conversation.last_seq == marker.seq => break,
                _ => {}
            }
        }
        assert!(heard, "{failure}: the next message reached u1 on B");
        let history = cluster
            .b
            .services
            .messages()
            .history(u1, id, None, None, None)
            .await
            .expect("history on B");
        assert!(
            history.iter().any(|m| m.message.body == body),
            "the store has the message the event was about"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_event_for_too_many_recipients_to_name_ends_every_subscription_it_cannot_deliver() {
    let Some(cluster) = cluster().await else { return };
    let (u1, u2) = (&cluster.users[1], &cluster.users[2]);
    let mut recipient = cluster.b.bus.subscribe_user(u1);
    let mut other = cluster.b.bus.subscribe_user(u2);
    sabotage_stored_events(&cluster, "RETURN NULL;").await;
    // 256 recipients of 128 bytes: the list alone passes the NOTIFY limit, so the reference
    // cannot name them.
    let mut recipients = vec![u1.user.clone()];
    recipients.extend((1..256).map(|n| chat_core::UserId::new(format!("{n:0>128}")).expect("user id")));
    let event = Event {
        tenant: u1.tenant.clone(),
        recipients,
        conversation_id: chat_core::ConversationId::new_v7(),
        payload: EventPayload::Typing {
            user: cluster.users[0].user.clone(),
            expires_at: chrono::Utc::now(),
        },
    };
    chat_core::EventBus::publish(&cluster.a.bus, event)
        .await
        .expect("publish");
    expect_resync(&mut recipient, "a recipient").await;
    // The node cannot tell whom the event was for: everyone resyncs.
    expect_resync(&mut other, "another subscriber").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_listener_reconnects_after_its_connection_is_dropped() {
    let Some(cluster) = cluster().await else { return };
    let u0 = &cluster.users[0];
    let (id, mut on_b) = cluster.start_direct_heard_on_b().await;
    let pool = cluster.a.store.pool();
    let pattern = format!("%LISTEN \"{}\"%", cluster.b.bus.channel());
    let listeners = || async {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid() ORDER BY pid",
        )
        .bind(&pattern)
        .fetch_all(pool)
        .await
        .expect("pg_stat_activity");
        pids
    };
    let before = listeners().await;
    assert_eq!(before.len(), 2, "one listener per node");
    let terminated: Vec<bool> = sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS t(pid)")
        .bind(&before)
        .fetch_all(pool)
        .await
        .expect("terminate");
    assert!(terminated.iter().all(|&t| t));
    let mut reconnected = false;
    for _ in 0..200 {
        let now = listeners().await;
        if now.len() == 2 && now.iter().all(|pid| !before.contains(pid)) {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reconnected, "both listeners are back");
    // Events may have been missed meanwhile: B's subscribers are told so (their stream ends,
    // a WebSocket client reconnects and catches up from the store) and subscribe again.
    assert!(
        ended_after_reconnect(&mut on_b).await,
        "a subscriber on B learns that events may have been missed"
    );
    let mut on_b = cluster.b.bus.subscribe_user(&cluster.users[1]);
    cluster
        .a
        .services
        .messages()
        .send(u0, id, SendMessage::text("after the reconnect"))
        .await
        .expect("send");
    let event = next_event(&mut on_b).await.expect("an event on B after the reconnect");
    assert!(matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == "after the reconnect"));
}

/// Whether the subscription ends (the bus tells its subscribers to resync) within 10 s.
async fn ended_after_reconnect(stream: &mut EventStream) -> bool {
    ends_within(stream, Duration::from_secs(10)).await
}

/// The backends listening on `channel` in the database `pool` is connected to.
async fn listener_pids(pool: &sqlx::PgPool, channel: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND datname = current_database() \
         AND pid <> pg_backend_pid() ORDER BY pid",
    )
    .bind(format!("%LISTEN \"{channel}\"%"))
    .fetch_all(pool)
    .await
    .expect("pg_stat_activity")
}

/// Waits until two listeners other than `before` are back.
async fn wait_for_new_listeners(pool: &sqlx::PgPool, channel: &str, before: &[i32]) {
    for _ in 0..300 {
        let now = listener_pids(pool, channel).await;
        if now.len() == 2 && now.iter().all(|pid| !before.contains(pid)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the listeners did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_listener_retries_while_the_database_refuses_connections() {
    let Some(url) = common::database_url() else { return };
    // A database of its own: refusing connections must not disturb other tests.
    let database = common::TempDatabase::create(&url).await;
    {
        let cluster = cluster_on(&database.url).await;
        let (id, mut on_b) = cluster.start_direct_heard_on_b().await;
        let channel = cluster.b.bus.channel().to_owned();
        let pool = cluster.a.store.pool();
        let before = listener_pids(pool, &channel).await;
        assert_eq!(before.len(), 2);
        let admin = common::pool(&url, 1).await;
        let allow = |yes: bool| format!("ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {yes}", database.name);
        sqlx::query(&allow(false))
            .execute(&admin)
            .await
            .expect("refuse connections");
        sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS t(pid)")
            .bind(&before)
            .execute(pool)
            .await
            .expect("terminate");
        // The listeners fail to reconnect for a while and back off.
        tokio::time::sleep(Duration::from_millis(800)).await;
        sqlx::query(&allow(true))
            .execute(&admin)
            .await
            .expect("accept connections");
        wait_for_new_listeners(pool, &channel, &before).await;
        assert!(
            ended_after_reconnect(&mut on_b).await,
            "a subscriber on B learns that events may have been missed"
        );
        let mut on_b = cluster.b.bus.subscribe_user(&cluster.users[1]);
        cluster
            .a
            .services
            .messages()
            .send(&cluster.users[0], id, SendMessage::text("back again"))
            .await
            .expect("send");
        let event = next_event(&mut on_b).await.expect("an event on B after the outage");
        assert!(matches!(&event.payload, EventPayload::MessageCreated(m) if m.message.body == "back again"));
        admin.close().await;
    }
    database.drop().await;
}

trait SubscribeUser {
    fn subscribe_user(&self, identity: &Identity) -> EventStream;
}

impl SubscribeUser for PgEventBus {
    fn subscribe_user(&self, identity: &Identity) -> EventStream {
        chat_core::EventBus::subscribe(self, &identity.tenant, &identity.user)
    }
}

/// Invariant 14 across nodes: two workers on two pools drain 1,000 due notifications with
/// one notifier call each and no id twice (claims use `FOR UPDATE SKIP LOCKED` and a lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_two_pools_notify_each_of_1000_once() {
    let Some(nodes) = two_nodes().await else { return };
    chat_core::testing::conformance::notifications::two_workers_share_the_outbox(
        nodes.store_a.clone(),
        nodes.store_b.clone(),
        1000,
    )
    .await;
}
