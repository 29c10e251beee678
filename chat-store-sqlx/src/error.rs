//! The crate's error type and its mapping into [`chat_core::ChatError`].

use chat_core::ChatError;

/// What can go wrong in the Postgres store and event bus.
///
/// Every variant converts into [`ChatError::Backend`] (via `From`), so store methods can use
/// `?` on sqlx calls; the source is kept for logs and never shown to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgStoreError {
    /// The configured schema name is not a plain lower-case identifier.
    #[error("invalid schema name {name:?}: use 1 to 63 characters of [a-z0-9_], not starting with a digit")]
    InvalidSchema {
        /// The rejected name.
        name: String,
    },
    /// The configured NOTIFY channel name is not a plain lower-case identifier.
    #[error("invalid channel name {name:?}: use 1 to 63 characters of [a-z0-9_], not starting with a digit")]
    InvalidChannel {
        /// The rejected name.
        name: String,
    },
    /// A query failed or the connection broke.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the embedded migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Encoding or decoding an event or a JSON column failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A row holds a value the store never writes (a negative seq, an unknown kind, …).
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
}

impl From<PgStoreError> for ChatError {
    fn from(error: PgStoreError) -> Self {
        ChatError::backend(error)
    }
}

/// Converts a sqlx error straight into a [`ChatError::Backend`].
pub(crate) fn db(error: sqlx::Error) -> ChatError {
    PgStoreError::Database(error).into()
}

/// True when `error` is a unique violation reported by the database (matched by SQLSTATE
/// class through sqlx, never by message text).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database_error| database_error.is_unique_violation())
}

/// True when the `append_message` function refused the quoted message (SQLSTATE CH422, see
/// the migration `message_features`): answered as [`chat_core::rules::reply_refused`].
pub(crate) fn is_reply_refused(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database_error| database_error.code())
        .is_some_and(|code| code == "CH422")
}

/// True when the `append_message` function refused a blocked sender (SQLSTATE CH403, see
/// the migration `send_checks_blocks_inline`): answered as [`chat_core::rules::blocked_send`].
pub(crate) fn is_send_blocked(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database_error| database_error.code())
        .is_some_and(|code| code == "CH403")
}

/// The store's answer to a failed `append_message` call.
pub(crate) fn append_error(error: sqlx::Error) -> chat_core::ChatError {
    if is_reply_refused(&error) {
        chat_core::rules::reply_refused()
    } else if is_send_blocked(&error) {
        chat_core::rules::blocked_send()
    } else {
        db(error)
    }
}

/// True when the database refused a statement with SQLSTATE 25000 (invalid_transaction_state),
/// as the `append_message` function does outside READ COMMITTED.
pub(crate) fn is_invalid_transaction_state(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database_error| database_error.code())
        .is_some_and(|code| code == "25000")
}
