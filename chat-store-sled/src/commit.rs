//! Group commit over the store's write-ahead log: many writers sharing one log write and
//! one `fdatasync`.
//!
//! A durable store runs sled without waiting for it (sled's own log is written in the
//! background, as in [`crate::Durability::Relaxed`]) and makes each write stable through
//! a log of its own (`wal.rs`):
//!
//! 1. **Commit.** A writing transaction runs under [`GroupCommit::logged`], which numbers
//!    it (the number is stored in the transaction, in the `meta` tree) and, once sled has
//!    committed it, appends its writes to an in-memory buffer. Numbering and appending
//!    happen under one lock held across the transaction, so the log's order is sled's
//!    commit order (sled 0.34 runs transactions one at a time anyway).
//! 2. **Durability.** The writer then calls [`GroupCommit::wait_durable`] on the same
//!    blocking thread. The first waiter to find no log write running leads: on its own
//!    thread (no hand-off to another thread or task) it takes the whole buffer, appends it
//!    to the log file and `fdatasync`s the file, covering every transaction committed so
//!    far, and wakes the others. Writers that commit meanwhile gather in the buffer for the
//!    next group, which the first of them to wake leads.
//! 3. **Checkpoint.** Once the current log file has grown past the checkpoint size, the
//!    writer that noticed it starts a new file, then flushes sled and `fdatasync`s sled's
//!    files ([`SledFiles::flush_and_sync`]), and only then deletes the older log files:
//!    everything they held is by then stable in sled itself. Writers keep committing into
//!    the new file meanwhile.
//!
//! After a crash, `recovery.rs` applies again the logged transactions sled lost. So a
//! group costs one `write` and one `fdatasync` of our file, instead of waiting for every
//! I/O buffer sled wrote and range-synced for each transaction of the group (sled 0.34
//! rolls its buffer twice per transaction; bench/README.md has the profile).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use chat_core::ChatResult;

use crate::error::SledStoreError;
use crate::logged_tree::Write;
use crate::sled_files::{SledFiles, sync_directory};
use crate::wal;

/// The log size past which a checkpoint starts a new log file (64 MiB), unless
/// [`crate::SledStoreBuilder::checkpoint_bytes`] says otherwise.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

#[derive(Debug)]
struct State {
    /// Records committed and not yet written to the log file.
    buffer: Vec<u8>,
    /// The last commit number appended to the buffer (or already written).
    appended: u64,
    /// Every commit up to this one is in the log and synced.
    durable: u64,
    /// True while a leader writes and syncs the log.
    writing: bool,
    /// True while a checkpoint runs.
    checkpointing: bool,
    /// A log write, sync or checkpoint failed: nothing later can be acknowledged, and no
    /// later transaction runs.
    failed: Option<Arc<str>>,
    /// The log file written to now.
    log: Arc<LogFile>,
    /// Bytes written to `log` since it was started.
    log_bytes: u64,
}

/// One open log file.
#[derive(Debug)]
struct LogFile {
    file: File,
    generation: u64,
    /// Where the records end and how far the file is extended with zeros: written by the
    /// group's leader only (one at a time), so never contended.
    space: Mutex<Space>,
}

/// The records' end and the zeros ahead of it in one log file.
#[derive(Debug)]
struct Space {
    /// The records end here (the file's cursor).
    end: u64,
    /// The file is extended with zeros up to here.
    allocated: u64,
    /// The next extension (doubling from [`FIRST_EXTENSION`] up to [`MAX_EXTENSION`]).
    extension: u64,
}

/// The first extension of a log file with zeros (64 KiB): a store that writes little never
/// writes much more.
const FIRST_EXTENSION: u64 = 64 << 10;
/// The largest extension (4 MiB).
const MAX_EXTENSION: u64 = 4 << 20;

impl LogFile {
    /// Appends `group` at the records' end. When it does not fit in the zeros ahead, the
    /// file is first extended with more zeros, so that most groups' `fdatasync` has no
    /// size change to write (on ext4 that spares a journal commit per group).
    fn append(&self, group: &[u8]) -> std::io::Result<()> {
        let mut space = self.space.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = &self.file;
        let needed = space.end + group.len() as u64;
        if needed > space.allocated {
            let target = needed.max(space.allocated + space.extension);
            file.seek(SeekFrom::Start(space.allocated))?;
            let zeros = vec![0u8; usize::try_from(target - space.allocated).unwrap_or(usize::MAX)];
            file.write_all(&zeros)?;
            file.seek(SeekFrom::Start(space.end))?;
            space.allocated = target;
            space.extension = (space.extension * 2).min(MAX_EXTENSION);
        }
        file.write_all(group)?;
        space.end = needed;
        Ok(())
    }
}

/// Counters of the group commit, for monitoring (see [`crate::SledStore::commit_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Writes that waited for durability.
    pub durable_writes: u64,
    /// Groups: each one write of the write-ahead log, shared by every transaction that
    /// committed before it started. Far fewer than `durable_writes` under concurrency.
    pub groups: u64,
    /// `fdatasync` calls of the write-ahead log: one per group.
    pub syncs: u64,
    /// Checkpoints: sled flushed and synced, older log files deleted.
    pub checkpoints: u64,
}

/// The write-ahead log and group commit of one durable store.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    db: sled::Db,
    dir: PathBuf,
    prefix: String,
    sled_files: SledFiles,
    checkpoint_bytes: u64,
    /// The last commit number given: held across a logged transaction.
    order: Mutex<u64>,
    state: Mutex<State>,
    done: Condvar,
    durable_writes: AtomicU64,
    groups: AtomicU64,
    syncs: AtomicU64,
    checkpoints: AtomicU64,
}

/// What opening a log needs: where it lives and where recovery left it.
pub(crate) struct LogStart {
    pub(crate) db: sled::Db,
    pub(crate) dir: PathBuf,
    pub(crate) prefix: String,
    pub(crate) sled_files: SledFiles,
    /// The newest commit number sled holds (after recovery).
    pub(crate) last_commit: u64,
    /// The generation of the (new, empty) log file to write.
    pub(crate) generation: u64,
    pub(crate) checkpoint_bytes: u64,
}

impl GroupCommit {
    /// Starts writing to a new, empty log file of `start.generation`.
    pub(crate) fn start(start: LogStart) -> Result<Self, SledStoreError> {
        let log = create_log_file(&start.dir, &start.prefix, start.generation)
            .map_err(|error| SledStoreError::Sync(error.to_string()))?;
        Ok(Self {
            db: start.db,
            dir: start.dir,
            prefix: start.prefix,
            sled_files: start.sled_files,
            checkpoint_bytes: start.checkpoint_bytes.max(1),
            order: Mutex::new(start.last_commit),
            state: Mutex::new(State {
                buffer: Vec::new(),
                appended: start.last_commit,
                durable: start.last_commit,
                writing: false,
                checkpointing: false,
                failed: None,
                log: Arc::new(log),
                log_bytes: 0,
            }),
            done: Condvar::new(),
            durable_writes: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            durable_writes: self.durable_writes.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
        }
    }

    fn failure(&self) -> Option<SledStoreError> {
        self.lock()
            .failed
            .as_ref()
            .map(|error| SledStoreError::Flush(error.to_string()))
    }

    /// Runs one writing transaction: `transaction` gets the commit number to store and
    /// returns its answer and its writes, which (when there are any) are appended to the
    /// log's buffer in commit order. Refused once the log has failed.
    pub(crate) fn logged<T>(&self, transaction: impl FnOnce(u64) -> ChatResult<(T, Vec<Write>)>) -> ChatResult<T> {
        if let Some(error) = self.failure() {
            return Err(error.into());
        }
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        let commit = *order + 1;
        let (answer, writes) = transaction(commit)?;
        if !writes.is_empty() {
            *order = commit;
            let mut state = self.lock();
            wal::encode_record(&mut state.buffer, commit, &writes);
            state.appended = commit;
        }
        Ok(answer)
    }

    /// Blocks until every transaction committed before this call is in the log and
    /// synced. A blocking call: run it on tokio's blocking pool, after the write's
    /// transaction.
    ///
    /// It covers operations that changed nothing too (a repeated `client_message_id`, a
    /// second delete): what they return may have been committed by a concurrent call whose
    /// group is still being written.
    pub(crate) fn wait_durable(&self) -> Result<(), SledStoreError> {
        self.durable_writes.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let ticket = state.appended;
        loop {
            if state.durable >= ticket {
                return Ok(());
            }
            if let Some(error) = &state.failed {
                return Err(SledStoreError::Flush(error.to_string()));
            }
            if state.writing {
                state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.writing = true;
            let covered = state.appended;
            let group = std::mem::take(&mut state.buffer);
            let log = Arc::clone(&state.log);
            drop(state);
            let mut turn = LeaderTurn {
                commit: self,
                outcome: None,
                finished: false,
            };
            turn.outcome = Some(self.write_group(&log, &group).map(|()| (covered, group.len() as u64)));
            let checkpoint_due = turn.finish();
            if checkpoint_due {
                self.checkpoint();
            }
            state = self.lock();
        }
    }

    /// One group: the buffered records appended to the log file, then its `fdatasync`.
    fn write_group(&self, log: &LogFile, group: &[u8]) -> Result<(), String> {
        log.append(group)
            .map_err(|error| format!("writing the write-ahead log: {error}"))?;
        self.groups.fetch_add(1, Ordering::Relaxed);
        log.file
            .sync_data()
            .map_err(|error| format!("fdatasync of the write-ahead log: {error}"))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Starts a new log file, makes everything committed stable in sled itself, then
    /// deletes the older log files. Does nothing while another checkpoint runs.
    fn checkpoint(&self) {
        let generation = {
            let mut state = self.lock();
            if state.checkpointing || state.failed.is_some() {
                return;
            }
            state.checkpointing = true;
            state.log.generation + 1
        };
        let mut turn = CheckpointTurn {
            commit: self,
            outcome: None,
        };
        turn.outcome = Some(self.rotate_and_flush(generation));
    }

    /// Nothing more is acknowledged, nor run: sled failed inside a logged transaction, so
    /// its state may no longer match the log.
    pub(crate) fn poison(&self, error: &str) {
        let mut state = self.lock();
        tracing::error!(%error, "chat-store-sled: sled failed in a logged transaction");
        state.failed = Some(Arc::from(format!("sled failed in a logged transaction: {error}")));
        drop(state);
        self.done.notify_all();
    }

    fn rotate_and_flush(&self, generation: u64) -> Result<(), String> {
        let log = create_log_file(&self.dir, &self.prefix, generation)?;
        {
            let mut state = self.lock();
            state.log = Arc::new(log);
            state.log_bytes = 0;
        }
        self.retire_logs_before(generation)
    }

    /// Flushes and syncs sled, then deletes the log files older than `generation`: every
    /// record in them was committed before `generation` took over, so the flush covers
    /// it. Also what opening a store ends with, once recovery has applied those files.
    pub(crate) fn retire_logs_before(&self, generation: u64) -> Result<(), String> {
        self.sled_files.flush_and_sync(&self.db)?;
        let older = wal::log_files(&self.dir, &self.prefix).map_err(|error| error.to_string())?;
        for (old, path) in older.into_iter().filter(|(old, _)| *old < generation) {
            std::fs::remove_file(&path)
                .map_err(|error| format!("removing the write-ahead log of generation {old}: {error}"))?;
        }
        sync_directory(&self.dir).map_err(|error| format!("syncing {}: {error}", self.dir.display()))?;
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A checkpoint's turn: however it ends (done, failed, or a panic inside sled), it lets the
/// next checkpoint run, and a failure stops acknowledgements.
struct CheckpointTurn<'a> {
    commit: &'a GroupCommit,
    outcome: Option<Result<(), String>>,
}

impl Drop for CheckpointTurn<'_> {
    fn drop(&mut self) {
        let mut state = self.commit.lock();
        state.checkpointing = false;
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| Err("the checkpoint panicked".to_owned()));
        if let Err(error) = outcome {
            tracing::error!(%error, "chat-store-sled: checkpoint of the write-ahead log failed");
            state.failed = Some(Arc::from(error));
        }
        drop(state);
        self.commit.done.notify_all();
    }
}

/// Creates the empty log file of `generation` and makes its directory entry stable.
fn create_log_file(dir: &std::path::Path, prefix: &str, generation: u64) -> Result<LogFile, String> {
    let path = wal::file_path(dir, prefix, generation);
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    sync_directory(dir).map_err(|error| format!("syncing {}: {error}", dir.display()))?;
    Ok(LogFile {
        file,
        generation,
        space: Mutex::new(Space {
            end: 0,
            allocated: 0,
            extension: FIRST_EXTENSION,
        }),
    })
}

/// The leader's turn: however it ends (done, or a panic), ending it publishes the outcome,
/// lets the next waiter lead and wakes everyone.
struct LeaderTurn<'a> {
    commit: &'a GroupCommit,
    /// The commit covered and the bytes written, or the failure.
    outcome: Option<Result<(u64, u64), String>>,
    finished: bool,
}

impl LeaderTurn<'_> {
    /// Ends the turn; true when the log file has grown past the checkpoint size.
    fn finish(mut self) -> bool {
        self.finished = true;
        self.publish()
    }

    fn publish(&mut self) -> bool {
        let mut state = self.commit.lock();
        state.writing = false;
        // No outcome: the leader panicked, perhaps halfway through a write. A later group
        // appended after a torn record would be lost on recovery, so nothing more is
        // acknowledged.
        match self
            .outcome
            .take()
            .unwrap_or_else(|| Err("the write-ahead log's writer panicked".to_owned()))
        {
            Ok((covered, bytes)) => {
                state.durable = state.durable.max(covered);
                state.log_bytes += bytes;
            }
            Err(error) => {
                tracing::error!(%error, "chat-store-sled: writing the write-ahead log failed");
                state.failed = Some(Arc::from(error));
            }
        }
        let checkpoint_due =
            state.log_bytes >= self.commit.checkpoint_bytes && !state.checkpointing && state.failed.is_none();
        drop(state);
        self.commit.done.notify_all();
        checkpoint_due
    }
}

impl Drop for LeaderTurn<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.publish();
        }
    }
}
