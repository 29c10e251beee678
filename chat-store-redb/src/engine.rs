//! [`RedbEngine`]: the kernel's [`KvEngine`] over one redb table.

use std::ops::Bound;
use std::sync::Arc;

use chat_core::kernel::{Direction, EngineError, KvEngine, KvRead, KvScan, WriteBatch};
use redb::{
    AccessGuard, Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, StorageError, TableDefinition,
    TableError,
};
use tempfile::TempDir;

use crate::error::RedbStoreError;

/// The table the store keeps its keyspace in unless [`crate::RedbStoreBuilder::table`] says
/// otherwise.
pub const DEFAULT_TABLE: &str = "chat";

/// The key and value type of the store's table: raw bytes, ordered lexicographically
/// (redb's `Key for &[u8]` compares with `<[u8]>::cmp`), as the kernel's keys expect.
type Bytes = &'static [u8];

/// One entry as redb's range iterator yields it.
type RawEntry<'a> = Result<(AccessGuard<'a, Bytes>, AccessGuard<'a, Bytes>), StorageError>;

/// The kernel's keyspace in one table of a redb database.
///
/// - A [`read`](KvEngine::read) is a redb read transaction: a snapshot of the last
///   committed write transaction, unaffected by commits made while it lives.
/// - A [`commit`](KvEngine::commit) is one redb write transaction, committed with
///   [`Durability::Immediate`]: redb syncs the file before the commit returns and publishes
///   the commit to new read transactions only after that sync, so no read ever sees a batch
///   that is not durable. After a crash, a batch is there entirely or not at all.
///
/// The engine writes only its own table, so a host may keep its own tables in the same
/// database ([`crate::RedbStoreBuilder::database`]).
#[derive(Debug)]
pub struct RedbEngine {
    /// Declared before `temporary`: the database closes before its directory is removed.
    db: Arc<Database>,
    table: String,
    /// The directory of a temporary database, removed when the engine is dropped.
    temporary: Option<TempDir>,
}

impl RedbEngine {
    /// The engine over table `table` of `db`, creating the table (in its own durable write
    /// transaction) if the database does not have it yet, so that reads never meet a
    /// missing table. Blocks on redb's I/O.
    ///
    /// Fails with [`RedbStoreError::Table`] when a table of that name exists with other key
    /// or value types than `&[u8]`.
    pub(crate) fn new(db: Arc<Database>, table: String, temporary: Option<TempDir>) -> Result<Self, RedbStoreError> {
        let engine = Self { db, table, temporary };
        engine.create_table()?;
        Ok(engine)
    }

    /// Creates the table unless it exists; checks its types if it does.
    fn create_table(&self) -> Result<(), RedbStoreError> {
        match self.db.begin_read()?.open_table(self.definition()) {
            Ok(_) => return Ok(()),
            Err(TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(error.into()),
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        // `open_table` of a write transaction creates the table; the table handle must be
        // dropped before the commit.
        drop(txn.open_table(self.definition())?);
        txn.commit()?;
        Ok(())
    }

    /// The definition of the store's table: `&[u8]` keys and values.
    fn definition(&self) -> TableDefinition<'_, Bytes, Bytes> {
        TableDefinition::new(&self.table)
    }

    /// The redb database, shared with whoever else holds it. A host may use its own tables
    /// in it; the store's table ([`table`](Self::table)) must only be written through the
    /// store, or the store's invariants are lost.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// The name of the table holding the store's keyspace.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The directory of a temporary database (removed when the engine is dropped), `None`
    /// for a database the host placed.
    pub fn temporary_dir(&self) -> Option<&std::path::Path> {
        self.temporary.as_ref().map(TempDir::path)
    }
}

/// A read view of a [`RedbEngine`]: one redb read transaction's snapshot of the store's
/// table. Commits made while it lives are not seen; the snapshot's pages stay valid until
/// it is dropped (a long-lived view keeps redb from reusing them).
pub struct RedbRead {
    /// The table opened in the read transaction (the table keeps the transaction alive);
    /// `None` when the snapshot has no such table (deleted by someone else), which reads as
    /// an empty keyspace.
    table: Option<ReadOnlyTable<Bytes, Bytes>>,
}

impl std::fmt::Debug for RedbRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbRead")
            .field("table_exists", &self.table.is_some())
            .finish()
    }
}

/// Copies an entry out of redb's pages.
fn owned(entry: RawEntry<'_>) -> Result<(Vec<u8>, Vec<u8>), EngineError> {
    let (key, value) = entry?;
    Ok((key.value().to_vec(), value.value().to_vec()))
}

impl KvRead for RedbRead {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        let Some(table) = &self.table else {
            return Ok(None);
        };
        Ok(table.get(key)?.map(|value| value.value().to_vec()))
    }

    fn scan<'a>(&'a self, start: &[u8], end: Option<&[u8]>, direction: Direction) -> KvScan<'a> {
        if end.is_some_and(|end| end <= start) {
            return Box::new(std::iter::empty());
        }
        let Some(table) = &self.table else {
            return Box::new(std::iter::empty());
        };
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        let range = match table.range((Bound::Included(start), upper)) {
            Ok(range) => range,
            Err(error) => return Box::new(std::iter::once(Err(error.into()))),
        };
        match direction {
            Direction::Forward => Box::new(range.map(owned)),
            Direction::Backward => Box::new(range.rev().map(owned)),
        }
    }
}

impl KvEngine for RedbEngine {
    type Read<'a> = RedbRead;

    fn read(&self) -> Result<RedbRead, EngineError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(self.definition()) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(error.into()),
        };
        Ok(RedbRead { table })
    }

    fn commit(&self, batch: &WriteBatch) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        // redb's default, stated so that it stays so: the commit returns after the sync.
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(self.definition())?;
            for (key, value) in batch {
                match value {
                    Some(value) => drop(table.insert(key.as_slice(), value.as_slice())?),
                    None => drop(table.remove(key.as_slice())?),
                }
            }
        }
        // On an error above, dropping `txn` aborts it: nothing of the batch is written.
        txn.commit()?;
        Ok(())
    }
}
