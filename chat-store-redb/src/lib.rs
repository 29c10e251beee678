//! # chat-store-redb
//!
//! [`RedbStore`]: the chat-core storage kernel ([`chat_core::kernel::KvStore`]) over a
//! [redb](https://docs.rs/redb/5) database, one file inside the host process. Every
//! operation of the [`chat_core::Store`] trait is the kernel's, written once over its
//! ordered key-value engine; this crate is only that engine ([`RedbEngine`]) and the code
//! that opens it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chat_store_redb::RedbStoreError> {
//! use std::sync::Arc;
//! let store = chat_store_redb::open("./data/chat.redb").await?;
//! let store: Arc<dyn chat_core::Store> = Arc::new(store);
//! # Ok(()) }
//! ```
//!
//! ## What is guaranteed
//!
//! - **One table.** The whole keyspace is one redb table of `&[u8]` keys and values,
//!   named [`DEFAULT_TABLE`] (`chat`) unless [`RedbStoreBuilder::table`] names another. It
//!   is created when the store opens; the database's other tables are never touched, so a
//!   host may keep its own tables in the same file ([`RedbStoreBuilder::database`]).
//! - **One commit, one write transaction.** Each batch the kernel commits is one redb write
//!   transaction: every insert and removal of the batch, then `commit` with
//!   [`redb::Durability::Immediate`] (redb's default, set explicitly). redb syncs the file
//!   before the commit returns, and a crash leaves the batch entirely there or entirely
//!   absent.
//! - **Reads see only durable writes.** A read view is a redb read transaction, which sees
//!   the last committed write transaction as of when it began; redb publishes an
//!   `Immediate` commit to new read transactions only after its sync. So the kernel's rule
//!   that a read never sees a write that is not durable holds.
//! - **Nothing of our own on disk.** There is no log or side file: grouping the writes of
//!   concurrent operations into one commit (group commit) is the kernel's, and atomicity
//!   and crash recovery are redb's. The only extra durability step is that opening a
//!   *new* database file syncs the directory entries naming it (on Unix).
//! - **The kernel's layout.** Opening a store runs the kernel's check of the keyspace's
//!   layout version ([`chat_core::kernel::KvStore::over`]), which writes the version into an
//!   empty keyspace (one commit) and refuses a keyspace of another layout
//!   ([`RedbStoreError::Kernel`]).
//! - **One process.** redb locks the file: another open of it, from this process or
//!   another, fails with [`redb::DatabaseError::DatabaseAlreadyOpen`] while the store (any
//!   clone of it) lives.
//!
//! A failure of redb after the store is open reaches callers as
//! [`chat_core::ChatError::Backend`] with the redb error inside, and the kernel stops
//! acknowledging writes after a failed commit (redb itself refuses further write
//! transactions after one; reopening the database repairs it).

#![forbid(unsafe_code)]

mod builder;
mod engine;
mod error;

pub use builder::{RedbStore, RedbStoreBuilder, open, temporary};
pub use engine::{DEFAULT_TABLE, RedbEngine, RedbRead};
pub use error::RedbStoreError;
/// The redb this crate is built with, for [`RedbStoreBuilder::database`] and
/// [`RedbEngine::database`].
pub use redb;
