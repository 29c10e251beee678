//! Issue 31's migration (`member_state_apart`): data written under the schema before it
//! (participant rows carrying activity, counters, watermarks and pending notifications, sent
//! through that schema's own `append_message`) comes through with every counter as the rules
//! define it, and the store goes on from there.

use std::borrow::Cow;

use chat_core::backend::{InboxQuery, ReadUpTo};
use chat_core::store::{ConversationStore, NewMessage};
use chat_core::{ArchiveFilter, ConversationId, Identity, TenantId, UserId};
use chat_store_sqlx::PgStore;
use chrono::{DateTime, Utc};
use sqlx::Executor;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::common;

/// The first migration of issue 31: everything before it is the schema the data was written in.
const MEMBER_STATE_APART: i64 = 20261208000000;

/// One member's row as the pre-31 schema kept it, and as the migrated schema must give it back.
type MemberRow = (
    Uuid,
    String,
    i64,
    i64,
    bool,
    i64,
    DateTime<Utc>,
    Option<i64>,
    Option<DateTime<Utc>>,
    i32,
);

/// Runs the migrations before issue 31 in `schema`.
async fn migrate_before_member_state(pool: &PgPool, schema: &str) {
    let all: Migrator = sqlx::migrate!("./migrations");
    let before = Migrator {
        migrations: Cow::Owned(
            all.iter()
                .filter(|migration| migration.version < MEMBER_STATE_APART)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let mut conn = pool.acquire().await.expect("connection").detach();
    conn.execute(format!("CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"").as_str())
        .await
        .expect("schema");
    before
        .run_direct(&mut conn)
        .await
        .expect("the migrations before issue 31");
}

/// Creates a conversation the way the pre-31 store did: the row and one participant row per
/// member carrying the tenant, tag, activity and title key.
async fn create_old(pool: &PgPool, s: &str, kind: &str, members: &[&str], at: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    let (low, high, title) = match kind {
        "direct" => (Some(members[0]), Some(members[1]), None),
        _ => (None, None, Some("Weekend trip")),
    };
    sqlx::query(&format!(
        "INSERT INTO \"{s}\".conversations (id, tenant, kind, title, direct_low, direct_high, created_by, \
         created_at, updated_at, last_seq, last_activity_at) VALUES ($1, 'default', $2, $3, $4, $5, $6, $7, $7, 0, $7)"
    ))
    .bind(id)
    .bind(kind)
    .bind(title)
    .bind(low)
    .bind(high)
    .bind(members[0])
    .bind(at)
    .execute(pool)
    .await
    .expect("old conversation");
    sqlx::query(&format!(
        "INSERT INTO \"{s}\".participants (conversation_id, user_id, tenant, last_activity_at, title_lower, role, \
         joined_at) SELECT $1, u, 'default', $2, lower($3), CASE WHEN u = $4 THEN 'owner' ELSE 'member' END, $2 \
         FROM unnest($5::text[]) u"
    ))
    .bind(id)
    .bind(at)
    .bind(title)
    .bind(members[0])
    .bind(members)
    .execute(pool)
    .await
    .expect("old participants");
    id
}

/// A send through the pre-31 schema's own `append_message`; `notify` asks for offline
/// notifications due an hour later.
async fn send_old(pool: &PgPool, s: &str, conversation: Uuid, sender: &str, at: DateTime<Utc>, notify: bool) {
    let created: bool = sqlx::query_scalar(&format!(
        "SELECT created FROM \"{s}\".append_message($1, 'default', $2, $3, 'hello', NULL, '{{}}'::jsonb, $4, \
         'hello', NULL, $5)"
    ))
    .bind(conversation)
    .bind(sender)
    .bind(Uuid::now_v7())
    .bind(at)
    .bind(notify.then_some(3_600_000_000_i64))
    .fetch_one(pool)
    .await
    .expect("old send");
    assert!(created);
}

/// Every member row: conversation, user, last read seq, unread count, archived, delivered
/// seq, activity, and the pending notification's first seq, due time and attempts.
async fn member_rows(pool: &PgPool, s: &str, migrated: bool) -> Vec<MemberRow> {
    let sql = if migrated {
        format!(
            "SELECT m.conversation_id, m.user_id, m.last_read_seq, m.unread_count, m.is_archived, \
             m.last_delivered_seq, m.last_activity_at, n.first_seq, n.due_at, coalesce(n.attempts, 0) \
             FROM \"{s}\".member_state m LEFT JOIN \"{s}\".pending_notifications n USING (conversation_id, user_id) \
             ORDER BY 1, 2"
        )
    } else {
        format!(
            "SELECT conversation_id, user_id, last_read_seq, unread_count, is_archived, last_delivered_seq, \
             last_activity_at, notify_first_seq, notify_due_at, notify_attempts \
             FROM \"{s}\".participants ORDER BY 1, 2"
        )
    };
    sqlx::query_as(&sql).fetch_all(pool).await.expect("member rows")
}

#[tokio::test]
async fn migrating_to_member_state_keeps_every_counter_as_the_rules_define_it() {
    let Some(url) = common::database_url() else { return };
    let pool = common::pool(&url, 4).await;
    let schema = common::TestSchema::new(&url);
    let s = schema.name();
    migrate_before_member_state(&pool, s).await;

    // Data as the pre-31 store wrote it: a direct conversation and a group, sends with and
    // without notifications, a read, a delete taken off the badges, an archive.
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let at = |seconds: i64| t0 + chrono::Duration::seconds(seconds);
    let direct = create_old(&pool, s, "direct", &["ana", "bruno"], at(0)).await;
    let group = create_old(&pool, s, "group", &["ana", "bruno", "carla"], at(1)).await;
    for (n, sender) in ["ana", "ana", "bruno", "ana"].iter().enumerate() {
        send_old(&pool, s, direct, sender, at(10 + n as i64), true).await;
    }
    for (n, sender) in ["carla", "ana", "carla", "carla", "bruno"].iter().enumerate() {
        send_old(&pool, s, group, sender, at(20 + n as i64), n % 2 == 0).await;
    }
    // ana reads the group up to seq 3; carla deletes seq 4 (off the badges of those below it).
    pool.execute(
        format!(
            "UPDATE \"{s}\".participants SET last_read_seq = 3, last_delivered_seq = greatest(last_delivered_seq, 3), \
               unread_count = 2 WHERE conversation_id = '{group}' AND user_id = 'ana'; \
             UPDATE \"{s}\".messages SET deleted_at = now(), body = '' WHERE conversation_id = '{group}' AND seq = 4; \
             UPDATE \"{s}\".participants SET unread_count = unread_count - 1 \
               WHERE conversation_id = '{group}' AND user_id <> 'carla' AND last_read_seq < 4; \
             UPDATE \"{s}\".participants SET is_archived = true \
               WHERE conversation_id = '{direct}' AND user_id = 'bruno'"
        )
        .as_str(),
    )
    .await
    .expect("read, delete, archive");
    let before = member_rows(&pool, s, false).await;

    let store = PgStore::builder()
        .schema(s)
        .run_migrations(true)
        .build(pool.clone())
        .await
        .expect("migrating to member_state");
    let after = member_rows(&pool, s, true).await;
    assert_eq!(
        after, before,
        "every member's counters, watermarks, activity and notification carried over"
    );

    // Every unread count is what invariant 12 says: the messages above the read watermark
    // that are not deleted.
    let tenant = TenantId::default();
    let me = |user: &str| Identity::new(tenant.clone(), UserId::new(user).expect("user"));
    for id in [direct, group] {
        let record = store
            .get_conversation(&me("ana"), ConversationId::from_uuid(id))
            .await
            .expect("record");
        let deleted: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT seq FROM \"{s}\".messages WHERE conversation_id = $1 AND deleted_at IS NOT NULL"
        ))
        .bind(id)
        .fetch_all(&pool)
        .await
        .expect("deleted seqs");
        for participant in &record.participants {
            let above = deleted
                .iter()
                .filter(|&&seq| seq as u64 > participant.last_read_seq)
                .count() as u64;
            assert_eq!(
                participant.unread_count,
                record.conversation.last_seq - participant.last_read_seq - above,
                "{} in {id}",
                participant.user
            );
        }
    }
    // By hand: bruno read the group with his own send (seq 5) and has one unread in the
    // direct conversation (ana's seq 4, after his own 3).
    let bruno = me("bruno");
    let stats = store.stats(&bruno).await.expect("stats");
    assert_eq!(
        (
            stats.total_conversations,
            stats.unread_conversations,
            stats.unread_messages
        ),
        (2, 1, 1)
    );
    let active = |user: Identity| {
        let store = &store;
        async move {
            store
                .inbox_page(
                    &user,
                    InboxQuery {
                        archive: ArchiveFilter::Active,
                        limit: 10,
                        ..InboxQuery::default()
                    },
                )
                .await
                .expect("inbox")
                .into_iter()
                .map(|record| *record.conversation.id.as_uuid())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(active(me("ana")).await, vec![group, direct], "activity order");
    assert_eq!(
        active(bruno.clone()).await,
        vec![group],
        "bruno archived the direct one"
    );

    // The store goes on from the migrated rows: a send brings the direct conversation out
    // of bruno's archive and counts one more unread; reading clears it.
    store
        .append_message(
            &me("ana"),
            NewMessage {
                conversation_id: ConversationId::from_uuid(direct),
                body: "after".into(),
                client_message_id: None,
                reply_to: None,
                attachments: Vec::new(),
                metadata: Default::default(),
                notify_after: None,
            },
        )
        .await
        .expect("send after migrating");
    assert_eq!(active(bruno.clone()).await, vec![direct, group]);
    let stats = store.stats(&bruno).await.expect("stats");
    assert_eq!((stats.unread_conversations, stats.unread_messages), (1, 2));
    store
        .mark_read(&bruno, ConversationId::from_uuid(direct), ReadUpTo::Newest)
        .await
        .expect("read");
    assert_eq!(store.stats(&bruno).await.expect("stats").unread_messages, 0);
}
