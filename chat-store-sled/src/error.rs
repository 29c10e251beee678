//! Errors of the sled store.

use chat_core::ChatError;

/// What went wrong inside [`crate::SledStore`]. Every variant reaches callers of the
/// [`chat_core::Store`] trait as [`ChatError::Backend`] (through the `From` impl), so a web
/// layer answers 500 without leaking it; opening a store returns it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SledStoreError {
    /// sled itself failed (I/O, or its own corruption checks).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded: the database is corrupt or was written by
    /// something else.
    #[error("corrupt {what} in the chat store: {detail}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A record could not be encoded (should not happen for valid records).
    #[error("could not encode a {what}: {source}")]
    Encode {
        /// Which kind of record.
        what: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// The database holds data under this store's tree names but no (or someone else's)
    /// format marker: it was not written by chat-store-sled.
    #[error("not a chat-store-sled database: {detail}")]
    Foreign {
        /// What was found.
        detail: String,
    },
    /// The database was written in a layout this build does not read (written by a newer
    /// version, or by an older one that needs a migration).
    #[error("chat-store-sled format version {found} is not supported by this build, which reads version {supported}")]
    UnsupportedVersion {
        /// The version found in the database.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The builder was given neither a path nor a database.
    #[error("the store builder needs a path, a sled::Db or temporary()")]
    NoLocation,
    /// sled panicked while opening the database (it does so on some kinds of corruption);
    /// the panic was caught.
    #[error("sled failed while opening the database (corrupt files?): {0}")]
    OpenPanicked(String),
    /// Flushing to disk failed: the write may not be durable, and sled refuses further
    /// writes.
    #[error("flushing the chat store to disk failed: {0}")]
    Flush(String),
    /// Syncing sled's files failed (when opening a durable store).
    #[error("syncing the chat store's files failed: {0}")]
    Sync(String),
    /// A durable store was asked to use a `sled::Db` without its directory, so it could not
    /// sync the database's files (see [`crate::SledStoreBuilder::db_at`]).
    #[error("a durable store over an existing sled::Db needs its directory: use SledStoreBuilder::db_at")]
    UnknownDirectory,
    /// Applying a batch of the write-ahead log again, when opening the store, failed.
    #[error("applying the write-ahead log failed: {0}")]
    Replay(String),
    /// The storage kernel refused the keyspace (a layout it does not know) or failed.
    #[error(transparent)]
    Kernel(#[from] chat_core::kernel::KernelError),
    /// A blocking task running sled failed to complete (it panicked or was cancelled).
    #[error("a blocking sled task failed: {0}")]
    Task(String),
}

impl From<SledStoreError> for ChatError {
    fn from(error: SledStoreError) -> Self {
        ChatError::backend(error)
    }
}

impl SledStoreError {
    /// A [`SledStoreError::Corrupt`] for `what`.
    pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}
