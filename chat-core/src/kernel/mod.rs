//! The storage kernel (feature `kernel`): every [`Store`](crate::Store) operation written
//! once, over an ordered key-value engine.
//!
//! An engine adapter implements [`KvEngine`]: a consistent read view and an atomic, durable
//! commit of a batch of writes. [`KvStore`] does the rest: the steps around each rule of
//! [`crate::rules`] (the send order: membership, block, retry key, reply, attachments; the
//! preview after a delete; the counts), the key encoding, the index upkeep, transactions
//! and group commit. Engines: [`MemoryEngine`] here (the reference store of the `testing`
//! feature is `KvStore<MemoryEngine>`), redb in `chat-store-redb`.
//!
//! ## Transactions and durability
//!
//! - One writing transaction runs at a time, so each is serializable and never retried;
//!   it reads the engine's committed state with the writes not yet committed laid over it.
//! - **Group commit.** Writes of consecutive transactions gather into one batch; the
//!   first writer to wait commits the batch (one engine commit, so one sync on a durable
//!   engine) while the next batch gathers. Each writer is acknowledged after the commit
//!   holding its writes ([`KvStore::commit_stats`] counts writes and commits).
//! - **Reads never see a write that is not durable** (invariant 20): read-only operations
//!   read only the engine's committed state, which an engine may show a batch in only once
//!   its commit made it durable. A writing operation that changed nothing (a repeated
//!   `client_message_id`) still waits for the writes it read.
//! - A failed commit stops every later write (its group may have been built on the lost
//!   one) until the store is opened again; reads go on.
//!
//! ## Layout
//!
//! One keyspace; the first byte of a key names the record kind:
//!
//! | kind | key | value |
//! |---|---|---|
//! | 0 meta | `f` | layout version (u32) |
//! | 1 conversation | id (16) | the conversation *and its participants* (JSON) |
//! | 2 inbox | `tenant \0 user \0 archived` + !last_activity (8) + !id (16) | unread (8) + tag match key |
//! | 3 message | conversation (16) + seq (8) | the message (JSON) |
//! | 4 message id | conversation (16) + message id (16) | seq |
//! | 5 retry key | conversation (16) + `sender \0 client_message_id` | seq |
//! | 6 direct | `tenant \0 low \0 high \0` + (0, or 1 + tag match key) | conversation id |
//! | 7 user stats | `tenant \0 user` | conversations, unread conversations, unread messages |
//! | 8 group member | `tenant \0 user \0` + id (16) | nothing (search) |
//! | 9 attachment | id (16) | the attachment (JSON) |
//! | 10 sweep | id (16) | nothing: every attachment not sent, oldest first |
//! | 11 notification due | due (8) + conversation (16) + user | nothing |
//! | 12 block | `tenant \0 blocker \0 blocked` | the block (JSON) |
//! | 13 report | `tenant \0 reporter \0` + message id (16) | the report (JSON) |
//!
//! Host ids cannot contain control characters, so NUL separates them unambiguously. `!` is
//! bitwise inversion: ascending inbox keys are the inbox order.
//!
//! ## Cost
//!
//! - **send**: O(participants): the message, its id and retry-key rows, and per
//!   participant its inbox entry moved and its counters updated.
//! - **inbox page**: a range read of the user's own index from the cursor, one read per
//!   row; the tag and unread-only filters skip entries by their value.
//! - **history page**: seqs are dense, so the page is an exact key range.
//! - **stats**, **find-or-create**: one key. **mark read** below the newest: one range read
//!   above the new watermark. **delete** of the newest: one backward range read to the
//!   newest visible message.
//! - **search**: the caller's group memberships and, per matched user, that pair's direct
//!   conversations; never the whole inbox.

mod attachments;
mod commit;
mod engine;
mod erase;
mod error;
mod keys;
mod memory;
mod moderation;
mod notifications;
mod reads;
mod records;
mod store_impl;
mod tx;
mod writes;

use std::sync::Arc;

pub use commit::CommitStats;
pub use engine::{Direction, EngineError, KvEngine, KvPair, KvRead, KvScan, WriteBatch};
pub use error::KernelError;
pub use memory::{MemoryEngine, MemoryRead};

use crate::error::ChatResult;
use commit::GroupCommit;
use tx::Tx;

struct Inner<E> {
    engine: E,
    commit: GroupCommit,
}

/// The [`Store`](crate::Store) of the kernel over engine `E`: every operation one
/// transaction, run on tokio's blocking pool, acknowledged once durable (see the
/// [module docs](self)).
///
/// Cheap to clone (an `Arc` inside); clones share the engine and its transactions. Open
/// one `KvStore` per keyspace: two over the same keyspace would not serialize with each
/// other.
pub struct KvStore<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for KvStore<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> std::fmt::Debug for KvStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore")
            .field("engine", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

impl<E: KvEngine> KvStore<E> {
    /// The store over `engine`: checks the keyspace's layout version, writing it into an
    /// empty keyspace (a blocking call: engines block). [`KernelError::Layout`] for a
    /// keyspace of another layout.
    pub fn over(engine: E) -> Result<Self, KernelError> {
        let store = Self::unchecked(engine);
        let found = {
            let view = store.inner.engine.read().map_err(KernelError::Engine)?;
            view.get(keys::FORMAT).map_err(KernelError::Engine)?
        };
        match found {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| KernelError::corrupt("layout version", format!("{} bytes", bytes.len())))?;
                if found != keys::FORMAT_VERSION {
                    return Err(KernelError::Layout {
                        found,
                        supported: keys::FORMAT_VERSION,
                    });
                }
            }
            None => {
                // A transaction like any other, so the engine's commits are the kernel's groups.
                let version = keys::FORMAT_VERSION.to_be_bytes().to_vec();
                store
                    .inner
                    .commit
                    .write(&store.inner.engine, |tx| {
                        tx.put(keys::FORMAT.to_vec(), version);
                        Ok(())
                    })
                    .map_err(|error| KernelError::Engine(Box::new(error)))?;
            }
        }
        Ok(store)
    }

    fn unchecked(engine: E) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                commit: GroupCommit::new(),
            }),
        }
    }

    /// The engine (for what an adapter offers beyond the kernel: flushing, sizes, files).
    pub fn engine(&self) -> &E {
        &self.inner.engine
    }

    /// How many writing operations were acknowledged and how many engine commits they
    /// needed (fewer commits than writes: group commit at work).
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.commit.stats()
    }

    /// The number of entries of the outbox's due-time index (one per pending
    /// notification): for the crash test's check that none is stale. A blocking call.
    #[cfg(feature = "testing")]
    pub fn notification_index_len(&self) -> crate::ChatResult<usize> {
        self.inner.commit.read(&self.inner.engine, |tx| {
            let mut count = 0;
            for entry in tx.scan_prefix(&keys::kind_prefix(keys::Kind::NotificationDue)) {
                entry?;
                count += 1;
            }
            Ok(count)
        })
    }

    /// Runs a read-only operation on the blocking pool, over what the engine holds.
    async fn read<T, F>(&self, operation: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> ChatResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.commit.read(&inner.engine, operation))
            .await
            .map_err(|error| KernelError::Task(error.to_string()))?
    }

    /// Runs a writing operation on the blocking pool; returns once durable.
    async fn write<T, F>(&self, operation: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> ChatResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.commit.write(&inner.engine, operation))
            .await
            .map_err(|error| KernelError::Task(error.to_string()))?
    }
}

impl KvStore<MemoryEngine> {
    /// An empty store in memory (nothing survives the process).
    pub fn new() -> Self {
        Self::unchecked(MemoryEngine::new())
    }
}

impl Default for KvStore<MemoryEngine> {
    fn default() -> Self {
        Self::new()
    }
}
