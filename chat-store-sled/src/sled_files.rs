//! sled's own files in a durable store's directory, and their sync: what a checkpoint of
//! the write-ahead log makes stable before the log's older files go.
//!
//! sled's `flush` ends with `sync_file_range` (Linux), which writes the pages out but
//! neither flushes the drive's volatile cache nor the file's metadata (its size, once the
//! log grows). [`SledFiles::sync`] follows it with `fdatasync` of sled's data file, which
//! does both, after syncing any new blob file.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::SledStoreError;

/// sled's files of one durable database.
#[derive(Debug)]
pub(crate) struct SledFiles {
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

impl SledFiles {
    /// sled's files in `dir`, synced once (the data file, `conf`, the blob files and the
    /// directory), so that their directory entries are stable before anything relies on
    /// them.
    pub(crate) fn open(dir: &Path) -> Result<Self, SledStoreError> {
        let sync_error =
            |what: &str, error: std::io::Error| SledStoreError::Sync(format!("{what} in {}: {error}", dir.display()));
        let data = File::open(dir.join("db")).map_err(|error| sync_error("opening sled's data file", error))?;
        data.sync_all()
            .map_err(|error| sync_error("syncing sled's data file", error))?;
        if let Ok(conf) = File::open(dir.join("conf")) {
            conf.sync_all()
                .map_err(|error| sync_error("syncing sled's conf", error))?;
        }
        sync_directory(dir).map_err(|error| sync_error("syncing the directory", error))?;
        let files = Self {
            data,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        files
            .sync_new_blobs()
            .map_err(|error| sync_error("syncing sled's blob files", error))?;
        Ok(files)
    }

    /// Flushes `db` and makes what it wrote stable: the new blob files, then `fdatasync`
    /// of the data file. Everything committed before the call is then on stable storage.
    pub(crate) fn flush_and_sync(&self, db: &sled::Db) -> Result<(), String> {
        db.flush().map_err(|error| error.to_string())?;
        self.sync_new_blobs()
            .map_err(|error| format!("syncing sled's blob files: {error}"))?;
        self.data
            .sync_data()
            .map_err(|error| format!("fdatasync of sled's data file: {error}"))
    }
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
            sync_directory(&self.blobs)?;
        }
        *synced = present;
        Ok(())
    }
}

/// `fsync` of a directory: its entries (files created, renamed or removed) are stable.
pub(crate) fn sync_directory(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
