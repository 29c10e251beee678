//! Group commit: many writers sharing one flush and one sync.
//!
//! A durable write runs on tokio's blocking pool. Once its transaction has committed, the
//! same blocking thread takes a ticket and waits until a flush that started after the
//! ticket was taken has completed. The first writer to find no flush running leads: on its
//! own thread (no hand-off to another thread or task), it flushes sled's log, then
//! `fdatasync`s sled's data file, covering every ticket handed out so far, and wakes the
//! others. Writers that commit while it runs gather for the next group, which the first of
//! them to wake leads. N concurrent writers thus cost a few flushes and syncs rather than
//! N, and the async workers never block: the task only awaits its blocking closure.
//!
//! sled's own `flush_async` is not used: in sled 0.34 concurrent `flush_async` calls can
//! deadlock (sled issue #1308, fixed only on sled's unreleased main branch). A blocking
//! `flush` on tokio's blocking pool leaves sled's I/O pool free for the write it waits for.
//!
//! sled's `flush` ends with `sync_file_range` (Linux), which writes the pages out but
//! neither flushes the drive's volatile cache nor the file's metadata (its size, once the
//! log grows): an acknowledged write could still be lost on power loss or a kernel crash.
//! The `fdatasync` after it does both.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::SledStoreError;

#[derive(Debug, Default)]
struct State {
    /// The last ticket handed out.
    requested: u64,
    /// Every ticket up to this one is on stable storage.
    durable: u64,
    /// True while a leader flushes.
    flushing: bool,
    /// A flush or sync failed: nothing later can be acknowledged (sled then refuses every
    /// later write too).
    failed: Option<Arc<str>>,
}

/// Counters of the group commit, for monitoring (see [`crate::SledStore::commit_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Writes that waited for durability.
    pub durable_writes: u64,
    /// Flushes run for them (one per group). Far fewer than `durable_writes` under
    /// concurrency.
    pub flushes: u64,
    /// `fdatasync` calls of sled's data file after those flushes: equal to `flushes`,
    /// except for a temporary database (in memory, nothing to sync).
    pub syncs: u64,
}

/// The shared flush and sync of one database.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    db: sled::Db,
    /// sled's files to sync; `None` for a temporary database.
    files: Option<Files>,
    state: Mutex<State>,
    done: Condvar,
    flushes: AtomicU64,
    syncs: AtomicU64,
}

impl GroupCommit {
    /// The group commit of `db`, syncing the data file in `dir` (`None`: nothing to sync,
    /// for temporary databases).
    ///
    /// Also syncs the directory and sled's `conf` once, so that the files' directory
    /// entries are on disk before the first write is acknowledged.
    pub(crate) fn new(db: sled::Db, dir: Option<&Path>) -> Result<Self, SledStoreError> {
        let files = match dir {
            None => None,
            Some(dir) => {
                let sync_error = |what: &str, error: std::io::Error| {
                    SledStoreError::Sync(format!("{what} in {}: {error}", dir.display()))
                };
                let data = File::open(dir.join("db")).map_err(|error| sync_error("opening sled's data file", error))?;
                data.sync_all()
                    .map_err(|error| sync_error("syncing sled's data file", error))?;
                if let Ok(conf) = File::open(dir.join("conf")) {
                    conf.sync_all()
                        .map_err(|error| sync_error("syncing sled's conf", error))?;
                }
                File::open(dir)
                    .and_then(|directory| directory.sync_all())
                    .map_err(|error| sync_error("syncing the directory", error))?;
                let files = Files {
                    data,
                    blobs: dir.join("blobs"),
                    synced_blobs: Mutex::new(HashSet::new()),
                };
                files
                    .sync_new_blobs()
                    .map_err(|error| sync_error("syncing sled's blob files", error))?;
                Some(files)
            }
        };
        Ok(Self {
            db,
            files,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
            flushes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            durable_writes: self.lock().requested,
            flushes: self.flushes.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
        }
    }

    /// Blocks until everything committed before this call is on stable storage. A
    /// blocking call: run it on tokio's blocking pool, after the write's transaction.
    ///
    /// The first waiter to find no flush running leads: it flushes and syncs once for
    /// every ticket handed out so far, then wakes the others, who are covered or lead the
    /// next group.
    pub(crate) fn wait_durable(&self) -> Result<(), SledStoreError> {
        let mut state = self.lock();
        state.requested += 1;
        let ticket = state.requested;
        loop {
            if let Some(error) = &state.failed {
                return Err(SledStoreError::Flush(error.to_string()));
            }
            if state.durable >= ticket {
                return Ok(());
            }
            if state.flushing {
                state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.flushing = true;
            let covered = state.requested;
            drop(state);
            let mut turn = FlushTurn {
                commit: self,
                outcome: None,
            };
            turn.outcome = Some(self.flush_and_sync().map(|()| covered));
            drop(turn);
            state = self.lock();
        }
    }

    /// One group's flush of sled's log, then the `fdatasync` of its data file.
    fn flush_and_sync(&self) -> Result<(), String> {
        self.db.flush().map_err(|error| error.to_string())?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        if let Some(files) = &self.files {
            files
                .sync_new_blobs()
                .map_err(|error| format!("syncing sled's blob files: {error}"))?;
            files
                .data
                .sync_data()
                .map_err(|error| format!("fdatasync of sled's data file: {error}"))?;
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// sled's files of one durable database.
#[derive(Debug)]
struct Files {
    /// sled's data file (`<dir>/db`, its log and pages), opened read-only for `fdatasync`
    /// (Linux syncs the file whatever the descriptor's mode).
    data: File,
    /// `<dir>/blobs`: sled writes log items over a quarter of a segment (128 KiB) to files
    /// of their own there, without ever syncing them.
    blobs: PathBuf,
    /// The blob files already synced (a blob is written once, never changed, and deleted
    /// once its item is rewritten).
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Files {
    /// Syncs the blob files written since the last call, and then the blob directory.
    /// Usually finds none: one `readdir` of an empty directory.
    fn sync_new_blobs(&self) -> std::io::Result<()> {
        let mut synced = self.synced_blobs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut present = HashSet::with_capacity(synced.len());
        let mut new = false;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(blob) => blob.sync_all()?,
                    // Deleted since the listing: its item was rewritten.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                }
                new = true;
            }
            present.insert(name);
        }
        if new {
            File::open(&self.blobs)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

/// The leader's turn: however it ends (done, or a panic inside sled), ending it publishes
/// the outcome, lets the next waiter lead and wakes everyone.
struct FlushTurn<'a> {
    commit: &'a GroupCommit,
    outcome: Option<Result<u64, String>>,
}

impl Drop for FlushTurn<'_> {
    fn drop(&mut self) {
        let mut state = self.commit.lock();
        state.flushing = false;
        match self.outcome.take() {
            Some(Ok(covered)) => state.durable = state.durable.max(covered),
            Some(Err(error)) => {
                tracing::error!(%error, "chat-store-sled: flushing to disk failed");
                state.failed = Some(Arc::from(error));
            }
            None => {}
        }
        drop(state);
        self.commit.done.notify_all();
    }
}
