//! Errors of opening a redb store.

use chat_core::ChatError;

/// What went wrong opening a [`crate::RedbStore`] (or a [`crate::RedbEngine`]). Each redb
/// error is kept as is, as the source, so a host can match on it (say
/// [`redb::DatabaseError::DatabaseAlreadyOpen`]). Once the store is open, an engine failure
/// reaches callers of the [`chat_core::Store`] trait as [`ChatError::Backend`], with the redb
/// error inside; this type converts the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedbStoreError {
    /// redb could not open or create the database file (it is locked by another handle or
    /// process, corrupt, in an old format, or the file could not be read).
    #[error("redb could not open the database: {0}")]
    Database(#[from] redb::DatabaseError),
    /// redb could not begin a transaction.
    #[error("redb could not begin a transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// The store's table could not be opened or created: most often, a table of that name
    /// already exists with other key or value types (it belongs to someone else).
    #[error("redb could not open the store's table: {0}")]
    Table(#[from] redb::TableError),
    /// redb's storage layer failed (I/O, or its own corruption checks).
    #[error("redb storage: {0}")]
    Storage(#[from] redb::StorageError),
    /// Committing the transaction that creates the store's table failed.
    #[error("redb could not commit: {0}")]
    Commit(#[from] redb::CommitError),
    /// redb refused the durability the store asks for.
    #[error("redb refused the durability level: {0}")]
    Durability(#[from] redb::SetDurabilityError),
    /// The kernel refused the keyspace (written in another layout, or corrupt), or the
    /// engine failed while the kernel checked it.
    #[error("the chat store kernel could not open the keyspace: {0}")]
    Kernel(#[from] chat_core::kernel::KernelError),
    /// A file system operation of ours failed: creating the database's directory, syncing
    /// the directory that holds a new database file, or making a temporary directory.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The builder was given neither a path, a database nor `temporary()`.
    #[error("the redb store builder needs a path, a database or temporary()")]
    NoLocation,
    /// The blocking task opening the database failed to complete (it panicked or was
    /// cancelled).
    #[error("the blocking task opening the redb database failed: {0}")]
    Task(String),
}

impl RedbStoreError {
    /// An [`RedbStoreError::Io`] for `what`.
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}

impl From<RedbStoreError> for ChatError {
    fn from(error: RedbStoreError) -> Self {
        ChatError::backend(error)
    }
}
