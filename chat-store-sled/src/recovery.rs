//! Opening a store over its directory: the logged transactions sled lost in a crash are
//! applied again, then the log starts afresh.
//!
//! sled recovers a prefix of its own commits (its log is checksummed and replayed in
//! order), and each logged transaction stored its commit number in the `meta` tree in the
//! same sled transaction. So the number sled holds, `P`, says exactly which records of the
//! write-ahead log sled already has (`<= P`) and which it lost (`> P`): those are applied
//! again, in order, each in one sled transaction that stores its number too. Re-applying a
//! record writes the same bytes its transaction wrote (the writes are after-images, not
//! operations), and a record is never applied over a state newer than its own, so the
//! result is the state after the last logged transaction (a log marked stale aside).
//! Then sled is flushed and synced, and the old log files are deleted
//! (`GroupCommit::retire_logs_before`).
//!
//! A Relaxed store opened over a directory runs this too (a durable store's log may be
//! waiting there) and then writes without a log. A Relaxed store over a bare `sled::Db`
//! cannot (it does not know the directory): it marks the log stale in `meta` instead, and
//! the next recovery deletes such files unread rather than apply them over newer writes.

use std::path::Path;

use crate::commit::{GroupCommit, LogStart};
use crate::error::SledStoreError;
use crate::sled_files::{SledFiles, sync_directory};
use crate::trees::Trees;
use crate::wal;

/// What recovery did, for the log line and tests.
#[derive(Debug, Default)]
struct Replayed {
    files: usize,
    records: u64,
}

/// Recovers the store in `dir` from its log files and opens a new, empty log file.
pub(crate) fn open_log(
    trees: &Trees,
    dir: &Path,
    prefix: &str,
    checkpoint_bytes: u64,
) -> Result<GroupCommit, SledStoreError> {
    let sled_files = SledFiles::open(dir)?;
    let files = wal::log_files(dir, prefix).map_err(|error| wal::wal_error("listing", dir, error))?;
    let held = trees.last_commit()?;
    let mut last = held;
    let mut replayed = Replayed::default();
    let mut torn: Option<&Path> = None;
    // A store without the directory wrote without the log since these files: they are
    // older than sled's state, and are deleted unread.
    let stale = trees.log_is_stale()?;
    if stale && !files.is_empty() {
        tracing::warn!(
            files = files.len(),
            "chat-store-sled: write-ahead log files older than unlogged writes are discarded"
        );
    }
    if stale {
        // Deleted before the mark goes: a crash in between finds the mark and no files.
        for (_, path) in &files {
            std::fs::remove_file(path).map_err(|error| wal::wal_error("removing the stale", path, error))?;
        }
        sync_directory(dir).map_err(|error| wal::wal_error("syncing the directory of", dir, error))?;
        trees.clear_log_stale()?;
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
        replayed.files += 1;
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
            trees.replay(record)?;
            last = record.commit;
            replayed.records += 1;
        }
        if contents.torn_tail {
            torn = Some(path);
        }
    }
    if replayed.records > 0 {
        tracing::info!(
            files = replayed.files,
            records = replayed.records,
            last_commit = last,
            "chat-store-sled: applied the write-ahead log's transactions sled had lost"
        );
    }
    let generation = files.last().map_or(1, |(generation, _)| generation + 1);
    let commit = GroupCommit::start(LogStart {
        db: trees.db.clone(),
        dir: dir.to_path_buf(),
        prefix: prefix.to_owned(),
        sled_files,
        last_commit: last,
        generation,
        checkpoint_bytes,
    })?;
    // Also makes the cleared mark durable before anything is acknowledged.
    commit.retire_logs_before(generation).map_err(SledStoreError::Sync)?;
    Ok(commit)
}
