//! # chat-store-sled
//!
//! [`SledStore`]: the embedded, durable default [`chat_core::Store`], keeping everything
//! in a [sled](https://docs.rs/sled/0.34) database inside the host process. For a single
//! node; several nodes share Postgres instead (`chat-store-sqlx`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use chat_core::{ChatServices, InMemoryDirectory};
//!
//! let store = chat_store_sled::open("./data/chat").await?; // durable by default
//! let services = ChatServices::new(Arc::new(store), Arc::new(InMemoryDirectory::new()));
//! # Ok(()) }
//! ```
//!
//! A host that already uses sled passes its database instead:
//! `SledStoreBuilder::new().db_at(db, dir).open().await?` (its directory, so that a durable
//! store can sync its files); the store's tree is named `chat/kv`
//! ([`SledStoreBuilder::tree_prefix`]) and the host's own trees are left alone.
//!
//! ## What this crate is
//!
//! An engine adapter: every store operation is chat-core's storage kernel
//! ([`chat_core::kernel`]), so [`SledStore`] is [`KvStore`]`<`[`SledEngine`]`>` and shares
//! its transactions, group commit, layout and costs with every other embedded engine.
//! What is sled's own is here: the kernel's keyspace in one tree (`<prefix>/kv`), a
//! batch applied with one `apply_batch` under a lock that views take for reading (so a
//! view never sees half a batch; sled 0.34 has no snapshots), the durability sled lacks
//! (below), the format marker, and the move of a layout 1 database (a tree per record
//! kind) into the keyspace when it is first opened.
//!
//! ## Durability: what is guaranteed here, and what is not
//!
//! With [`Durability::Durable`] (the default) every writing operation returns only once
//! its writes are in the store's own write-ahead log and the log file is `fdatasync`ed;
//! sled is given a batch only after that, so no read ever sees a write before it is
//! durable (invariant 20). Operations that change nothing (a repeated
//! `client_message_id`, a second delete) wait too, because what they read may belong to a
//! concurrent call whose group is still being written.
//!
//! - **The write-ahead log.** sled 0.34 cannot make a single transaction stable cheaply:
//!   it writes and range-syncs its I/O buffer twice per transaction, and its `flush` must
//!   wait for all of them (bench/README.md has the profile). So sled runs without waiting,
//!   as in Relaxed mode, and the store logs each batch the kernel commits (keys and new
//!   values, in commit order, each record checksummed) to `chat-wal.<prefix>.<n>` in
//!   sled's directory. The file is extended with zeros ahead of its records, so that most
//!   syncs write data only, not the file's size.
//! - **Group commit** is the kernel's: the writes of the transactions that run while a
//!   batch is being logged gather into the next batch, one log write and one sync for all
//!   of them ([`KvStore::commit_stats`] counts writes and groups,
//!   [`SledEngine::log_stats`] syncs and checkpoints; `tests/store/group_commit.rs` checks
//!   that concurrent sends share groups while a lone writer needs one each, and
//!   `tests/store/sync.rs` counts the `fdatasync` calls under `strace`: one per group).
//!   The leader is the first waiting writer's own blocking-pool thread, so a group costs
//!   no hand-off to another thread or task, and nothing blocks an async worker.
//! - **Checkpoints.** Once the log file passes [`SledStoreBuilder::checkpoint_bytes`]
//!   (64 MiB), a new file takes over, sled is flushed and its data file (and new blob
//!   files) `fdatasync`ed, and only then are the older log files deleted.
//! - **Recovery.** Each logged batch also stores its number in sled, so on opening the
//!   store knows which records sled already holds; the later ones are applied again, in
//!   order, each in one sled batch (`tests/store/recovery.rs` copies sled's files
//!   after a flush, writes more, and recovers every acknowledged write from the log). A
//!   record cut short or failing its checksum ends the log: normally the tail a crash cut
//!   off while it was written, never acknowledged (a record damaged later, by the disk,
//!   looks the same, and the records after it are then dropped without an error, as sled
//!   does with its own log). A log with a hole (a record missing before
//!   later ones) is refused as [`SledStoreError::Corrupt`] rather than applied over it.
//!   Then sled is synced and the applied log deleted. A Relaxed store opened over the
//!   directory recovers the same way first; one over a bare `sled::Db` cannot, and its
//!   first write marks any log there stale, so that the log is later deleted (with the
//!   acknowledged writes sled had lost) rather than applied over newer writes.
//! - **Failures stop acknowledgements.** A failed log write or sync, or a sled error while
//!   applying a logged batch, fails that batch's writers and every later write until the
//!   store is opened again (which recovers from the log); a failed checkpoint fails every
//!   later write (the batch before it is durable and stays acknowledged).
//! - **One store per database and prefix.** Two stores opened at once over one database
//!   with the same [`SledStoreBuilder::tree_prefix`] would number and delete each other's
//!   log files: open one and clone it.
//! - **Atomicity.** sled writes a batch as one entry in its log and recovery applies it
//!   whole or not at all, and so does the log's replay: a crash at any
//!   moment never leaves half a send (a message without its seq, a counter without its
//!   message).
//! - **Process crashes** (panic, `kill -9`, the OOM killer) lose nothing acknowledged.
//!   `tests/store/crash/` kills a writer process with SIGKILL at random moments (also
//!   while it opens and recovers the database) and checks after every restart that every
//!   acknowledged message, read and deletion is there, seqs are dense, unread counts,
//!   previews and counters agree with the messages, and no direct conversation exists
//!   twice.
//! - **Power loss and kernel crashes.** An acknowledged write is in a log file synced by
//!   `fdatasync` (the file and the directory entry of a new log file are synced when it is
//!   created), so it is on stable storage, *provided* the drive honours flush requests (or
//!   has a power-loss-protected cache) and the file system keeps its `fdatasync` promise
//!   (ext4 and XFS do; a host with `nobarrier`, or a virtual disk that ignores flushes,
//!   does not). Recovery then rests on sled recovering a consistent prefix of its own
//!   commits from its checksummed log, which is sled's design; no test here cuts the
//!   power, so that part rests on the sync being made (which `tests/store/sync.rs` counts)
//!   and on the staged power cut of `tests/store/recovery.rs`.
//!   Not covered: sled's snapshot files (sled syncs them itself and rebuilds them from its
//!   log; a snapshot sled was still writing when killed, `snap.<lsn>.generating`, which
//!   sled 0.34 would read and refuse as corrupt, is removed when the store opens); a
//!   database opened with [`SledStoreBuilder::db`] (sled does not say where it lives, so a
//!   durable store refuses it: use [`SledStoreBuilder::db_at`]; a Relaxed store opened that
//!   way cannot recover a durable store's log either); temporary databases (nothing to
//!   sync: Durable is Relaxed there); and [`Durability::Relaxed`].
//! - **Damaged files.** sled checksums its log; on recovery a damaged stretch is treated
//!   like a torn tail: everything from there on is dropped *silently* and the database
//!   opens in an earlier, consistent state (`tests/store/open.rs` shows it). sled does not
//!   report it. Unreadable files are an error ([`SledStoreError::Sled`]); sled panics on
//!   some corruptions, which the store catches while opening
//!   ([`SledStoreError::OpenPanicked`]); an undecodable record is
//!   [`SledStoreError::Corrupt`] (a [`chat_core::ChatError::Backend`]) for the operation
//!   that meets it.
//! - **Layout changes** are detected, not misread: the store writes a format marker and
//!   refuses a database written by something else ([`SledStoreError::Foreign`]) or in
//!   another layout version ([`SledStoreError::UnsupportedVersion`]).
//! - **One process.** sled locks its directory: a second process opening it gets an
//!   error. For several nodes use Postgres.
//! - **Relaxed** ([`Durability::Relaxed`]) acknowledges at commit; sled flushes in the
//!   background every `flush_every`, on [`SledEngine::flush`] and when the last handle is
//!   dropped. A process crash may lose the last acknowledged transactions (whole ones).
//!   For tests and caches that can be rebuilt.
//!
//! ## Threads
//!
//! sled is blocking: every operation runs on tokio's blocking pool (`spawn_blocking`),
//! never on the async workers, and so do log writes, syncs and checkpoints. Dropping the
//! last handle of the store flushes and closes the database on the dropping thread; call
//! [`SledEngine::flush`] first (or drop it from a blocking context) to keep that off an
//! async worker. Writing transactions run one at a time (the kernel's); a group's log
//! write and sync run while the next transactions run. Reads run in parallel, each over
//! one view.
#![forbid(unsafe_code)]

mod builder;
mod durability;
mod engine;
mod error;
mod layout;
mod log;
mod recovery;
mod sled_files;
mod wal;

use chat_core::kernel::KvStore;

pub use builder::{DEFAULT_TREE_PREFIX, SledStoreBuilder};
pub use durability::Durability;
pub use engine::{SledEngine, SledRead};
pub use error::SledStoreError;
pub use layout::FORMAT_VERSION;
pub use log::{DEFAULT_CHECKPOINT_BYTES, LogStats};

/// The embedded store: chat-core's storage kernel over [`SledEngine`]. Every operation is
/// one kernel transaction run on tokio's blocking pool and (in [`Durability::Durable`]
/// mode) acknowledged only once its writes are in the synced write-ahead log.
///
/// Cheap to clone (an `Arc` inside). Dropping the last clone flushes and closes the
/// database (a blocking call); [`SledEngine::flush`] (through [`KvStore::engine`])
/// flushes without closing.
pub type SledStore = KvStore<SledEngine>;

/// Opens (or creates) a durable store in the directory `path`
/// ([`SledStoreBuilder::path`]).
pub async fn open(path: impl Into<std::path::PathBuf>) -> Result<SledStore, SledStoreError> {
    SledStoreBuilder::new().path(path).open().await
}

/// A Relaxed store in a temporary database, deleted on drop: for tests.
pub async fn temporary() -> Result<SledStore, SledStoreError> {
    SledStoreBuilder::new()
        .temporary()
        .durability(Durability::Relaxed)
        .open()
        .await
}
