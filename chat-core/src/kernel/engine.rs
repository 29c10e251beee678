//! What an engine adapter implements: a consistent read view of its committed state and an
//! atomic, durable commit of a batch of writes. Everything else (transactions, group
//! commit, every store operation) is the kernel's.

use std::collections::BTreeMap;

/// An engine's own failure (I/O, corruption); the kernel reports it as
/// [`crate::ChatError::Backend`].
pub type EngineError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// The entries of a range scan, in the order asked for.
pub type KvScan<'a> = Box<dyn Iterator<Item = Result<KvPair, EngineError>> + 'a>;

/// The order of a range scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Backward,
}

/// A read view of one keyspace: every read through one view sees the same committed state
/// (a snapshot, or a lock that keeps commits out while the view lives).
pub trait KvRead {
    /// The value of `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;

    /// The entries with `start <= key < end` (`end` `None`: no upper bound), ascending or
    /// descending.
    fn scan<'a>(&'a self, start: &[u8], end: Option<&[u8]>, direction: Direction) -> KvScan<'a>;
}

/// The writes of one commit, by key: `None` removes the key.
pub type WriteBatch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An ordered key-value engine under the kernel ([`super::KvStore`]).
///
/// The kernel runs one writing transaction at a time and hands the engine the writes of
/// one or several transactions (a group) as one batch, so an engine needs no transactions
/// of its own beyond an atomic batch. Calls block: the kernel makes them on tokio's
/// blocking pool.
pub trait KvEngine: Send + Sync + 'static {
    /// A read view ([`KvRead`]).
    type Read<'a>: KvRead
    where
        Self: 'a;

    /// A view of what is committed now. It must never show a batch before
    /// [`KvEngine::commit`] of that batch has made it durable (invariant 20): the kernel
    /// serves every read-only operation from such a view.
    fn read(&self) -> Result<Self::Read<'_>, EngineError>;

    /// Applies every write of `batch` atomically (after a crash, all of it or none of it is
    /// there) and returns once it is durable, as far as this engine promises durability; a
    /// view made after the return sees it. An error means the batch may or may not be
    /// there: the kernel stops acknowledging writes.
    fn commit(&self, batch: &WriteBatch) -> Result<(), EngineError>;
}
