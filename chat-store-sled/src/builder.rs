//! [`SledStoreBuilder`]: where the database lives, its durability and tree prefix, and
//! opening it (the format check and the recovery of a killed process's leftovers).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Duration;

use chat_core::kernel::KvStore;

use crate::durability::Durability;
use crate::engine::SledEngine;
use crate::error::SledStoreError;
use crate::layout;
use crate::log::{DEFAULT_CHECKPOINT_BYTES, WriteAheadLog};
use crate::recovery;

/// The tree name prefix used unless [`SledStoreBuilder::tree_prefix`] says otherwise.
pub const DEFAULT_TREE_PREFIX: &str = "chat";

enum Location {
    Unset,
    Path(PathBuf),
    Db(sled::Db, Option<PathBuf>),
    Temporary,
}

/// Opens a [`SledStore`](crate::SledStore): over a directory ([`path`](Self::path)), over a `sled::Db` the
/// host already uses ([`db`](Self::db)) or over a temporary database
/// ([`temporary`](Self::temporary)).
///
/// ```no_run
/// # async fn demo() -> Result<(), chat_store_sled::SledStoreError> {
/// use chat_store_sled::{Durability, SledStoreBuilder};
/// let store = SledStoreBuilder::new()
///     .path("/var/lib/myapp/chat")
///     .durability(Durability::Durable)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
pub struct SledStoreBuilder {
    location: Location,
    durability: Durability,
    tree_prefix: String,
    cache_capacity: Option<u64>,
    flush_every: Option<Option<Duration>>,
    checkpoint_bytes: u64,
}

impl std::fmt::Debug for SledStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let location = match &self.location {
            Location::Unset => "unset".to_owned(),
            Location::Path(path) => path.display().to_string(),
            Location::Db(_, None) => "existing sled::Db".to_owned(),
            Location::Db(_, Some(dir)) => format!("existing sled::Db in {}", dir.display()),
            Location::Temporary => "temporary".to_owned(),
        };
        f.debug_struct("SledStoreBuilder")
            .field("location", &location)
            .field("durability", &self.durability)
            .field("tree_prefix", &self.tree_prefix)
            .finish_non_exhaustive()
    }
}

impl Default for SledStoreBuilder {
    fn default() -> Self {
        Self {
            location: Location::Unset,
            durability: Durability::Durable,
            tree_prefix: DEFAULT_TREE_PREFIX.to_owned(),
            cache_capacity: None,
            flush_every: None,
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
        }
    }
}

impl SledStoreBuilder {
    /// A builder with nothing chosen yet (durable, trees named `chat/…`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens (or creates) the sled database in this directory.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.location = Location::Path(path.into());
        self
    }

    /// Uses a database the host has already opened. The store keeps its data in its own
    /// trees (named `<tree_prefix>/…`) and leaves the host's trees alone.
    ///
    /// sled does not tell where a `Db` lives, so a [`Durability::Durable`] store would have
    /// nowhere to keep its write-ahead log: opening fails with
    /// [`SledStoreError::UnknownDirectory`]. Use [`db_at`](Self::db_at) instead, or
    /// [`Durability::Relaxed`]. A Relaxed store opened this way cannot apply a log a
    /// durable store left in the directory; its first write marks that log stale, and the
    /// next store over the directory deletes it unread, with any acknowledged writes sled
    /// had lost (open such a directory with [`path`](Self::path) or
    /// [`db_at`](Self::db_at) after a crash).
    pub fn db(mut self, db: sled::Db) -> Self {
        self.location = Location::Db(db, None);
        self
    }

    /// Uses a database the host has already opened in the directory `dir` (the path it
    /// gave sled), where the store keeps its write-ahead log (`chat-wal.*`, see the crate
    /// docs) and whose data file a checkpoint syncs. The store keeps its data in its own
    /// trees, as with [`db`](Self::db); the host's own trees are not logged.
    pub fn db_at(mut self, db: sled::Db, dir: impl Into<PathBuf>) -> Self {
        self.location = Location::Db(db, Some(dir.into()));
        self
    }

    /// A database in a temporary directory, deleted when the store is dropped. sled skips
    /// syncing temporary databases, so this is for tests only.
    pub fn temporary(mut self) -> Self {
        self.location = Location::Temporary;
        self
    }

    /// When writes are acknowledged; [`Durability::Durable`] unless changed.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The prefix of the store's tree names (default `"chat"`), so that several stores or
    /// the host's own trees can share one database.
    pub fn tree_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tree_prefix = prefix.into();
        self
    }

    /// sled's page cache size in bytes (sled's default: 1 GiB). Ignored with [`db`](Self::db).
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = Some(bytes);
        self
    }

    /// How often sled flushes in the background (sled's default: 500 ms; `None`: never).
    /// This bounds what [`Durability::Relaxed`] may lose. Ignored with [`db`](Self::db).
    pub fn flush_every(mut self, every: Option<Duration>) -> Self {
        self.flush_every = Some(every);
        self
    }

    /// The size a durable store's write-ahead log file grows to before a checkpoint
    /// (sled flushed and synced, older log files deleted) starts a new one:
    /// [`DEFAULT_CHECKPOINT_BYTES`] (64 MiB) unless set. Smaller means less to apply again
    /// when opening after a crash, and more frequent checkpoints (each a flush and sync of
    /// sled, which holds back writes while it runs).
    pub fn checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_bytes = bytes;
        self
    }

    /// Opens the store on tokio's blocking pool (sled's recovery reads the log).
    pub async fn open(self) -> Result<KvStore<SledEngine>, SledStoreError> {
        tokio::task::spawn_blocking(move || self.open_blocking())
            .await
            .map_err(|error| SledStoreError::Task(error.to_string()))?
    }

    /// Opens the store on the calling thread (for synchronous hosts and `main` before a
    /// runtime exists).
    ///
    /// A database of layout version 1 (a tree per record kind) is moved into the
    /// kernel's keyspace once. Fails with [`SledStoreError::Foreign`] when the database
    /// holds data under the store's tree names without the store's format marker, with
    /// [`SledStoreError::UnsupportedVersion`] when it was written in an unknown layout, and
    /// with [`SledStoreError::Sled`] or [`SledStoreError::OpenPanicked`] when sled cannot
    /// read its files.
    pub fn open_blocking(self) -> Result<KvStore<SledEngine>, SledStoreError> {
        Ok(KvStore::over(self.open_engine()?)?)
    }

    /// Opens the engine alone, on the calling thread (what [`open_blocking`](Self::open_blocking)
    /// puts the kernel over; for tests that wrap the engine).
    pub fn open_engine(self) -> Result<SledEngine, SledStoreError> {
        let mut config = sled::Config::new();
        if let Some(bytes) = self.cache_capacity {
            config = config.cache_capacity(bytes);
        }
        if let Some(every) = self.flush_every {
            config = config.flush_every_ms(every.map(|every| u64::try_from(every.as_millis()).unwrap_or(u64::MAX)));
        }
        let bare_db = matches!(self.location, Location::Db(_, None));
        let (db, dir) = match self.location {
            Location::Unset => return Err(SledStoreError::NoLocation),
            Location::Db(_, None) if self.durability == Durability::Durable => {
                return Err(SledStoreError::UnknownDirectory);
            }
            Location::Db(db, dir) => (db, dir),
            Location::Path(path) => {
                remove_unfinished_snapshots(&path)?;
                (open_caught(config.path(&path))?, Some(path))
            }
            Location::Temporary => (open_caught(config.temporary(true))?, None),
        };
        let tree = layout::open_tree(&db, &self.tree_prefix)?;
        // Over a directory, recovery runs whatever the durability: a durable store's log
        // may be waiting there. A Relaxed store then writes without a log.
        let recovered = match &dir {
            Some(dir) => Some(recovery::recover(&db, &tree, dir, &self.tree_prefix)?),
            None => None,
        };
        let log = match (recovered, dir) {
            (Some(recovered), Some(dir)) if self.durability == Durability::Durable => Some(WriteAheadLog::start(
                recovered.log_start(&db, dir, &self.tree_prefix, self.checkpoint_bytes),
            )?),
            _ => None,
        };
        Ok(SledEngine::new(db, tree, self.durability, log, bare_db))
    }
}

/// Removes the snapshot files sled was still writing when its process died
/// (`snap.<lsn>.generating`). sled 0.34 writes a snapshot to such a file, syncs it and
/// renames it to `snap.<lsn>`, but when opening it reads the newest file starting with
/// `snap.`, unfinished ones included, and refuses a torn one as `Corruption` (sled issues
/// #1527, #1533): a kill while a snapshot is written (sled writes one while it opens) made
/// the database unopenable. An unfinished snapshot is never needed: the previous one and the
/// log still hold everything, and sled rebuilds the snapshot from them.
fn remove_unfinished_snapshots(dir: &std::path::Path) -> Result<(), SledStoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(sled::Error::from(error).into()),
    };
    for entry in entries {
        let entry = entry.map_err(sled::Error::from)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %name, "removing a snapshot file sled did not finish writing");
            std::fs::remove_file(entry.path()).map_err(sled::Error::from)?;
        }
    }
    Ok(())
}

/// Opens a sled database, turning a panic inside sled (some corrupt files cause one) into
/// an error.
fn open_caught(config: sled::Config) -> Result<sled::Db, SledStoreError> {
    match catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(result) => Ok(result?),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(SledStoreError::OpenPanicked(message))
        }
    }
}
