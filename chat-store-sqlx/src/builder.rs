//! [`PgStoreBuilder`]: a [`PgStore`] over a URL or the host's pool, and the migrations.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::{PgStoreError, is_unique_violation};
use crate::schema::SchemaName;
use crate::store::PgStore;

/// The embedded migrations (`chat-store-sqlx/migrations`), run by [`PgStore::migrate`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a connection of a pool made by [`PgStoreBuilder::connect`] may sit idle
/// before it is pinged on its way out of the pool.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(60);

/// Builds a [`PgStore`] over a URL or a pool the host already has.
///
/// ```no_run
/// # async fn demo() -> Result<(), chat_store_sqlx::PgStoreError> {
/// use chat_store_sqlx::PgStore;
///
/// let store = PgStore::builder()
///     .schema("chat")
///     .run_migrations(true)
///     .connect("postgres://postgres@127.0.0.1:5432/app")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PgStoreBuilder {
    schema: String,
    max_connections: u32,
    acquire_timeout: Duration,
    run_migrations: bool,
}

impl Default for PgStoreBuilder {
    fn default() -> Self {
        Self {
            schema: crate::schema::DEFAULT_SCHEMA.to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            run_migrations: false,
        }
    }
}

impl PgStoreBuilder {
    /// The schema our tables live in (default `chat`); `[a-z_][a-z0-9_]{0,62}`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Pool size when the builder connects from a URL (default 10). Ignored by
    /// [`PgStoreBuilder::build`], where the host's pool is used as it is.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// How long an operation waits for a free connection when the builder connects from a
    /// URL (default 30 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Runs [`PgStore::migrate`] before returning the store (default: no; hosts that run
    /// migrations as a separate step call it themselves).
    pub fn run_migrations(mut self, yes: bool) -> Self {
        self.run_migrations = yes;
        self
    }

    /// Connects a new pool to `url` and builds the store on it.
    ///
    /// The pool checks a connection with a ping only when it has been idle for
    /// [`PING_IDLE_AFTER`] (sqlx's default pings on every acquire, a second round trip on
    /// the caller's path for a send that is otherwise one statement); a connection that
    /// broke meanwhile fails that one operation with a backend error and is replaced.
    pub async fn connect(self, url: &str) -> Result<PgStore, PgStoreError> {
        let schema = SchemaName::new(self.schema.clone())?;
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        self.finish(pool, schema).await
    }

    /// Builds the store on the host's `pool`. The pool's connections are used as they are:
    /// every statement names our schema, so their `search_path` does not matter.
    pub async fn build(self, pool: PgPool) -> Result<PgStore, PgStoreError> {
        let schema = SchemaName::new(self.schema.clone())?;
        self.finish(pool, schema).await
    }

    async fn finish(self, pool: PgPool, schema: SchemaName) -> Result<PgStore, PgStoreError> {
        let store = PgStore::on(pool, schema);
        if self.run_migrations {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// Runs the embedded migrations into `schema` on a connection of `pool`.
///
/// The schema is created when missing; then the migrations run on a dedicated connection
/// whose `search_path` is that schema alone, so sqlx records them in `<schema>._sqlx_migrations`
/// and never touches a `_sqlx_migrations` table of the host (in `public` or elsewhere). Running
/// it again is a no-op; several nodes may run it at once (sqlx's migration lock serialises them).
/// After the SQL migrations, the SQL functions' current definitions (`functions/*.sql`) are
/// installed where they changed (`functions.rs`), and the search keys of existing rows are rewritten from Rust when
/// [`chat_core::rules::title_search_key`] changed (once; see `search_keys.rs`).
pub async fn migrate(pool: &PgPool, schema: &SchemaName) -> Result<(), PgStoreError> {
    // A connection of our own: its search_path is changed, so it never goes back to the pool.
    let mut conn = pool.acquire().await?.detach();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema.as_str())
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let create = format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted());
        match sqlx::query(&create).execute(&mut conn).await {
            Ok(_) => {}
            // Another node created it between our check and our CREATE.
            Err(error) if is_unique_violation(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let search_path = format!("SET search_path TO {}", schema.quoted());
    sqlx::query(&search_path).execute(&mut conn).await?;
    let result = match MIGRATOR.run_direct(&mut conn).await {
        Ok(()) => match crate::functions::install(&mut conn).await {
            Ok(()) => crate::search_keys::upgrade(&mut conn).await.map(|_| ()),
            Err(error) => Err(error),
        },
        Err(error) => Err(error.into()),
    };
    // Closing is best effort; the migration result is what matters.
    let _ = sqlx::Connection::close(conn).await;
    result
}

impl PgStore {
    /// A builder (schema `chat`, no migrations on build).
    pub fn builder() -> PgStoreBuilder {
        PgStoreBuilder::default()
    }

    /// Runs the embedded migrations into this store's schema (see [`migrate`]).
    pub async fn migrate(&self) -> Result<(), PgStoreError> {
        migrate(self.pool(), self.schema()).await
    }
}
