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
//! `SledStore::builder().db(db).open().await?`; the store's trees are named `chat/…`
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
//! | `conversations` | id (16 bytes) | the conversation *and its participants* (JSON) |
//! | `inbox` | `tenant \0 user \0 archived` + !last_activity (8) + !id (16) | unread count (8) + tag match key |
//! | `messages` | conversation (16) + seq (8, big-endian) | the message (JSON) |
//! | `message_ids` | conversation (16) + message id (16) | seq |
//! | `client_ids` | conversation (16) + `sender \0 client_message_id` | seq |
//! | `directs` | `tenant \0 low \0 high \0` + (0, or 1 + tag match key) | conversation id |
//! | `user_stats` | `tenant \0 user` | conversations, unread conversations, unread messages |
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
//! - **mark read** up to a seq below the newest: O(1), no count: every message above a
//!   read watermark is from another sender (sending moves the sender's watermark to its
//!   message, new members start at the newest seq, watermarks never move back), so the
//!   unread count is `last_seq - watermark`.
//! - **delete** of the newest message walks down to the newest message not deleted: one
//!   read per deleted message passed.
//! - **search** reads all of the user's own conversations (it matches titles and members,
//!   which no index orders).
//!
//! ## Durability: what sled guarantees here, and what it does not
//!
//! With [`Durability::Durable`] (the default) every writing operation, after its
//! transaction commits, awaits sled's `flush_async` before it returns, so an acknowledged
//! send is on disk. Operations that change nothing (a repeated `client_message_id`) flush
//! too, because what they return may belong to a concurrent call still flushing.
//!
//! - **Group commit.** sled appends committed transactions to an in-memory log buffer;
//!   `flush_async` runs on sled's I/O threads, seals the current buffer and waits until
//!   the log is stable up to the newest reserved position. Concurrent callers therefore
//!   wait for the same buffer write and sync instead of issuing one each. The test
//!   `tests/group_commit.rs` checks this by counting the process's write system calls:
//!   many concurrent durable sends need far fewer writes than sends.
//! - **Atomicity.** sled writes a transaction's updates as one batch in its log; recovery
//!   applies it whole or not at all. Crashing at any moment never leaves a half-applied
//!   send (a message without its seq, a counter without its message).
//! - **Process crashes** (panic, `kill -9`, OOM killer): everything acknowledged survives,
//!   in both modes for data sled has already written to the OS. `tests/crash.rs` kills a
//!   writer process with SIGKILL at random moments and checks every acknowledged message,
//!   dense seqs, unread counts, previews, counters and direct uniqueness after each
//!   restart.
//! - **Power loss** is weaker, and not tested here: on Linux sled 0.34 makes its log
//!   stable with `sync_file_range` rather than `fsync`, which neither syncs file metadata
//!   nor flushes the drive's volatile write cache. Hosts that need power-loss durability
//!   should run on storage with a battery-backed or disabled write cache, or use Postgres.
//! - **Relaxed** ([`Durability::Relaxed`]) acknowledges at commit; sled flushes every 500
//!   ms ([`SledStoreBuilder::flush_every`]), on [`SledStore::flush`] and on drop. A crash
//!   may lose the last acknowledged transactions (whole ones). For tests and caches.
//! - sled 0.34 is beta software with its own on-disk format; the store writes a format
//!   marker so a future layout (or sled) change is detected instead of misread:
//!   opening a database written by something else is [`SledStoreError::Foreign`], by
//!   another layout version [`SledStoreError::UnsupportedVersion`], unreadable files an
//!   error (sled panics on some corruptions: the store catches them while opening).
//!
//! ## Threads
//!
//! sled is blocking: every operation runs on tokio's blocking pool (`spawn_blocking`),
//! never on the async workers; flushes run on sled's own I/O threads. sled 0.34 runs
//! transactions one at a time in the whole process, so writes do not run in parallel
//! (reads do, and flushes overlap with the next transactions).
#![forbid(unsafe_code)]

mod commit;
mod error;
mod keys;
mod store;
mod trees;

pub use commit::CommitStats;
pub use error::SledStoreError;
pub use store::{DEFAULT_TREE_PREFIX, Durability, FORMAT_VERSION, SledStore, SledStoreBuilder};
