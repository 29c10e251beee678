//! [`SledEngine`]: the kernel's key-value engine over one sled tree.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use chat_core::kernel::{Direction, EngineError, KvEngine, KvRead, KvScan, WriteBatch};

use crate::durability::Durability;
use crate::error::SledStoreError;
use crate::layout;
use crate::log::{LogStats, WriteAheadLog};

/// The engine of a [`crate::SledStore`]: the kernel's keyspace in one sled tree
/// (`<prefix>/kv`), a batch applied with one `apply_batch`, and (durable) the batch in the
/// store's own write-ahead log and synced before sled is given it.
///
/// A view holds a read lock that applying a batch takes for writing, so a view sees every
/// batch whole or not at all (sled 0.34 has no snapshots) and, in a durable store, only
/// batches already in the synced log.
#[derive(Debug)]
pub struct SledEngine {
    db: sled::Db,
    tree: sled::Tree,
    apply: RwLock<()>,
    durability: Durability,
    log: Option<WriteAheadLog>,
    /// A Relaxed store over a bare `sled::Db`: its first batch marks any log in the
    /// directory it cannot see as stale (`recovery.rs`).
    stale_on_write: bool,
    stale_marked: AtomicBool,
}

impl SledEngine {
    pub(crate) fn new(
        db: sled::Db,
        tree: sled::Tree,
        durability: Durability,
        log: Option<WriteAheadLog>,
        stale_on_write: bool,
    ) -> Self {
        Self {
            db,
            tree,
            apply: RwLock::new(()),
            durability,
            log,
            stale_on_write,
            stale_marked: AtomicBool::new(false),
        }
    }

    /// The durability mode chosen when opening.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The underlying database (e.g. to check its size or export it).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Flushes every write so far to sled's files (a blocking call); returns the number of
    /// bytes written. Useful before shutting down in [`Durability::Relaxed`] mode.
    pub fn flush(&self) -> Result<usize, SledStoreError> {
        Ok(self.db.flush()?)
    }

    /// The write-ahead log's syncs and checkpoints (zero for a Relaxed or temporary store).
    pub fn log_stats(&self) -> LogStats {
        self.log.as_ref().map(WriteAheadLog::stats).unwrap_or_default()
    }
}

/// A read view of a [`SledEngine`]: no batch is applied while it lives.
pub struct SledRead<'a> {
    _applying: RwLockReadGuard<'a, ()>,
    tree: &'a sled::Tree,
}

impl std::fmt::Debug for SledRead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledRead").finish_non_exhaustive()
    }
}

impl KvRead for SledRead<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.tree.get(key)?.map(|value| value.to_vec()))
    }

    fn scan<'a>(&'a self, start: &[u8], end: Option<&[u8]>, direction: Direction) -> KvScan<'a> {
        if end.is_some_and(|end| end <= start) {
            return Box::new(std::iter::empty());
        }
        let range = match end {
            Some(end) => self.tree.range(start.to_vec()..end.to_vec()),
            None => self.tree.range(start.to_vec()..),
        };
        let entries = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            entry
                .map(|(key, value)| (key.to_vec(), value.to_vec()))
                .map_err(EngineError::from)
        };
        match direction {
            Direction::Forward => Box::new(range.map(entries)),
            Direction::Backward => Box::new(range.rev().map(entries)),
        }
    }
}

impl KvEngine for SledEngine {
    type Read<'a> = SledRead<'a>;

    fn read(&self) -> Result<SledRead<'_>, EngineError> {
        Ok(SledRead {
            _applying: self.apply.read().unwrap_or_else(PoisonError::into_inner),
            tree: &self.tree,
        })
    }

    /// Durable: the batch goes to the write-ahead log and is synced, then to sled with its
    /// record's number (in one `apply_batch`, so recovery knows what sled holds). Relaxed:
    /// straight to sled.
    fn commit(&self, batch: &WriteBatch) -> Result<(), EngineError> {
        let mut sled_batch = sled::Batch::default();
        for (key, value) in batch {
            match value {
                Some(value) => sled_batch.insert(key.as_slice(), value.as_slice()),
                None => sled_batch.remove(key.as_slice()),
            }
        }
        let mut marks_stale = false;
        if let Some(log) = &self.log {
            let commit = log.append(batch)?;
            sled_batch.insert(layout::LAST_COMMIT, &commit.to_be_bytes());
        } else if self.stale_on_write && !self.stale_marked.load(Ordering::Acquire) {
            sled_batch.insert(layout::LOG_STALE, &[]);
            marks_stale = true;
        }
        {
            let _applying = self.apply.write().unwrap_or_else(PoisonError::into_inner);
            self.tree.apply_batch(sled_batch)?;
        }
        if marks_stale {
            self.stale_marked.store(true, Ordering::Release);
        }
        if let Some(log) = &self.log {
            log.checkpoint_if_due();
        }
        Ok(())
    }
}
