//! Opening a store over its directory: the logged batches sled lost in a crash are applied
//! again, then the log starts afresh.
//!
//! sled recovers a prefix of its own commits (its log is checksummed and replayed in
//! order), and each logged batch stored its number in the same sled batch. So the number
//! sled holds, `P`, says exactly which records of the write-ahead log sled already has
//! (`<= P`) and which it lost (`> P`): those are applied again, in order, each in one sled
//! batch that stores its number too. Re-applying a record writes the same bytes its batch
//! wrote (the writes are after-images, not operations), and a record is never applied over
//! a state newer than its own, so the result is the state after the last logged batch (a
//! log marked stale aside). Then sled is flushed and synced, and the old log files are
//! deleted. Records of layout 1 (a tree per kind) land in the keyspace the layout moved
//! them to.

use std::path::{Path, PathBuf};

use crate::error::SledStoreError;
use crate::layout;
use crate::log::{LogStart, retire_logs_before};
use crate::sled_files::{SledFiles, sync_directory};
use crate::wal::{self, Record};

/// Where recovery left a store's directory: what a write-ahead log continues from.
pub(crate) struct Recovered {
    pub(crate) sled_files: SledFiles,
    pub(crate) last_commit: u64,
    pub(crate) generation: u64,
}

impl Recovered {
    /// What starting a new log after recovery needs.
    pub(crate) fn log_start(self, db: &sled::Db, dir: PathBuf, prefix: &str, checkpoint_bytes: u64) -> LogStart {
        LogStart {
            db: db.clone(),
            dir,
            prefix: prefix.to_owned(),
            sled_files: self.sled_files,
            last_commit: self.last_commit,
            generation: self.generation,
            checkpoint_bytes,
        }
    }
}

/// The number of the last logged batch `tree` holds (0 before the first).
fn last_commit(tree: &sled::Tree) -> Result<u64, SledStoreError> {
    match tree.get(layout::LAST_COMMIT)? {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| SledStoreError::corrupt("commit number", format!("{} bytes", bytes.len()))),
    }
}

/// Applies a logged batch again, with its number (one sled batch).
fn replay(tree: &sled::Tree, record: &Record) -> Result<(), SledStoreError> {
    let mut batch = sled::Batch::default();
    for write in &record.writes {
        let key = write.keyspace_key().ok_or_else(|| {
            SledStoreError::corrupt(
                "write-ahead log",
                format!("commit {} writes to tree {}", record.commit, write.tree),
            )
        })?;
        match &write.value {
            Some(value) => batch.insert(key, value.as_slice()),
            None => batch.remove(key),
        }
    }
    batch.insert(layout::LAST_COMMIT, &record.commit.to_be_bytes());
    tree.apply_batch(batch)
        .map_err(|error| SledStoreError::Replay(error.to_string()))
}

/// Recovers the store in `dir` from its log files, makes sled stable and deletes the
/// files. A torn tail ends the log; a hole (a record missing before later ones) is refused
/// as [`SledStoreError::Corrupt`] rather than applied over.
pub(crate) fn recover(db: &sled::Db, tree: &sled::Tree, dir: &Path, prefix: &str) -> Result<Recovered, SledStoreError> {
    let sled_files = SledFiles::open(dir)?;
    let files = wal::log_files(dir, prefix).map_err(|error| wal::wal_error("listing", dir, error))?;
    let held = last_commit(tree)?;
    let mut last = held;
    let mut records = 0u64;
    let mut torn: Option<&Path> = None;
    // A store without the directory wrote without the log since these files: they are
    // older than sled's state, and are deleted unread.
    let stale = tree.get(layout::LOG_STALE)?.is_some();
    if stale {
        if !files.is_empty() {
            tracing::warn!(
                files = files.len(),
                "chat-store-sled: write-ahead log files older than unlogged writes are discarded"
            );
        }
        // Deleted before the mark goes: a crash in between finds the mark and no files.
        for (_, path) in &files {
            std::fs::remove_file(path).map_err(|error| wal::wal_error("removing the stale", path, error))?;
        }
        sync_directory(dir).map_err(|error| wal::wal_error("syncing the directory of", dir, error))?;
        tree.remove(layout::LOG_STALE)?;
    }
    for (_, path) in files.iter().filter(|_| !stale) {
        let contents = wal::read_log(path)?;
        if let Some(torn) = torn
            && !contents.records.is_empty()
        {
            return Err(SledStoreError::corrupt(
                "write-ahead log",
                format!(
                    "{} ends in a damaged record, yet {} follows it",
                    torn.display(),
                    path.display()
                ),
            ));
        }
        for record in contents.records.iter().filter(|record| record.commit > held) {
            if record.commit != last + 1 {
                return Err(SledStoreError::corrupt(
                    "write-ahead log",
                    format!(
                        "commit {} follows commit {last} in {} (sled holds {held})",
                        record.commit,
                        path.display()
                    ),
                ));
            }
            replay(tree, record)?;
            last = record.commit;
            records += 1;
        }
        if contents.torn_tail {
            torn = Some(path);
        }
    }
    if records > 0 {
        tracing::info!(
            files = files.len(),
            records,
            last_commit = last,
            "chat-store-sled: applied the write-ahead log's batches sled had lost"
        );
    }
    let generation = files.last().map_or(1, |(generation, _)| generation + 1);
    // Also makes the cleared stale mark durable before anything is acknowledged.
    retire_logs_before(db, &sled_files, dir, prefix, generation).map_err(SledStoreError::Sync)?;
    Ok(Recovered {
        sled_files,
        last_commit: last,
        generation,
    })
}
