//! The memory engine: one `BTreeMap` behind a read-write lock. Nothing survives the
//! process; [`crate::testing::MemoryStore`] (the reference store) is the kernel over it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use super::engine::{Direction, EngineError, KvEngine, KvRead, KvScan, WriteBatch};

/// A keyspace in memory. A commit is atomic for readers (it takes the write lock) and
/// durable only as long as the process lives.
#[derive(Debug, Default)]
pub struct MemoryEngine {
    entries: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryEngine {
    /// An empty keyspace.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A read view of a [`MemoryEngine`]: holds the read lock, so no commit lands while it
/// lives.
#[derive(Debug)]
pub struct MemoryRead<'a> {
    entries: RwLockReadGuard<'a, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl KvRead for MemoryRead<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.entries.get(key).cloned())
    }

    fn scan<'a>(&'a self, start: &[u8], end: Option<&[u8]>, direction: Direction) -> KvScan<'a> {
        let upper = end.map_or(Bound::Unbounded, |end| Bound::Excluded(end.to_vec()));
        if end.is_some_and(|end| end <= start) {
            return Box::new(std::iter::empty());
        }
        let range = self
            .entries
            .range::<Vec<u8>, _>((Bound::Included(start.to_vec()), upper))
            .map(|(key, value)| Ok((key.clone(), value.clone())));
        match direction {
            Direction::Forward => Box::new(range),
            Direction::Backward => Box::new(range.rev()),
        }
    }
}

impl KvEngine for MemoryEngine {
    type Read<'a> = MemoryRead<'a>;

    fn read(&self) -> Result<MemoryRead<'_>, EngineError> {
        Ok(MemoryRead {
            entries: self.entries.read().unwrap_or_else(PoisonError::into_inner),
        })
    }

    fn commit(&self, batch: &WriteBatch) -> Result<(), EngineError> {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for (key, value) in batch {
            match value {
                Some(value) => entries.insert(key.clone(), value.clone()),
                None => entries.remove(key),
            };
        }
        Ok(())
    }
}
