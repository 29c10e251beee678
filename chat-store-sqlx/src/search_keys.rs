//! Rewrites `participants.title_lower` of existing rows when the search key of
//! [`chat_core::rules::title_search_key`] changes (issue 13: it folds accents now), from Rust,
//! since SQL cannot compute the same key. Run by [`crate::PgStore::migrate`] after the SQL
//! migrations, on their connection (its `search_path` is our schema).

use chat_core::rules;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::PgStoreError;

/// The version of [`rules::title_search_key`] that rows written by this code hold
/// (1: lowercase only; 2: lowercase, NFKD, combining marks removed).
pub(crate) const TITLE_KEY_VERSION: i32 = 2;

/// How many conversations one `UPDATE` rewrites.
const BATCH: usize = 1000;

/// Brings every row's title key to [`TITLE_KEY_VERSION`], once: the version row is locked
/// for the whole rewrite, so several nodes migrating at once do it one after the other and
/// the later ones find it done. Returns how many conversations were rewritten.
pub(crate) async fn upgrade(conn: &mut PgConnection) -> Result<u64, PgStoreError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let version: i32 = sqlx::query_scalar("SELECT version FROM search_key_version FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    if version >= TITLE_KEY_VERSION {
        tx.commit().await?;
        return Ok(0);
    }
    let titles: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, title FROM conversations WHERE title IS NOT NULL ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    let mut rewritten = 0;
    for batch in titles.chunks(BATCH) {
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        let keys: Vec<String> = batch.iter().map(|(_, title)| rules::title_search_key(title)).collect();
        let result = sqlx::query(
            "UPDATE participants p SET title_lower = v.key \
             FROM unnest($1::uuid[], $2::text[]) AS v(id, key) \
             WHERE p.conversation_id = v.id AND p.title_lower IS DISTINCT FROM v.key",
        )
        .bind(&ids)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        rewritten += result.rows_affected();
    }
    sqlx::query("UPDATE search_key_version SET version = $1")
        .bind(TITLE_KEY_VERSION)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rewritten)
}
