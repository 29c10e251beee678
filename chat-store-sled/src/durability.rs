//! [`Durability`]: when a write is acknowledged.

/// When a write is acknowledged, relative to reaching the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every write operation returns only after its writes are in the store's
    /// write-ahead log and the log is `fdatasync`ed: an acknowledged write survives a crash
    /// of the process, of the kernel or a power cut, as far as the drive honours the sync
    /// (see the crate docs for what is and is not covered). Concurrent writers share one
    /// log write and one sync (group commit). The default.
    #[default]
    Durable,
    /// Operations return once their transaction commits in memory; sled writes it out in
    /// the background (every `flush_every_ms`, 500 ms by default) and when the store is
    /// dropped or [`crate::SledEngine::flush`] is called. A crash loses the last moments of
    /// acknowledged writes (whole transactions, never half of one). For tests and for
    /// caches that can be rebuilt. Opened over a directory, it first applies a durable
    /// store's write-ahead log left there (and syncs sled once).
    Relaxed,
}
