//! The write side of a durable store's write-ahead log: each batch the kernel commits is
//! appended as one record and `fdatasync`ed before sled is given it, and checkpoints keep
//! the log short.
//!
//! sled 0.34 cannot make a write stable cheaply (it writes and range-syncs its I/O buffer
//! twice per transaction, and its `flush` must wait for all of them; bench/README.md has
//! the profile). So sled runs without waiting, and a batch is made stable by one `write`
//! and one `fdatasync` of our file. Group commit is the kernel's: it hands over the writes
//! of every transaction gathered meanwhile as one batch, one commit at a time.
//!
//! Once the current file passes the checkpoint size, the next commit starts a new file,
//! flushes sled and `fdatasync`s sled's files ([`SledFiles::flush_and_sync`]), and only
//! then deletes the older files: everything they held is by then stable in sled itself.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chat_core::kernel::WriteBatch;

use crate::error::SledStoreError;
use crate::sled_files::{SledFiles, sync_directory};
use crate::wal;

/// The log size past which a checkpoint starts a new log file (64 MiB), unless
/// [`crate::SledStoreBuilder::checkpoint_bytes`] says otherwise.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

/// The first extension of a log file with zeros (64 KiB): a store that writes little never
/// writes much more.
const FIRST_EXTENSION: u64 = 64 << 10;
/// The largest extension (4 MiB).
const MAX_EXTENSION: u64 = 4 << 20;

/// Counters of a durable store's write-ahead log, for monitoring
/// ([`crate::SledEngine::log_stats`]); the kernel's
/// [`commit_stats`](chat_core::kernel::KvStore::commit_stats) counts writes and groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// `fdatasync` calls of the log: one per committed group.
    pub syncs: u64,
    /// Checkpoints: sled flushed and synced, older log files deleted.
    pub checkpoints: u64,
}

/// One open log file.
#[derive(Debug)]
struct LogFile {
    file: File,
    generation: u64,
    /// The records end here (the file's cursor).
    end: u64,
    /// The file is extended with zeros up to here.
    allocated: u64,
    /// The next extension (doubling from [`FIRST_EXTENSION`] up to [`MAX_EXTENSION`]).
    extension: u64,
}

impl LogFile {
    /// Creates the empty log file of `generation` and makes its directory entry stable.
    fn create(dir: &std::path::Path, prefix: &str, generation: u64) -> Result<Self, String> {
        let path = wal::file_path(dir, prefix, generation);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|error| format!("creating {}: {error}", path.display()))?;
        sync_directory(dir).map_err(|error| format!("syncing {}: {error}", dir.display()))?;
        Ok(Self {
            file,
            generation,
            end: 0,
            allocated: 0,
            extension: FIRST_EXTENSION,
        })
    }

    /// Appends `record` at the records' end. When it does not fit in the zeros ahead, the
    /// file is first extended with more zeros, so that most `fdatasync`s have no size
    /// change to write (on ext4 that spares a journal commit per group).
    fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        let needed = self.end + record.len() as u64;
        if needed > self.allocated {
            let target = needed.max(self.allocated + self.extension);
            self.file.seek(SeekFrom::Start(self.allocated))?;
            let zeros = vec![0u8; usize::try_from(target - self.allocated).unwrap_or(usize::MAX)];
            self.file.write_all(&zeros)?;
            self.file.seek(SeekFrom::Start(self.end))?;
            self.allocated = target;
            self.extension = (self.extension * 2).min(MAX_EXTENSION);
        }
        self.file.write_all(record)?;
        self.end = needed;
        Ok(())
    }
}

#[derive(Debug)]
struct LogState {
    file: LogFile,
    /// The number of the last record appended.
    last_commit: u64,
    /// Set when a write, sync or checkpoint failed: the log may end in a torn record, so
    /// nothing more may be appended after it.
    failed: Option<String>,
}

/// What starting a log needs: where it lives and where recovery left it.
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

/// The write-ahead log of one durable store.
#[derive(Debug)]
pub(crate) struct WriteAheadLog {
    db: sled::Db,
    dir: PathBuf,
    prefix: String,
    sled_files: SledFiles,
    checkpoint_bytes: u64,
    state: Mutex<LogState>,
    syncs: AtomicU64,
    checkpoints: AtomicU64,
}

impl WriteAheadLog {
    /// Starts writing to a new, empty log file of `start.generation`.
    pub(crate) fn start(start: LogStart) -> Result<Self, SledStoreError> {
        let file = LogFile::create(&start.dir, &start.prefix, start.generation).map_err(SledStoreError::Sync)?;
        Ok(Self {
            db: start.db,
            dir: start.dir,
            prefix: start.prefix,
            sled_files: start.sled_files,
            checkpoint_bytes: start.checkpoint_bytes.max(1),
            state: Mutex::new(LogState {
                file,
                last_commit: start.last_commit,
                failed: None,
            }),
            syncs: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> LogStats {
        LogStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
        }
    }

    /// Appends `batch` as the next record and syncs the file: once this returns, the batch
    /// survives a crash. Returns the record's number, which the caller stores in sled with
    /// the batch. A failure here, or an earlier one, refuses the batch.
    pub(crate) fn append(&self, batch: &WriteBatch) -> Result<u64, String> {
        let mut state = self.lock();
        if let Some(error) = &state.failed {
            return Err(format!("the write-ahead log failed earlier: {error}"));
        }
        let commit = state.last_commit + 1;
        let mut record = Vec::new();
        wal::encode_record(&mut record, commit, batch);
        let written = state
            .file
            .append(&record)
            .map_err(|error| format!("writing the write-ahead log: {error}"))
            .and_then(|()| {
                state
                    .file
                    .file
                    .sync_data()
                    .map_err(|error| format!("fdatasync of the write-ahead log: {error}"))
            });
        if let Err(error) = written {
            tracing::error!(%error, "chat-store-sled: the write-ahead log failed");
            state.failed = Some(error.clone());
            return Err(error);
        }
        self.syncs.fetch_add(1, Ordering::Relaxed);
        state.last_commit = commit;
        Ok(commit)
    }

    /// Once the current file has passed the checkpoint size (after a batch is applied to
    /// sled): starts a new file, makes everything sled holds stable, deletes the older
    /// files. A failure refuses every later batch (the batch just logged stays
    /// acknowledged: it is durable in the log).
    pub(crate) fn checkpoint_if_due(&self) {
        let mut state = self.lock();
        if state.file.end < self.checkpoint_bytes || state.failed.is_some() {
            return;
        }
        let generation = state.file.generation + 1;
        let done = LogFile::create(&self.dir, &self.prefix, generation).and_then(|file| {
            state.file = file;
            self.retire_logs_before(generation)
        });
        if let Err(error) = done {
            tracing::error!(%error, "chat-store-sled: checkpoint of the write-ahead log failed");
            state.failed = Some(error);
        }
    }

    /// Flushes and syncs sled, then deletes the log files older than `generation`: every
    /// record in them was applied to sled before, so the flush covers it. Also what
    /// opening a store ends with, once recovery has applied those files.
    pub(crate) fn retire_logs_before(&self, generation: u64) -> Result<(), String> {
        retire_logs_before(&self.db, &self.sled_files, &self.dir, &self.prefix, generation)?;
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Flushes and syncs sled, then deletes the log files of `prefix` in `dir` older than
/// `generation`, and syncs the directory.
pub(crate) fn retire_logs_before(
    db: &sled::Db,
    sled_files: &SledFiles,
    dir: &std::path::Path,
    prefix: &str,
    generation: u64,
) -> Result<(), String> {
    sled_files.flush_and_sync(db)?;
    let older = wal::log_files(dir, prefix).map_err(|error| error.to_string())?;
    for (old, path) in older.into_iter().filter(|(old, _)| *old < generation) {
        std::fs::remove_file(&path)
            .map_err(|error| format!("removing the write-ahead log of generation {old}: {error}"))?;
    }
    sync_directory(dir).map_err(|error| format!("syncing {}: {error}", dir.display()))
}
