//! The store's write-ahead log: the files, and the format of their records.
//!
//! A durable store appends each batch the kernel commits (the writes of one group of
//! transactions) to a log file of its own in sled's directory,
//! `chat-wal.<prefix in hex>.<generation>`, and the batch is acknowledged once the log holds
//! it and is `fdatasync`ed (`log.rs`). Each record is
//!
//! ```text
//! payload length (u64 BE) | CRC-32 of the payload (u32 BE) | payload
//! payload = commit number (u64 BE) | write count (u64 BE) | writes
//! write   = tree (u8) | key length (u64 BE) | key | 0 (removed) or 1 | value length (u64 BE) | value
//! tree    = 0xff: the kernel's keyspace (layout 2); 0..=12: a tree of layout 1
//! ```
//!
//! Commit numbers count the logged batches of the store, one after the other; each batch
//! also stores its number in sled, in the same sled batch, so after a crash the records
//! past the number sled recovered are exactly the ones to apply again (`recovery.rs`). A record cut short, or whose checksum fails, ends the log: it is the
//! tail a crash cut off while it was written, and was never acknowledged.
//!
//! The file is extended with zeros ahead of the records (`log.rs`), so that a group's
//! `fdatasync` writes data only, not the file's new size. A payload length of 0, which no
//! record has, therefore marks the end of the records.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chat_core::kernel::WriteBatch;

use crate::error::SledStoreError;

/// The `tree` byte of a write in the kernel's keyspace (every record this version writes).
/// Records of layout version 1 name one of its 13 trees by position (0..=12) instead; their
/// keys are the kernel's without its kind byte, which is the position plus one.
pub(crate) const KEYSPACE: u8 = 0xff;

/// The number of trees of layout version 1.
const V1_TREES: u8 = 13;

/// One write of a logged transaction: `value` `None` removes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    /// [`KEYSPACE`], or a tree of layout version 1.
    pub(crate) tree: u8,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
}

impl Write {
    /// The write's key in the kernel's keyspace; `None` for a tree no layout had.
    pub(crate) fn keyspace_key(&self) -> Option<Vec<u8>> {
        match self.tree {
            KEYSPACE => Some(self.key.clone()),
            tree if tree < V1_TREES => Some([&[tree + 1][..], &self.key].concat()),
            _ => None,
        }
    }
}

/// The file-name start of a store's log files (`chat-wal.<prefix in hex>.`).
pub(crate) fn file_stem(prefix: &str) -> String {
    let hex: String = prefix.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("chat-wal.{hex}.")
}

/// The log file of `generation`.
pub(crate) fn file_path(dir: &Path, prefix: &str, generation: u64) -> PathBuf {
    dir.join(format!("{}{generation}", file_stem(prefix)))
}

/// The store's log files in `dir`, oldest generation first.
pub(crate) fn log_files(dir: &Path, prefix: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let stem = file_stem(prefix);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(generation) = name
            .to_str()
            .and_then(|name| name.strip_prefix(&stem))
            .and_then(|generation| generation.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((generation, entry.path()));
    }
    files.sort_unstable_by_key(|(generation, _)| *generation);
    Ok(files)
}

/// Appends the record of commit `commit` with the kernel's `batch` to `buffer`.
pub(crate) fn encode_record(buffer: &mut Vec<u8>, commit: u64, batch: &WriteBatch) {
    encode_writes(
        buffer,
        commit,
        batch
            .iter()
            .map(|(key, value)| (KEYSPACE, key.as_slice(), value.as_deref())),
        batch.len(),
    );
}

/// Appends a record of `count` writes (tree, key, value) to `buffer`.
fn encode_writes<'a>(
    buffer: &mut Vec<u8>,
    commit: u64,
    writes: impl Iterator<Item = (u8, &'a [u8], Option<&'a [u8]>)>,
    count: usize,
) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; 12]);
    buffer.extend_from_slice(&commit.to_be_bytes());
    buffer.extend_from_slice(&(count as u64).to_be_bytes());
    for (tree, key, value) in writes {
        buffer.push(tree);
        buffer.extend_from_slice(&(key.len() as u64).to_be_bytes());
        buffer.extend_from_slice(key);
        match value {
            None => buffer.push(0),
            Some(value) => {
                buffer.push(1);
                buffer.extend_from_slice(&(value.len() as u64).to_be_bytes());
                buffer.extend_from_slice(value);
            }
        }
    }
    let payload_len = (buffer.len() - start - 12) as u64;
    let crc = crc32fast::hash(&buffer[start + 12..]);
    buffer[start..start + 8].copy_from_slice(&payload_len.to_be_bytes());
    buffer[start + 8..start + 12].copy_from_slice(&crc.to_be_bytes());
}

/// One logged transaction read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) commit: u64,
    pub(crate) writes: Vec<Write>,
}

/// What reading a log file found.
#[derive(Debug, Default)]
pub(crate) struct LogContents {
    /// Its whole records, in order.
    pub(crate) records: Vec<Record>,
    /// True when the file ends in a record cut short or failing its checksum.
    pub(crate) torn_tail: bool,
}

/// Reads the records of one log file, up to its end or a torn tail.
pub(crate) fn read_log(path: &Path) -> Result<LogContents, SledStoreError> {
    let file = File::open(path).map_err(|error| wal_error("opening", path, error))?;
    let mut reader = BufReader::new(file);
    let mut contents = LogContents::default();
    loop {
        let mut header = [0u8; 12];
        match read_full(&mut reader, &mut header).map_err(|error| wal_error("reading", path, error))? {
            0 => return Ok(contents),
            12 => {}
            _ => {
                contents.torn_tail = true;
                return Ok(contents);
            }
        }
        let payload_len = u64::from_be_bytes(header[..8].try_into().unwrap_or_default());
        let crc = u32::from_be_bytes(header[8..].try_into().unwrap_or_default());
        if payload_len == 0 {
            // The zeros ahead of the records (or a header torn before its length).
            contents.torn_tail = header != [0; 12];
            return Ok(contents);
        }
        // A length past the file's end is a torn (or damaged) header: read what is there
        // without trusting the length for the allocation.
        let mut payload = Vec::new();
        let read = (&mut reader)
            .take(payload_len)
            .read_to_end(&mut payload)
            .map_err(|error| wal_error("reading", path, error))?;
        if (read as u64) < payload_len || crc32fast::hash(&payload) != crc {
            contents.torn_tail = true;
            return Ok(contents);
        }
        match decode_payload(&payload) {
            Some(record) => contents.records.push(record),
            None => {
                return Err(SledStoreError::corrupt(
                    "write-ahead log",
                    format!("a record of {} passes its checksum but does not decode", path.display()),
                ));
            }
        }
    }
}

/// Reads until `buffer` is full or the file ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn decode_payload(payload: &[u8]) -> Option<Record> {
    let mut rest = payload;
    let commit = take_u64(&mut rest)?;
    let count = take_u64(&mut rest)?;
    let mut writes = Vec::new();
    for _ in 0..count {
        let (&tree, after) = rest.split_first()?;
        rest = after;
        let key = take_bytes(&mut rest)?;
        let (&present, after) = rest.split_first()?;
        rest = after;
        let value = match present {
            0 => None,
            1 => Some(take_bytes(&mut rest)?),
            _ => return None,
        };
        writes.push(Write { tree, key, value });
    }
    rest.is_empty().then_some(Record { commit, writes })
}

fn take_u64(rest: &mut &[u8]) -> Option<u64> {
    let (number, after) = rest.split_first_chunk::<8>()?;
    *rest = after;
    Some(u64::from_be_bytes(*number))
}

fn take_bytes(rest: &mut &[u8]) -> Option<Vec<u8>> {
    let len = usize::try_from(take_u64(rest)?).ok()?;
    if rest.len() < len {
        return None;
    }
    let (bytes, after) = rest.split_at(len);
    *rest = after;
    Some(bytes.to_vec())
}

pub(crate) fn wal_error(what: &str, path: &Path, error: std::io::Error) -> SledStoreError {
    SledStoreError::Sync(format!("{what} the write-ahead log {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn write(tree: u8, key: &[u8], value: Option<&[u8]>) -> Write {
        Write {
            tree,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        }
    }

    fn encode(buffer: &mut Vec<u8>, commit: u64, writes: &[Write]) {
        let writes_iter = writes
            .iter()
            .map(|write| (write.tree, write.key.as_slice(), write.value.as_deref()));
        encode_writes(buffer, commit, writes_iter, writes.len());
    }

    #[test]
    fn batches_are_logged_in_the_keyspace_and_version_1_trees_map_to_kinds() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = file_path(dir.path(), "chat", 1);
        let batch = WriteBatch::from([(vec![3, 1], Some(vec![9])), (vec![1, 2], None)]);
        let mut buffer = Vec::new();
        encode_record(&mut buffer, 5, &batch);
        std::fs::write(&path, &buffer).expect("write the log");
        let read = read_log(&path).expect("read");
        let keys: Vec<_> = read.records[0].writes.iter().map(Write::keyspace_key).collect();
        assert_eq!(keys, [Some(vec![1, 2]), Some(vec![3, 1])]);
        assert_eq!(write(0, b"id", None).keyspace_key(), Some(b"\x01id".to_vec()));
        assert_eq!(write(12, b"r", None).keyspace_key(), Some(b"\x0dr".to_vec()));
        assert_eq!(write(13, b"r", None).keyspace_key(), None);
    }

    #[test]
    fn records_read_back_and_a_torn_tail_ends_the_log() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = file_path(dir.path(), "chat", 1);
        let first = vec![write(0, b"a", Some(b"one")), write(4, b"b", None)];
        let second = vec![write(12, b"", Some(&[0; 300]))];
        let mut buffer = Vec::new();
        encode(&mut buffer, 7, &first);
        encode(&mut buffer, 8, &second);
        let whole = buffer.len();
        encode(&mut buffer, 9, &first);
        std::fs::write(&path, &buffer).expect("write the log");
        let read = read_log(&path).expect("read");
        assert_eq!(read.records.len(), 3);
        assert!(!read.torn_tail);
        assert_eq!(
            read.records[0],
            Record {
                commit: 7,
                writes: first.clone()
            }
        );
        assert_eq!(read.records[1].writes, second);

        // Every cut inside the third record leaves the first two and reports the tear.
        for cut in whole + 1..buffer.len() {
            std::fs::write(&path, &buffer[..cut]).expect("write the log");
            let read = read_log(&path).expect("read");
            assert_eq!(read.records.len(), 2, "cut at {cut}");
            assert!(read.torn_tail, "cut at {cut}");
        }
        // A flipped byte in the last record's payload fails its checksum.
        let mut damaged = buffer.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        std::fs::write(&path, &damaged).expect("write the log");
        let read = read_log(&path).expect("read");
        assert_eq!((read.records.len(), read.torn_tail), (2, true));
        // The zeros the file is extended with end the records, and are no tear.
        std::fs::write(&path, [&buffer[..whole], &[0; 4096][..]].concat()).expect("write the log");
        let read = read_log(&path).expect("read");
        assert_eq!((read.records.len(), read.torn_tail), (2, false));
        // A record torn in the zeros: a tear.
        let torn_in_zeros = [&buffer[..whole + 20], &[0; 4096][..]].concat();
        std::fs::write(&path, torn_in_zeros).expect("write the log");
        let read = read_log(&path).expect("read");
        assert_eq!((read.records.len(), read.torn_tail), (2, true));
        std::fs::write(&path, &buffer).expect("write the log");
        // A torn header that claims a huge length allocates nothing and ends the log.
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(&u64::MAX.to_be_bytes()).expect("append");
        let read = read_log(&path).expect("read");
        assert_eq!((read.records.len(), read.torn_tail), (3, true));
    }

    #[test]
    fn log_files_are_listed_by_generation_and_per_prefix() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (prefix, generation) in [("chat", 10), ("chat", 9), ("other", 1), ("chat", 11)] {
            std::fs::write(file_path(dir.path(), prefix, generation), b"").expect("create");
        }
        std::fs::write(dir.path().join("db"), b"").expect("create");
        let generations: Vec<u64> = log_files(dir.path(), "chat")
            .expect("list")
            .into_iter()
            .map(|(generation, _)| generation)
            .collect();
        assert_eq!(generations, [9, 10, 11]);
    }
}
