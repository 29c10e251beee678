//! The SQL functions' current definitions (`functions/*.sql`), installed by
//! [`crate::migrate`] after the migrations: each file is applied when its text differs
//! from the definition recorded in `function_definitions`, so a function changes in one
//! place and a restart with the same build changes nothing (plans cached by running nodes
//! stay valid).

use sqlx::postgres::PgConnection;

use crate::error::PgStoreError;

/// Each function's name and its definition (a script that drops and creates it).
const FUNCTIONS: &[(&str, &str)] = &[("append_message", include_str!("../functions/append_message.sql"))];

/// Installs every definition that is missing or changed, in one transaction under an
/// advisory lock of the schema (nodes starting together install it once). `conn`'s
/// `search_path` is the store's schema.
pub(crate) async fn install(conn: &mut PgConnection) -> Result<(), PgStoreError> {
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    let result = install_changed(conn).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = sqlx::query(end).execute(&mut *conn).await;
    result?;
    ended?;
    Ok(())
}

/// The body of [`install`], inside its transaction.
async fn install_changed(conn: &mut PgConnection) -> Result<(), PgStoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ' function definitions', 0))")
        .execute(&mut *conn)
        .await?;
    for (name, definition) in FUNCTIONS
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
    {
        let installed: Option<String> =
            sqlx::query_scalar("SELECT definition FROM function_definitions WHERE name = $1")
                .bind(&name)
                .fetch_optional(&mut *conn)
                .await?;
        if installed.as_ref() == Some(&definition) {
            continue;
        }
        // A script of several statements: the simple query protocol runs it as it is.
        sqlx::Executor::execute(&mut *conn, definition.as_str()).await?;
        sqlx::query(
            "INSERT INTO function_definitions (name, definition) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, installed_at = now()",
        )
        .bind(&name)
        .bind(&definition)
        .execute(&mut *conn)
        .await?;
        tracing::info!(function = %name, "chat-store-sqlx: installed the function's current definition");
    }
    Ok(())
}
