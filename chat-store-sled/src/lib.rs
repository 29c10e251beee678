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
//! use chat_store_sled::SledStore;
//!
//! let store = SledStore::open("./data/chat").await?; // durable by default
//! let services = ChatServices::new(Arc::new(store), Arc::new(InMemoryDirectory::new()));
//! # Ok(()) }
//! ```
//!
//! A host that already uses sled passes its database instead:
//! `SledStore::builder().db_at(db, dir).open().await?` (its directory, so that a durable
//! store can sync its files); the store's trees are named `chat/…`
//! ([`SledStoreBuilder::tree_prefix`]) and the host's own trees are left alone.
//!
//! ## Layout
//!
//! Every operation of the [`chat_core::Store`] trait is one sled transaction over these
//! trees (all names after the `chat/` prefix), so no invariant is ever seen half done:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `format` | `chat-store-sled\0` + layout version (u32) |
//! | `meta` | `last_commit` | the number of the last transaction written through the write-ahead log (u64) |
//! | `conversations` | id (16 bytes) | the conversation *and its participants* (JSON) |
//! | `inbox` | `tenant \0 user \0 archived` + !last_activity (8) + !id (16) | unread count (8) + tag match key |
//! | `messages` | conversation (16) + seq (8, big-endian) | the message (JSON) |
//! | `message_ids` | conversation (16) + message id (16) | seq |
//! | `client_ids` | conversation (16) + `sender \0 client_message_id` | seq |
//! | `directs` | `tenant \0 low \0 high \0` + (0, or 1 + tag match key) | conversation id |
//! | `user_stats` | `tenant \0 user` | conversations, unread conversations, unread messages |
//! | `groups` | `tenant \0 user \0` + id (16) | nothing: the groups a user is in (search) |
//! | `blocks` | `tenant \0 blocker \0 blocked` | the block (JSON) |
//! | `reports` | `tenant \0 reporter \0` + message id (16) | the report (JSON) |
//!
//! Host ids cannot contain control characters, so NUL separates them unambiguously. `!`
//! is bitwise inversion: ascending keys of `inbox` are the inbox order (newest activity,
//! then id, descending).
//!
//! Participants live inside their conversation's value rather than in a tree of their
//! own: every send changes every participant (unread count, un-archive) anyway, and one key
//! makes a conversation read back as one committed whole with a single `get`, without a
//! read transaction (sled 0.34 runs transactions under a process-wide exclusive lock, so
//! reads avoid them).
//!
//! ## Cost
//!
//! Nothing scales with the number of conversations of a user or of messages in a
//! conversation, except where noted:
//!
//! - **send**: O(participants): the message, its id and retry-key rows, and for each
//!   participant its inbox entry moved (old key removed, new key inserted in the same
//!   transaction) and its counters updated.
//! - **inbox page**: a range read of the user's own index from the cursor, one `get` per
//!   row. The archive filter is part of the key (`Active` and `Archived` are each one
//!   range, `All` merges the two). The tag and unread-only filters cannot use the order of
//!   the index: they skip non-matching entries of the user's own index (reading only the
//!   entry, not the conversation), so their cost grows with the entries skipped.
//! - **history page**: seqs are dense, so the page is an exact key range of `limit` keys.
//! - **stats**: one key. **find-or-create**: one key (`directs`).
//! - **mark read** up to the newest message: O(1). Up to a seq below it: one read per
//!   message above the new watermark, to count the deleted ones (invariant 12: the unread
//!   count is `last_seq - watermark - deleted above it`, since every message above a read
//!   watermark is from another sender).
//! - **delete** takes the message off the unread count of every participant below it: the
//!   rows of the record change, so their inbox entries and counters follow.
//! - **delete** of the newest message walks down to the newest message not deleted: one
//!   read per deleted message passed.
//! - **search** reads the user's groups (the `groups` tree: titles, and groups with a
//!   matched user) and, per user the directory matched, the direct conversations of that
//!   pair (one `directs` prefix): never the user's whole inbox, so a seller in 10,000 direct
//!   conversations pays for the matches, not for the 10,000. A store made before the
//!   `groups` tree gets it built once when opened.
//!
//! ## Durability: what is guaranteed here, and what is not
//!
//! With [`Durability::Durable`] (the default) every writing operation, after its
//! transaction commits, waits until that transaction's writes are in the store's own
//! write-ahead log and the log file is `fdatasync`ed, before it returns. Operations that
//! change nothing (a repeated `client_message_id`, a second delete) wait too, because what
//! they return may belong to a concurrent call whose group is still being written.
//!
//! - **The write-ahead log.** sled 0.34 cannot make a single transaction stable cheaply:
//!   it writes and range-syncs its I/O buffer twice per transaction, and its `flush` must
//!   wait for all of them (bench/README.md has the profile). So sled runs without waiting,
//!   as in Relaxed mode, and the store logs each committed transaction's writes (keys and
//!   new values, in commit order, each record checksummed) to `chat-wal.<prefix>.<n>` in
//!   sled's directory. The file is extended with zeros ahead of its records, so that most
//!   syncs write data only, not the file's size.
//! - **Group commit.** One leader at a time appends every record committed so far and
//!   syncs once; writers that commit meanwhile gather for the next group
//!   ([`SledStore::commit_stats`] counts writes, groups, syncs and checkpoints;
//!   `tests/store/group_commit.rs` checks that concurrent sends share groups while a lone
//!   writer needs one each, and `tests/store/sync.rs` counts the `fdatasync` calls under
//!   `strace`: at least one per group). The leader is the first waiting writer's own
//!   blocking-pool thread, so a group costs no hand-off to another thread or task, and
//!   nothing blocks an async worker.
//! - **Checkpoints.** Once the log file passes [`SledStoreBuilder::checkpoint_bytes`]
//!   (64 MiB), a new file takes over, sled is flushed and its data file (and new blob
//!   files) `fdatasync`ed, and only then are the older log files deleted.
//! - **Recovery.** Each logged transaction also stores its number in sled, so on opening
//!   the store knows which records sled already holds; the later ones are applied again,
//!   in order, each in one sled transaction (`tests/store/recovery.rs` copies sled's files
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
//! - **Failures stop acknowledgements.** A failed log write, sync or checkpoint, or a sled
//!   storage error inside a logged transaction, fails every later write until the store
//!   is opened again (which recovers from the log).
//! - **One store per database and prefix.** Two stores opened at once over one database
//!   with the same [`SledStoreBuilder::tree_prefix`] would number and delete each other's
//!   log files: open one and clone it.
//! - **Atomicity.** sled writes a transaction's updates as one batch in its log and
//!   recovery applies it whole or not at all, and so does the log's replay: a crash at any
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
//!   background every `flush_every`, on [`SledStore::flush`] and when the last handle is
//!   dropped. A process crash may lose the last acknowledged transactions (whole ones).
//!   For tests and caches that can be rebuilt.
//!
//! ## Threads
//!
//! sled is blocking: every operation runs on tokio's blocking pool (`spawn_blocking`),
//! never on the async workers, and so do log writes, syncs and checkpoints. Dropping the last handle of the store
//! flushes and closes the database on the dropping thread; call [`SledStore::flush`]
//! first (or drop it from a blocking context) to keep that off an async worker. sled 0.34
//! runs transactions one at a time in the whole process (a global lock), so writes do
//! not run in parallel; a group's log write and sync run while the next transactions
//! commit. Reads run in parallel and never take a
//! transaction: each read of a conversation is one key.
#![forbid(unsafe_code)]

mod attachments;
mod blocks;
mod builder;
mod commit;
mod counters;
mod erase;
mod error;
mod inbox_scan;
mod keys;
mod logged_tree;
mod notifications;
mod reads;
mod recovery;
mod reports;
mod sled_files;
mod store;
mod trees;
mod tx;
mod wal;
mod writes;

pub use builder::{DEFAULT_TREE_PREFIX, Durability, FORMAT_VERSION, SledStoreBuilder};
pub use commit::{CommitStats, DEFAULT_CHECKPOINT_BYTES};
pub use error::SledStoreError;
pub use store::SledStore;
