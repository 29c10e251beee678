//! Data generators: large inboxes and long conversations, loaded fast.
//!
//! sled: through the store in [`Durability::Relaxed`](chat_store_sled::Durability) mode
//! with several operations in flight, then one flush. Postgres: one
//! `INSERT ... SELECT generate_series` per table of the PgStore schema.

use chat_core::store::ConversationStore;
use chat_core::store::{NewDirect, NewMessage};
use chat_core::{ConversationId, Identity, Metadata, TenantId};
use chat_store_sled::SledStore;
use chat_store_sqlx::PgStore;
use futures_util::StreamExt as _;

use crate::env::user_id;

/// The user whose inbox has `size` conversations.
pub fn inbox_user(size: usize) -> String {
    format!("inbox{size}")
}

/// The two users of the conversation with `size` messages.
pub fn history_users(size: usize) -> (String, String) {
    (format!("hist{size}a"), format!("hist{size}b"))
}

/// Every 10th conversation of a loaded inbox has an unread message (from the counterpart).
pub const UNREAD_EVERY: usize = 10;

/// Loads an inbox of `size` direct conversations into sled, one message each.
pub async fn sled_inbox(store: &SledStore, size: usize) {
    let owner = inbox_user(size);
    futures_util::stream::iter(1..=size)
        .map(|index| {
            let store = store.clone();
            let owner = owner.clone();
            async move {
                let counterpart = format!("p{size}_{index}");
                let new = NewDirect {
                    counterpart: user_id(&counterpart),
                    tag: None,
                    metadata: Metadata::new(),
                };
                let (record, _) = store
                    .find_or_create_direct(&caller(&owner), new)
                    .await
                    .expect("loading a conversation");
                let sender = if index % UNREAD_EVERY == 0 { counterpart } else { owner };
                append(&store, record.conversation.id, &sender, format!("hello {index}")).await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Loads a conversation of `size` messages into sled; returns its id.
pub async fn sled_history(store: &SledStore, size: usize) -> ConversationId {
    let (a, b) = history_users(size);
    let new = NewDirect {
        counterpart: user_id(&b),
        tag: None,
        metadata: Metadata::new(),
    };
    let (record, _) = store
        .find_or_create_direct(&caller(&a), new)
        .await
        .expect("loading a conversation");
    let id = record.conversation.id;
    futures_util::stream::iter(1..=size)
        .map(|index| {
            let store = store.clone();
            let sender = if index % 2 == 0 { a.clone() } else { b.clone() };
            async move { append(&store, id, &sender, format!("message number {index}")).await }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
    id
}

/// `user` of the default tenant, as the caller of a store operation.
fn caller(user: &str) -> Identity {
    Identity::new(TenantId::default(), user_id(user))
}

async fn append(store: &SledStore, id: ConversationId, sender: &str, body: String) {
    store
        .append_message(
            &caller(sender),
            NewMessage {
                notify_after: None,
                attachments: Vec::new(),
                conversation_id: id,
                body,
                client_message_id: None,
                reply_to: None,
                metadata: Metadata::new(),
            },
        )
        .await
        .expect("loading a message");
}

async fn exec(store: &PgStore, sql: &str, binds: &[&str], count: i32) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = query.bind(*bind);
    }
    query
        .bind(count)
        .execute(store.pool())
        .await
        .unwrap_or_else(|error| panic!("loading Postgres data failed: {error}\n{sql}"));
}

/// Loads an inbox of `size` direct conversations into the PgStore schema, one message each,
/// exactly as the store would have written them.
pub async fn pg_inbox(store: &PgStore, size: usize) {
    let s = store.schema().as_str();
    let owner = inbox_user(size);
    let prefix = format!("p{size}_");
    // $1 = counterpart prefix, $2 = owner, $3 = size.
    let series = "FROM generate_series(1, $3::int) g, \
        LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' AS t, \
        $1::text || g::text AS other, md5($1::text || g::text)::uuid AS cid, \
        md5('m' || $1::text || g::text)::uuid AS mid, g % 10 = 0 AS from_other) x";
    let conversations = format!(
        "INSERT INTO {s}.conversations (id, tenant, kind, direct_low, direct_high, created_by, created_at, \
         updated_at, last_seq, last_activity_at, last_message_id, last_message_seq, last_message_sender, \
         last_message_text, last_message_at) \
         SELECT cid, 'default', 'direct', $2::text, other, $2::text, t, t, 1, t, mid, 1, \
         CASE WHEN from_other THEN other ELSE $2::text END, 'hello ' || g, t {series}"
    );
    exec(store, &conversations, &[&prefix, &owner], size as i32).await;
    let members = "LATERAL (VALUES ($2::text, 'owner', from_other), (other, 'member', NOT from_other)) \
        u(user_id, role, unread)";
    let participants = format!(
        "INSERT INTO {s}.participants (conversation_id, user_id, tenant, role, joined_at) \
         SELECT cid, u.user_id, 'default', u.role, t {series}, {members}"
    );
    exec(store, &participants, &[&prefix, &owner], size as i32).await;
    let member_state = format!(
        "INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at, last_read_seq, \
         last_read_at, unread_count, last_delivered_seq, last_delivered_at) \
         SELECT cid, u.user_id, 'default', t, CASE WHEN u.unread THEN 0 ELSE 1 END, \
         CASE WHEN u.unread THEN NULL ELSE t END, CASE WHEN u.unread THEN 1 ELSE 0 END, \
         CASE WHEN u.unread THEN 0 ELSE 1 END, CASE WHEN u.unread THEN NULL ELSE t END {series}, {members}"
    );
    exec(store, &member_state, &[&prefix, &owner], size as i32).await;
    let messages = format!(
        "INSERT INTO {s}.messages (conversation_id, seq, id, sender, body, created_at) \
         SELECT cid, 1, mid, CASE WHEN from_other THEN other ELSE $2::text END, 'hello ' || g, t {series}"
    );
    exec(store, &messages, &[&prefix, &owner], size as i32).await;
    analyze(store).await;
}

/// Loads a conversation of `size` messages into the PgStore schema; returns its id.
pub async fn pg_history(store: &PgStore, size: usize) -> ConversationId {
    let s = store.schema().as_str();
    let (a, b) = history_users(size);
    let id = uuid::Uuid::now_v7();
    let conversation = format!(
        "INSERT INTO {s}.conversations (id, tenant, kind, direct_low, direct_high, created_by, created_at, \
         updated_at, last_seq, last_activity_at, last_message_id, last_message_seq, last_message_sender, \
         last_message_text, last_message_at) \
         SELECT $1::uuid, 'default', 'direct', $2::text, $3::text, $2::text, t0, t, $4::int, t, \
         md5($1::text || $4::int::text)::uuid, $4::int, CASE WHEN $4::int % 2 = 0 THEN $2::text ELSE $3::text END, \
         'message number ' || $4::int, t \
         FROM (SELECT timestamptz '2025-01-01 00:00:00+00' AS t0, \
         timestamptz '2025-01-01 00:00:00+00' + $4::int * interval '1 millisecond' AS t) x"
    );
    let times = "FROM (SELECT timestamptz '2025-01-01 00:00:00+00' AS t0, \
         timestamptz '2025-01-01 00:00:00+00' + $4::int * interval '1 millisecond' AS t) x, \
         (VALUES ($2::text, 'owner'), ($3::text, 'member')) u(user_id, role)";
    let participants = format!(
        "INSERT INTO {s}.participants (conversation_id, user_id, tenant, role, joined_at) \
         SELECT $1::uuid, u.user_id, 'default', u.role, t0 {times}"
    );
    let member_state = format!(
        "INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at, last_read_seq, \
         last_read_at, unread_count, last_delivered_seq, last_delivered_at) \
         SELECT $1::uuid, u.user_id, 'default', t, $4::int, t, 0, $4::int, t {times}"
    );
    let messages = format!(
        "INSERT INTO {s}.messages (conversation_id, seq, id, sender, body, created_at) \
         SELECT $1::uuid, g, md5($1::text || g::text)::uuid, CASE WHEN g % 2 = 0 THEN $2::text ELSE $3::text END, \
         'message number ' || g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 millisecond' \
         FROM generate_series(1, $4::int) g"
    );
    let id_text = id.to_string();
    for sql in [&conversation, &participants, &member_state, &messages] {
        exec(store, sql, &[&id_text, &a, &b], size as i32).await;
    }
    analyze(store).await;
    ConversationId::from(id)
}

/// `VACUUM ANALYZE` the loaded tables: statistics for the planner, and the visibility map
/// and hint bits a live database has long had, so that what is measured is the steady
/// state rather than autovacuum and first-read hint-bit writes after a bulk load.
async fn analyze(store: &PgStore) {
    let s = store.schema().as_str();
    for table in [
        "conversations",
        "participants",
        "member_state",
        "messages",
        "user_totals",
    ] {
        sqlx::query(&format!("VACUUM (ANALYZE) {s}.{table}"))
            .execute(store.pool())
            .await
            .expect("VACUUM ANALYZE");
    }
}
