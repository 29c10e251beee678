//! The in-memory reference store: the storage kernel over a `BTreeMap`
//! ([`crate::kernel::MemoryEngine`]). The model-based test keeps its own independent model
//! as the oracle, so this store is checked like every other one.

/// The in-memory reference store (`MemoryStore::new()`): [`crate::kernel::KvStore`] over
/// [`crate::kernel::MemoryEngine`]. Nothing survives the process.
pub type MemoryStore = crate::kernel::KvStore<crate::kernel::MemoryEngine>;
