//! Shared test support: a `SledStore` that owns the temporary directory it lives in.

use chat_core::testing::GuardedStore;
use chat_store_sled::{Durability, SledStore};
use tempfile::TempDir;

/// A store in a temporary directory that is removed when the store is dropped (after
/// sled has closed its files).
pub type DirStore = GuardedStore<SledStore, TempDir>;

/// A durable store in a fresh directory.
pub async fn open_durable() -> DirStore {
    open(Durability::Durable).await
}

/// A store with this durability in a fresh directory.
pub async fn open(durability: Durability) -> DirStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStore::builder()
        .path(dir.path())
        .durability(durability)
        .open()
        .await
        .expect("open the sled store");
    GuardedStore::new(store, dir)
}
