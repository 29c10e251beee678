//! Shared test support: the database URL (skip or fail when missing) and stores in fresh,
//! dropped-afterwards schemas.

use std::sync::Arc;
use std::time::Duration;

use chat_core::Store;
use chat_core::testing::TestStore;
use chat_store_sqlx::PgStore;
use sqlx::postgres::PgConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Executor};

/// `DATABASE_URL`, or `None` after a loud skip message. In CI (`CI` set) a missing database
/// is a failure, never a silent skip.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "DATABASE_URL is not set in CI: the Postgres tests must run"
            );
            // Straight to the process's stderr (libtest captures `eprintln!`), once per binary.
            static LOUD: std::sync::Once = std::sync::Once::new();
            LOUD.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n======================================================================\n\
                     SKIPPED: DATABASE_URL not set, Postgres tests did not run\n\
                     ======================================================================\n"
                );
            });
            None
        }
    }
}

/// A pool of `size` connections to `url`.
pub async fn pool(url: &str, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(60))
        .connect(url)
        .await
        .expect("connect to DATABASE_URL")
}

/// A schema of its own for one test, `chat_test_<uuid>`, dropped (with everything in it)
/// when this guard is dropped.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A fresh, not yet created, schema name.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: format!("chat_test_{}", uuid::Uuid::now_v7().simple()),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop may run inside or outside a runtime: do it on a thread with its own.
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::raw_sql(&sql).execute(&mut conn).await?;
                conn.close().await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}

/// A migrated store in a fresh schema, and the guard that drops the schema.
pub async fn migrated_store(url: &str, pool_size: u32) -> (PgStore, TestSchema) {
    migrated_store_on(url, pool(url, pool_size).await).await
}

/// [`migrated_store`] on a pool of the caller's making (connected to `url`).
pub async fn migrated_store_on(url: &str, pool: PgPool) -> (PgStore, TestSchema) {
    let schema = TestSchema::new(url);
    let store = PgStore::builder()
        .schema(schema.name())
        .run_migrations(true)
        .build(pool)
        .await
        .expect("migrated store");
    (store, schema)
}

/// What `conformance_tests!` takes: a store in a fresh schema, or `None` (skipped).
pub async fn conformance_store() -> Option<TestStore> {
    let url = database_url()?;
    let (store, schema) = migrated_store(&url, 8).await;
    Some(TestStore::guarded(Arc::new(store) as Arc<dyn Store>, schema))
}

/// A database of its own, dropped at the end, so the host's `public` is really the host's.
pub struct TempDatabase {
    admin_url: String,
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TempDatabase {
    /// Creates it.
    pub async fn create(url: &str) -> Self {
        let name = format!("chat_tmp_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(url).await.expect("admin connection");
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create database");
        admin.close().await.expect("close");
        let (base, _) = url.rsplit_once('/').expect("database url with a path");
        let url_of = |db: &str| format!("{base}/{db}");
        Self {
            admin_url: url.to_owned(),
            url: url_of(&name),
            name,
        }
    }

    /// Drops it, whoever is still connected.
    pub async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.expect("admin connection");
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await
            .expect("drop database");
        admin.close().await.expect("close");
    }
}
