//! Our migrations: idempotent, in their own schema, beside a host's own sqlx migrations.

use chat_core::store::ConversationStore;
use chat_store_sqlx::{PgStore, PgStoreError};
use sqlx::postgres::PgPool;

use crate::common;

/// The host's migrator, as a host application would embed it.
static HOST_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/host_migrations");

type Applied = Vec<(i64, Vec<u8>, bool)>;

/// Every table our migrations create, in name order: all in our schema.
const OUR_TABLES: [&str; 13] = [
    "_sqlx_migrations",
    "attachments",
    "blocks",
    "conversations",
    "event_payloads",
    "function_definitions",
    "member_state",
    "messages",
    "participants",
    "pending_notifications",
    "reports",
    "search_key_version",
    "user_totals",
];

async fn applied(pool: &PgPool, table: &str) -> Applied {
    sqlx::query_as(&format!(
        "SELECT version, checksum, success FROM {table} ORDER BY version"
    ))
    .fetch_all(pool)
    .await
    .expect("read migrations table")
}

async fn tables_in(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename")
        .bind(schema)
        .fetch_all(pool)
        .await
        .expect("tables")
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let Some(url) = common::database_url() else { return };
    let (store, schema) = common::migrated_store(&url, 2).await;
    let pool = store.pool();
    let table = format!("\"{}\"._sqlx_migrations", schema.name());
    let first = applied(pool, &table).await;
    let ours: Vec<i64> = first.iter().map(|(version, _, _)| *version).collect();
    assert!(!ours.is_empty());
    assert!(first.iter().all(|(_, _, success)| *success));
    let installed_on: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar(&format!("SELECT installed_on FROM {table} ORDER BY version"))
            .fetch_all(pool)
            .await
            .expect("installed_on");
    store.migrate().await.expect("second run");
    store.migrate().await.expect("third run");
    assert_eq!(applied(pool, &table).await, first, "nothing re-applied");
    let again: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar(&format!("SELECT installed_on FROM {table} ORDER BY version"))
            .fetch_all(pool)
            .await
            .expect("installed_on");
    assert_eq!(again, installed_on);
    assert_eq!(tables_in(pool, schema.name()).await, OUR_TABLES);
}

#[tokio::test]
async fn invalid_schema_names_are_refused() {
    let Some(url) = common::database_url() else { return };
    for bad in ["Chat", "chat; DROP TABLE x", "", "9x", "a-b"] {
        let result = PgStore::builder().schema(bad).build(common::pool(&url, 1).await).await;
        assert!(matches!(result, Err(PgStoreError::InvalidSchema { .. })), "{bad:?}");
    }
}

#[tokio::test]
async fn our_migrations_and_the_hosts_keep_to_their_own_tables() {
    let Some(url) = common::database_url() else { return };
    for ours_first in [false, true] {
        let database = common::TempDatabase::create(&url).await;
        // The host's pool with its default search_path: its migrations land in public.
        let pool = common::pool(&database.url, 4).await;
        let store = PgStore::builder().build(pool.clone()).await.expect("store");
        assert_eq!(store.schema().as_str(), "chat", "the default schema");
        if ours_first {
            store.migrate().await.expect("our migrations");
            HOST_MIGRATOR.run(&pool).await.expect("host migrations");
        } else {
            HOST_MIGRATOR.run(&pool).await.expect("host migrations");
            store.migrate().await.expect("our migrations");
        }
        // And both again, in the other order: each is a no-op and neither trips on the other.
        let host_before = applied(&pool, "public._sqlx_migrations").await;
        let ours_before = applied(&pool, "chat._sqlx_migrations").await;
        if ours_first {
            HOST_MIGRATOR.run(&pool).await.expect("host migrations again");
            store.migrate().await.expect("our migrations again");
        } else {
            store.migrate().await.expect("our migrations again");
            HOST_MIGRATOR.run(&pool).await.expect("host migrations again");
        }
        let host = applied(&pool, "public._sqlx_migrations").await;
        let ours = applied(&pool, "chat._sqlx_migrations").await;
        assert_eq!(host, host_before);
        assert_eq!(ours, ours_before);
        let host_versions: Vec<i64> = host.iter().map(|(v, _, _)| *v).collect();
        let expected_host: Vec<i64> = HOST_MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(
            host_versions, expected_host,
            "the host's record holds only the host's migrations"
        );
        let our_versions: Vec<i64> = ours.iter().map(|(v, _, _)| *v).collect();
        assert!(!our_versions.is_empty());
        assert!(
            our_versions.iter().all(|v| !expected_host.contains(v)),
            "our record holds only ours"
        );
        assert_eq!(
            tables_in(&pool, "public").await,
            ["_sqlx_migrations", "host_orders", "host_users"]
        );
        assert_eq!(tables_in(&pool, "chat").await, OUR_TABLES);
        // The host's tables work, and so does our store on the host's pool.
        sqlx::query("INSERT INTO host_users (email) VALUES ('ana@example.test')")
            .execute(&pool)
            .await
            .expect("host insert");
        // Our triggers resolve our tables whatever the connection's search_path is.
        let tenant = chat_core::TenantId::default();
        let ana = chat_core::Identity::new(tenant.clone(), chat_core::UserId::new("ana").expect("user"));
        let bruno = chat_core::Identity::new(tenant.clone(), chat_core::UserId::new("bruno").expect("user"));
        assert_eq!(
            ConversationStore::stats(&store, &ana)
                .await
                .expect("stats")
                .total_conversations,
            0
        );
        let (record, created) = ConversationStore::find_or_create_direct(
            &store,
            &ana,
            chat_core::store::NewDirect {
                counterpart: bruno.user.clone(),
                tag: None,
                metadata: Default::default(),
            },
        )
        .await
        .expect("direct");
        assert!(created);
        assert_eq!(
            ConversationStore::stats(&store, &bruno)
                .await
                .expect("stats")
                .total_conversations,
            1
        );
        ConversationStore::remove_participant(&store, &ana, record.conversation.id, &ana.user)
            .await
            .expect_err("a direct conversation keeps its participants");
        pool.close().await;
        database.drop().await;
    }
}

/// What a migrated schema is, with its name written `<schema>`: the migrations recorded
/// (version, checksum, success), the tables' columns, the indexes, constraints, triggers
/// and functions with their definitions, and the recorded function definitions.
async fn schema_fingerprint(pool: &PgPool, schema: &str) -> Vec<String> {
    let queries = [
        format!(
            "SELECT version::text || ' ' || encode(checksum, 'hex') || ' ' || success::text \
             FROM \"{schema}\"._sqlx_migrations"
        ),
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') \
         FROM information_schema.columns WHERE table_schema = $1"
            .to_owned(),
        "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = $1".to_owned(),
        "SELECT c.conrelid::regclass::text || ' ' || c.conname || ': ' || pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1"
            .to_owned(),
        "SELECT t.tgrelid::regclass::text || ' ' || t.tgname || ': ' || pg_get_triggerdef(t.oid) \
         FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace \
         WHERE n.nspname = $1 AND NOT t.tgisinternal"
            .to_owned(),
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' \
         || coalesce(array_to_string(p.proconfig, ','), '') || ': ' || md5(replace(p.prosrc, $1, '<schema>')) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1"
            .to_owned(),
        format!(
            "SELECT 'recorded ' || name || ': ' || md5(replace(definition, $1, '<schema>')) \
             FROM \"{schema}\".function_definitions"
        ),
    ];
    let mut rows = Vec::new();
    for query in &queries {
        let mut found: Vec<String> = if query.contains("$1") {
            sqlx::query_scalar(query).bind(schema).fetch_all(pool).await
        } else {
            sqlx::query_scalar(query).fetch_all(pool).await
        }
        .unwrap_or_else(|error| panic!("{query}: {error}"));
        found.sort();
        rows.extend(found.into_iter().map(|row| row.replace(schema, "<schema>")));
    }
    rows
}

/// Four nodes starting at once on a schema nobody has migrated: every one succeeds, and
/// they agree: each migration is recorded once, successfully, and the schema they leave
/// is exactly the one a single migration leaves (tables, columns, indexes, constraints,
/// triggers, functions and their recorded definitions); a message sent through one node is
/// read through each of the others, and migrating again changes nothing.
#[tokio::test]
async fn concurrent_migrations_of_a_new_schema_agree() {
    let Some(url) = common::database_url() else { return };
    let (alone, alone_schema) = common::migrated_store(&url, 2).await;
    let expected = schema_fingerprint(alone.pool(), alone_schema.name()).await;
    assert!(
        expected.iter().any(|row| row.starts_with("recorded ")),
        "the fingerprint reads the recorded functions: {expected:#?}"
    );

    let schema = common::TestSchema::new(&url);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        let name = schema.name().to_owned();
        tasks.push(tokio::spawn(async move {
            PgStore::builder()
                .schema(name)
                .run_migrations(true)
                .build(common::pool(&url, 2).await)
                .await
        }));
    }
    let mut nodes = Vec::new();
    for task in tasks {
        nodes.push(task.await.expect("task").expect("migrate"));
    }
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{}\"._sqlx_migrations ORDER BY version",
        schema.name()
    ))
    .fetch_all(nodes[0].pool())
    .await
    .expect("versions");
    let mut once = versions.clone();
    once.dedup();
    assert_eq!(versions, once, "each migration recorded once");
    let found = schema_fingerprint(nodes[0].pool(), schema.name()).await;
    assert_eq!(found, expected, "four migrations at once leave the schema one leaves");

    let fixture = |node: &PgStore| chat_core::testing::Fixture::new(std::sync::Arc::new(node.clone()), 2);
    let first = fixture(&nodes[0]);
    let conversation = first.direct(0, 1).await;
    first.send(0, conversation, "sent through node 0").await;
    for node in &nodes[1..] {
        let history = node
            .history_page(
                first.user(1),
                conversation,
                chat_core::store::HistoryQuery {
                    after: Some(0),
                    before: None,
                    limit: 10,
                },
            )
            .await
            .expect("history through another node");
        let bodies: Vec<&str> = history.iter().map(|message| message.body.as_str()).collect();
        assert_eq!(bodies, ["sent through node 0"]);
    }
    nodes[3].migrate().await.expect("migrate again");
    assert_eq!(
        schema_fingerprint(nodes[0].pool(), schema.name()).await,
        expected,
        "migrating again changes nothing"
    );
}

/// Issue 13: search folds accents. Rows written before hold `lower(title)`; migrating
/// rewrites their key from Rust once, so `ines` finds a group titled `Inés` created before.
#[tokio::test]
async fn migrating_rewrites_the_search_keys_of_existing_titles() {
    let Some(url) = common::database_url() else { return };
    let (store, schema) = common::migrated_store(&url, 2).await;
    let pool = store.pool();
    let tenant = chat_core::TenantId::default();
    let ana = chat_core::Identity::new(tenant.clone(), chat_core::UserId::new("ana").expect("user"));
    let new = chat_core::store::NewGroup {
        members: vec![chat_core::UserId::new("bruno").expect("user")],
        title: "Café con Inés".into(),
        tag: None,
        metadata: Default::default(),
    };
    let group = ConversationStore::create_group(&store, &ana, new).await.expect("group");
    // As a version before issue 13 left it: the key lower-cased only.
    let s = schema.name();
    sqlx::query(&format!(
        "UPDATE \"{s}\".participants SET title_lower = lower(title_lower)"
    ))
    .execute(pool)
    .await
    .expect("old key");
    sqlx::query(&format!(
        "UPDATE \"{s}\".participants SET title_lower = 'café con inés' WHERE conversation_id = $1"
    ))
    .bind(group.conversation.id.as_uuid())
    .execute(pool)
    .await
    .expect("old key");
    sqlx::query(&format!("UPDATE \"{s}\".search_key_version SET version = 1"))
        .execute(pool)
        .await
        .expect("old version");
    let search = |text: &str| chat_core::backend::SearchQuery {
        title_contains: chat_core::rules::title_search_key(text),
        participants: Vec::new(),
        limit: 10,
    };
    assert!(
        ConversationStore::search(&store, &ana, search("ines"))
            .await
            .expect("search")
            .is_empty(),
        "the old key"
    );
    store.migrate().await.expect("migrate");
    let found = ConversationStore::search(&store, &ana, search("ines"))
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    let version: i32 = sqlx::query_scalar(&format!("SELECT version FROM \"{s}\".search_key_version"))
        .fetch_one(pool)
        .await
        .expect("version");
    assert_eq!(version, 2);
}

/// Each SQL function's current definition (`functions/*.sql`) is installed once and
/// recorded; migrating again leaves it alone, and a recorded definition that differs from
/// the file (an older build's) is replaced by the file's, after which sends still work.
#[tokio::test]
async fn function_definitions_are_installed_once_and_again_only_when_they_change() {
    let Some(url) = common::database_url() else { return };
    let (store, schema) = common::migrated_store(&url, 2).await;
    let pool = store.pool();
    let table = format!("\"{}\".function_definitions", schema.name());
    let read = || async {
        sqlx::query_as::<_, (String, String, chrono::DateTime<chrono::Utc>)>(&format!(
            "SELECT name, definition, installed_at FROM {table} ORDER BY name"
        ))
        .fetch_all(pool)
        .await
        .expect("function definitions")
    };
    let first = read().await;
    let names: Vec<&str> = first.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(names, ["append_message"]);
    assert!(
        first[0].1.contains("CREATE FUNCTION append_message("),
        "the file's text is recorded"
    );
    store.migrate().await.expect("second run");
    assert_eq!(read().await, first, "an unchanged definition is not installed again");

    sqlx::query(&format!(
        "UPDATE {table} SET definition = 'an older build''s definition'"
    ))
    .execute(pool)
    .await
    .expect("age the record");
    store.migrate().await.expect("third run");
    let again = read().await;
    assert_eq!(again[0].1, first[0].1, "the file's definition is installed again");
    assert!(again[0].2 > first[0].2, "installed_at moves");
    let fx = chat_core::testing::Fixture::new(std::sync::Arc::new(store.clone()), 2);
    let id = fx.direct(0, 1).await;
    assert_eq!(fx.send(0, id, "after the reinstall").await.seq, 1);
}
