//! [`RedbStoreBuilder`]: where the database lives, its table and cache, and opening it;
//! [`open`] and [`temporary`]: the shortcuts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chat_core::kernel::KvStore;
use redb::Database;

use crate::engine::{DEFAULT_TABLE, RedbEngine};
use crate::error::RedbStoreError;

/// The chat store over redb: the chat-core kernel ([`KvStore`]) over a [`RedbEngine`].
/// Open one with [`open`] or [`RedbStoreBuilder`].
pub type RedbStore = KvStore<RedbEngine>;

enum Location {
    Unset,
    Path(PathBuf),
    Database(Arc<Database>),
    Temporary,
}

/// Opens a [`RedbStore`]: over a database file ([`path`](Self::path)), over a database the
/// host already has open ([`database`](Self::database)) or over a temporary one
/// ([`temporary`](Self::temporary)).
///
/// ```no_run
/// # async fn demo() -> Result<(), chat_store_redb::RedbStoreError> {
/// use chat_store_redb::RedbStoreBuilder;
/// let store = RedbStoreBuilder::new()
///     .path("/var/lib/myapp/chat.redb")
///     .table("chat")
///     .cache_size(64 * 1024 * 1024)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
pub struct RedbStoreBuilder {
    location: Location,
    table: String,
    cache_size: Option<usize>,
}

impl std::fmt::Debug for RedbStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let location = match &self.location {
            Location::Unset => "unset".to_owned(),
            Location::Path(path) => path.display().to_string(),
            Location::Database(_) => "existing redb::Database".to_owned(),
            Location::Temporary => "temporary".to_owned(),
        };
        f.debug_struct("RedbStoreBuilder")
            .field("location", &location)
            .field("table", &self.table)
            .field("cache_size", &self.cache_size)
            .finish()
    }
}

impl Default for RedbStoreBuilder {
    fn default() -> Self {
        Self {
            location: Location::Unset,
            table: DEFAULT_TABLE.to_owned(),
            cache_size: None,
        }
    }
}

impl RedbStoreBuilder {
    /// A builder with nothing chosen yet (table [`DEFAULT_TABLE`], redb's default cache).
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the redb database in this file, or creates it (and any missing parent
    /// directories) if there is none. A new file's directory entry, and those of the
    /// directories created for it, are synced (on Unix) before the store is returned, so
    /// the database does not vanish in a crash after its first acknowledged write.
    ///
    /// redb locks the file: a second open of it, from this process or another, fails
    /// with [`redb::DatabaseError::DatabaseAlreadyOpen`] until the first store (every clone
    /// of it) is dropped.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.location = Location::Path(path.into());
        self
    }

    /// Uses a database the host already has open. The store keeps its keyspace in its own
    /// table ([`table`](Self::table)) and leaves the host's tables alone. redb runs one
    /// write transaction at a time per database, so the host's write transactions and the
    /// store's commits wait for each other. A host commit with `Durability::None` does not
    /// weaken the store's: the store's commits are `Immediate`, and redb makes everything
    /// committed before them durable with them.
    pub fn database(mut self, db: Arc<Database>) -> Self {
        self.location = Location::Database(db);
        self
    }

    /// A database in a new temporary directory, removed when the store is dropped. The
    /// database is a real redb file with the same guarantees as any other, for tests.
    pub fn temporary(mut self) -> Self {
        self.location = Location::Temporary;
        self
    }

    /// The name of the redb table holding the store's keyspace ([`DEFAULT_TABLE`] unless
    /// set), so that several stores or the host's own tables can share one database.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The size of redb's page cache in bytes (redb's default: 1 GiB, an upper bound rather
    /// than an allocation). Ignored with [`database`](Self::database).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = Some(bytes);
        self
    }

    /// Opens the store, doing redb's blocking file I/O (and a repair of a database that was
    /// not closed cleanly, which reads the whole file) on tokio's blocking pool.
    pub async fn open(self) -> Result<RedbStore, RedbStoreError> {
        tokio::task::spawn_blocking(move || self.open_blocking())
            .await
            .map_err(|error| RedbStoreError::Task(error.to_string()))?
    }

    /// Opens the store on the calling thread (for synchronous hosts, and `main` before a
    /// runtime exists): the engine ([`open_engine`](Self::open_engine)), then the kernel
    /// over it ([`KvStore::over`]), which checks the keyspace's layout version and writes
    /// it into an empty keyspace. Fails with [`RedbStoreError::Kernel`] when the table holds
    /// a keyspace of another layout.
    pub fn open_blocking(self) -> Result<RedbStore, RedbStoreError> {
        Ok(KvStore::over(self.open_engine()?)?)
    }

    /// Opens the engine alone, on the calling thread: the database and its table, without
    /// the kernel (for hosts and tests that work on the keyspace directly;
    /// `KvStore::over(engine)` makes the store of it).
    pub fn open_engine(self) -> Result<RedbEngine, RedbStoreError> {
        let redb_builder = || {
            let mut builder = redb::Builder::new();
            if let Some(bytes) = self.cache_size {
                builder.set_cache_size(bytes);
            }
            builder
        };
        match self.location {
            Location::Unset => Err(RedbStoreError::NoLocation),
            Location::Path(ref path) => {
                let db = create_file(path, &redb_builder())?;
                RedbEngine::new(Arc::new(db), self.table, None)
            }
            Location::Database(db) => RedbEngine::new(db, self.table, None),
            Location::Temporary => {
                let dir = tempfile::Builder::new()
                    .prefix("chat-store-redb-")
                    .tempdir()
                    .map_err(RedbStoreError::io("creating a temporary directory"))?;
                let db = redb_builder().create(dir.path().join("chat.redb"))?;
                RedbEngine::new(Arc::new(db), self.table, Some(dir))
            }
        }
    }
}

/// Opens or creates the database file `path`; for a new file, creates its missing parent
/// directories and syncs the directory entries that name them and it.
fn create_file(path: &Path, builder: &redb::Builder) -> Result<Database, RedbStoreError> {
    let exists = path
        .try_exists()
        .map_err(RedbStoreError::io("checking the database path"))?;
    if exists {
        return Ok(builder.create(path)?);
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // The directories about to be created, deepest first.
    let mut missing = Vec::new();
    let mut dir = parent;
    while !dir
        .try_exists()
        .map_err(RedbStoreError::io("checking the database directory"))?
    {
        missing.push(dir);
        match dir.parent() {
            Some(up) if !up.as_os_str().is_empty() => dir = up,
            _ => break,
        }
    }
    if !missing.is_empty() {
        std::fs::create_dir_all(parent).map_err(RedbStoreError::io("creating the database directory"))?;
    }
    let db = builder.create(path)?;
    // Shallowest first: each directory's entry in its parent, then the file's in `parent`.
    for created in missing.iter().rev() {
        if let Some(up) = created.parent() {
            sync_dir(up)?;
        }
    }
    sync_dir(parent)?;
    Ok(db)
}

/// Makes the entries of directory `dir` durable (Unix: fsync of the directory). Elsewhere
/// a no-op: Windows cannot open a directory as a file to sync it.
fn sync_dir(dir: &Path) -> Result<(), RedbStoreError> {
    if cfg!(unix) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(RedbStoreError::io("syncing the database directory"))?;
    }
    Ok(())
}

/// Opens (or creates) the database file at `path` with the defaults:
/// [`RedbStoreBuilder::path`] then [`RedbStoreBuilder::open`].
pub async fn open(path: impl Into<PathBuf>) -> Result<RedbStore, RedbStoreError> {
    RedbStoreBuilder::new().path(path).open().await
}

/// A store over a database in a new temporary directory, removed when the store is dropped
/// (for tests): [`RedbStoreBuilder::temporary`] then [`RedbStoreBuilder::open`].
pub async fn temporary() -> Result<RedbStore, RedbStoreError> {
    RedbStoreBuilder::new().temporary().open().await
}
