//! Shared test support: a `SledStore` that owns the temporary directory it lives in.

use std::sync::Arc;

use chat_core::testing::TestStore;
use chat_store_sled::{Durability, SledStore, SledStoreBuilder, SledStoreError};
use tempfile::TempDir;

/// A store in a temporary directory, removed after the store is dropped (once sled has
/// closed its files).
pub struct DirStore {
    /// The store.
    pub store: SledStore,
    /// Its directory.
    pub dir: TempDir,
}

impl From<DirStore> for TestStore {
    fn from(dir_store: DirStore) -> Self {
        TestStore::guarded(Arc::new(dir_store.store), dir_store.dir)
    }
}

/// A durable store in a fresh directory.
pub async fn open_durable() -> DirStore {
    open(Durability::Durable).await
}

/// A store with this durability in a fresh directory.
pub async fn open(durability: Durability) -> DirStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStoreBuilder::new()
        .path(dir.path())
        .durability(durability)
        .open()
        .await
        .expect("open the sled store");
    DirStore { store, dir }
}

/// True for sled's "the directory is locked" error: a store or `sled::Db` dropped just
/// before may still be releasing sled's file lock (on a blocking-pool thread, or in sled's
/// background flusher) for a moment. sled reports it as an I/O error without a kind of its
/// own (`Other`, or `WouldBlock` from the lock call).
pub fn is_lock_held(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::Other | std::io::ErrorKind::WouldBlock))
}

/// How long an open waits for a lock still held by what was dropped just before.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the store at `path` (durable, the defaults), waiting up to [`LOCK_WAIT`] for sled's
/// lock; any other error (a newer layout, a foreign database) is returned at once.
pub async fn open_store(path: &std::path::Path) -> Result<SledStore, SledStoreError> {
    open_store_with(|| SledStoreBuilder::new().path(path)).await
}

/// [`open_store`] with the builder `builder` makes.
pub async fn open_store_with(builder: impl Fn() -> SledStoreBuilder) -> Result<SledStore, SledStoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match builder().open().await {
            Err(SledStoreError::Sled(error)) if is_lock_held(&error) && std::time::Instant::now() < deadline => {
                eprintln!("open: sled's lock is still held, retrying: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Waits until sled's lock on `dir` is free (a store dropped just before may still hold it
/// for a moment).
pub async fn wait_for_lock(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::open(dir) {
            Ok(_) => return,
            Err(error) if is_lock_held(&error) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(error) => panic!("sled: {error}"),
        }
    }
}
