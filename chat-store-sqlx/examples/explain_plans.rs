//! Seeds a large data set into schema `chat_explain` and prints the plans
//! (`EXPLAIN (ANALYZE, BUFFERS)` through `auto_explain`) of the statements `PgStore` really
//! runs for inbox pages, history pages, stats, search and the main writes.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run -p chat-store-sqlx --example explain_plans
//! ```
//!
//! Data: tenant `bench`; user `heavy` in 50 000 conversations (`EXPLAIN_CONVERSATIONS=N` for
//! another count; at least 100; the figures below are for the default) (every 25th a group, every
//! 10th tagged `Order` with 1000 distinct ids, every 5th archived, every 20th unread),
//! 150 000 more conversations
//! between other users (400 000 participant rows in all), 3 messages in each of heavy's
//! conversations and 1 000 000 in one of them. Needs a superuser (`LOAD 'auto_explain'`).
//! Drops the schema at the end unless `KEEP=1`.

use chat_core::store::ConversationStore;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chat_core::backend::HistoryQuery;
use chat_core::backend::InboxCursor;
use chat_core::backend::InboxQuery;
use chat_core::backend::ReadUpTo;
use chat_core::backend::SearchQuery;
use chat_core::store::NewMessage;
use chat_core::{ArchiveFilter, ConversationId, Identity, TagFilter, TaggableId, TenantId, UserId};
use chat_store_sqlx::PgStore;
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SCHEMA: &str = "chat_explain";

/// Collects the notices sqlx reports (auto_explain's plans arrive as LOG notices).
#[derive(Clone, Default)]
struct Notices(Arc<Mutex<Vec<String>>>);

impl Notices {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

struct MessageVisitor(Option<String>);

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" && self.0.is_none() {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Notices {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::postgres::notice"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut visitor = MessageVisitor(None);
        event.record(&mut visitor);
        if let Some(message) = visitor.0 {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(message);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn seed_sql(s: &str, n: i64) -> String {
    let big = n - 1;
    format!(
        r#"
CREATE TEMP TABLE seed AS
  SELECT i, md5('c' || i)::uuid AS id, timestamptz '2025-01-01' + i * interval '1 second' AS at,
         i % 25 = 0 AS is_group
  FROM generate_series(1, {n}) AS i;
INSERT INTO {s}.conversations (id, tenant, kind, title, tag_type, tag_id, tag_id_is_int,
    direct_low, direct_high, created_by, created_at, updated_at, last_seq, last_activity_at,
    last_message_id, last_message_seq, last_message_sender, last_message_text, last_message_at)
  SELECT id, 'bench', CASE WHEN is_group THEN 'group' ELSE 'direct' END,
         CASE WHEN is_group THEN (CASE WHEN i % 5000 = 0 THEN 'Weekend Hiking ' ELSE 'Project ' END) || i END,
         CASE WHEN i % 10 = 3 THEN 'Order' END, CASE WHEN i % 10 = 3 THEN (i % 1000)::text END,
         CASE WHEN i % 10 = 3 THEN true END,
         CASE WHEN NOT is_group THEN 'heavy' END, CASE WHEN NOT is_group THEN 'peer' || i END,
         'heavy', at, at, CASE WHEN i = {big} THEN 1000000 ELSE 3 END, at,
         md5('m' || i)::uuid, CASE WHEN i = {big} THEN 1000000 ELSE 3 END, 'peer' || i, 'hello', at
  FROM seed;
CREATE TEMP TABLE seed_members AS
  SELECT c.id, u.user_id, c.tag_type, c.tag_id, c.last_activity_at, lower(c.title) AS title_lower,
         CASE WHEN s.is_group AND u.user_id = 'heavy' THEN 'owner' ELSE 'member' END AS role, c.created_at,
         CASE WHEN u.user_id = 'heavy' AND s.i % 20 = 2 THEN c.last_seq - 2
              WHEN s.i = {big} AND u.user_id <> 'heavy' THEN 500000 ELSE c.last_seq END AS read_seq,
         CASE WHEN u.user_id = 'heavy' AND s.i % 20 = 2 THEN 2
              WHEN s.i = {big} AND u.user_id <> 'heavy' THEN 250000 ELSE 0 END AS unread,
         u.user_id = 'heavy' AND s.i % 5 = 1 AS archived
  FROM seed s JOIN {s}.conversations c ON c.id = s.id
  CROSS JOIN LATERAL (VALUES ('heavy'), ('peer' || s.i), (CASE WHEN s.is_group THEN 'other' || s.i END)) AS u(user_id)
  WHERE u.user_id IS NOT NULL;
INSERT INTO {s}.participants (conversation_id, user_id, tenant, tag_type, tag_id, title_lower, role, joined_at)
  SELECT id, user_id, 'bench', tag_type, tag_id, title_lower, role, created_at FROM seed_members;
INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at, last_read_seq, last_delivered_seq,
    unread_count, is_archived)
  SELECT id, user_id, 'bench', last_activity_at, read_seq, read_seq, unread, archived FROM seed_members;
INSERT INTO {s}.conversations (id, tenant, kind, direct_low, direct_high, created_by, created_at, updated_at,
    last_seq, last_activity_at)
  SELECT md5('o' || j)::uuid, 'bench', 'direct', 'other' || j, 'peer' || j, 'other' || j,
         timestamptz '2024-01-01' + j * interval '1 second', timestamptz '2024-01-01' + j * interval '1 second', 0,
         timestamptz '2024-01-01' + j * interval '1 second'
  FROM generate_series(1, 150000) AS j;
INSERT INTO {s}.participants (conversation_id, user_id, tenant, role, joined_at)
  SELECT md5('o' || j)::uuid, u.user_id, 'bench', 'member', timestamptz '2024-01-01' + j * interval '1 second'
  FROM generate_series(1, 150000) AS j CROSS JOIN LATERAL (VALUES ('other' || j), ('peer' || j)) AS u(user_id);
INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at)
  SELECT md5('o' || j)::uuid, u.user_id, 'bench', timestamptz '2024-01-01' + j * interval '1 second'
  FROM generate_series(1, 150000) AS j CROSS JOIN LATERAL (VALUES ('other' || j), ('peer' || j)) AS u(user_id);
INSERT INTO {s}.messages (conversation_id, seq, id, sender, body, created_at)
  SELECT s.id, n, md5('m' || s.i || '-' || n)::uuid, CASE WHEN n % 2 = 0 THEN 'heavy' ELSE 'peer' || s.i END,
         'message ' || n, s.at
  FROM seed s CROSS JOIN generate_series(1, 3) AS n WHERE s.i <> {big};
INSERT INTO {s}.messages (conversation_id, seq, id, sender, body, created_at)
  SELECT md5('c{big}')::uuid, n, md5('big-' || n)::uuid, CASE WHEN n % 2 = 0 THEN 'heavy' ELSE 'peer{big}' END,
         'message ' || n, timestamptz '2025-01-01' + {big} * interval '1 second'
  FROM generate_series(1, 1000000) AS n;
"#
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL");
        return Ok(());
    };
    let notices = Notices::default();
    tracing::subscriber::set_global_default(notices.clone())?;

    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await?;
    admin
        .execute(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE").as_str())
        .await?;
    PgStore::builder()
        .schema(SCHEMA)
        .run_migrations(true)
        .build(admin.clone())
        .await?;
    let started = std::time::Instant::now();
    let mut conn = admin.acquire().await?;
    let n: i64 = std::env::var("EXPLAIN_CONVERSATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000)
        .max(100);
    println!("user heavy in {n} conversations");
    sqlx::raw_sql(&seed_sql(SCHEMA, n)).execute(&mut *conn).await?;
    drop(conn);
    for table in ["conversations", "participants", "member_state", "messages"] {
        admin
            .execute(format!("VACUUM ANALYZE {SCHEMA}.{table}").as_str())
            .await?;
    }
    println!("seeded and vacuumed in {:.1?}", started.elapsed());
    let sizes: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT relname::text, n_live_tup FROM pg_stat_user_tables WHERE schemaname = '{SCHEMA}' ORDER BY relname"
    ))
    .fetch_all(&admin)
    .await?;
    println!("rows: {sizes:?}");

    // A store whose one connection explains every statement it runs.
    let explained = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; \
                     SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; \
                     SET auto_explain.log_timing = on; SET auto_explain.log_nested_statements = on; \
                     SET client_min_messages = log;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    let store = PgStore::builder().schema(SCHEMA).build(explained).await?;
    let tenant = TenantId::new("bench")?;
    let heavy = Identity::new(tenant.clone(), UserId::new("heavy")?);
    let big = ConversationId::from_uuid(
        sqlx::query_scalar(&format!("SELECT md5('c{}')::uuid", n - 1))
            .fetch_one(&admin)
            .await?,
    );
    let deep: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(&format!(
        "SELECT timestamptz '2025-01-01' + {} * interval '1 second'",
        n * 2 / 5
    ))
    .fetch_one(&admin)
    .await?;
    let deep_id = ConversationId::from_uuid(
        sqlx::query_scalar(&format!("SELECT md5('c{}')::uuid", n * 2 / 5))
            .fetch_one(&admin)
            .await?,
    );
    let inbox = |archive, unread_only, tag: Option<TagFilter>, after| InboxQuery {
        archive,
        tag,
        unread_only,
        after,
        limit: 51,
    };
    let order = |id: Option<i64>| TagFilter {
        taggable_type: "Order".into(),
        taggable_id: id.map(TaggableId::Int),
    };

    macro_rules! explain {
        ($title:expr, $call:expr) => {{
            notices.take();
            let started = std::time::Instant::now();
            let result = $call.await;
            let elapsed = started.elapsed();
            println!(
                "\n=============== {} ({:.2?} round trip, {}) ===============",
                $title,
                elapsed,
                match &result {
                    Ok(value) => summarize(value),
                    Err(error) => format!("error: {error}"),
                }
            );
            for notice in notices.take() {
                println!("{notice}");
            }
        }};
    }

    explain!(
        "inbox: first page",
        store.inbox_page(&heavy, inbox(ArchiveFilter::Active, false, None, None))
    );
    explain!(
        "inbox: a page 3/5 deep",
        store.inbox_page(
            &heavy,
            inbox(
                ArchiveFilter::Active,
                false,
                None,
                Some(InboxCursor {
                    last_activity_at: deep,
                    id: deep_id
                })
            )
        )
    );
    explain!(
        "inbox: archived",
        store.inbox_page(&heavy, inbox(ArchiveFilter::Archived, false, None, None))
    );
    explain!(
        "inbox: all",
        store.inbox_page(&heavy, inbox(ArchiveFilter::All, false, None, None))
    );
    explain!(
        "inbox: unread only",
        store.inbox_page(&heavy, inbox(ArchiveFilter::Active, true, None, None))
    );
    explain!(
        "inbox: tag type",
        store.inbox_page(&heavy, inbox(ArchiveFilter::Active, false, Some(order(None)), None))
    );
    explain!(
        "inbox: tag type and id",
        store.inbox_page(&heavy, inbox(ArchiveFilter::All, false, Some(order(Some(993))), None))
    );
    explain!(
        "history: newest page of 1M",
        store.history_page(
            &heavy,
            big,
            HistoryQuery {
                before: None,
                after: None,
                limit: 50
            }
        )
    );
    explain!(
        "history: after seq 500000",
        store.history_page(
            &heavy,
            big,
            HistoryQuery {
                before: None,
                after: Some(500_000),
                limit: 50
            }
        )
    );
    explain!(
        "history: before seq 1000",
        store.history_page(
            &heavy,
            big,
            HistoryQuery {
                before: Some(1000),
                after: None,
                limit: 50
            }
        )
    );
    explain!("stats", store.stats(&heavy));
    explain!(
        "search: title 'hiking' (1 in 5000)",
        store.search(
            &heavy,
            SearchQuery {
                title_contains: "hiking".into(),
                participants: vec![],
                limit: 50
            }
        )
    );
    explain!(
        "search: participant in an old conversation",
        store.search(
            &heavy,
            SearchQuery {
                title_contains: "zzz".into(),
                participants: vec![
                    UserId::new("peer12")?,
                    UserId::new("peer49990")?,
                    UserId::new("nobody")?
                ],
                limit: 50
            }
        )
    );
    explain!("get conversation", store.get_conversation(&heavy, big));
    explain!(
        "find-or-create an existing direct conversation",
        store.find_or_create_direct(
            &Identity::new(tenant.clone(), UserId::new("peer77")?),
            chat_core::store::NewDirect {
                counterpart: heavy.user.clone(),
                tag: None,
                metadata: Default::default(),
            }
        )
    );
    explain!(
        "append to the 1M conversation",
        store.append_message(
            &heavy,
            NewMessage {
                notify_after: None,
                attachments: Vec::new(),
                conversation_id: big,
                body: "explained".into(),
                client_message_id: Some("explain-1".into()),
                reply_to: None,
                metadata: Default::default(),
            }
        )
    );
    explain!(
        "mark read up to seq 999 000 (peer, read up to 500 000 before)",
        store.mark_read(
            &Identity::new(tenant.clone(), UserId::new(format!("peer{}", n - 1))?),
            big,
            ReadUpTo::Seq(999_000)
        )
    );
    explain!(
        "search: title 'hiking' again (warm)",
        store.search(
            &heavy,
            SearchQuery {
                title_contains: "hiking".into(),
                participants: vec![],
                limit: 50
            }
        )
    );
    explain!("stats again (warm)", store.stats(&heavy));

    if std::env::var_os("KEEP").is_none() {
        admin
            .execute(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE").as_str())
            .await?;
    }
    Ok(())
}

fn summarize<T: Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    let conversations = text.matches("ConversationRecord {").count();
    let messages = text.matches(" Message {").count() + usize::from(text.starts_with("[Message {"));
    match (conversations, messages) {
        (0, 0) => text.chars().take(100).collect(),
        (0, messages) => format!("{messages} messages"),
        (conversations, _) => format!("{conversations} conversations"),
    }
}
