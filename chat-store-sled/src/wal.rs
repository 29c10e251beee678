//! The store's write-ahead log: the files, and the format of their records.
//!
//! A durable store appends each committed transaction's writes to a log file of its own in
//! sled's directory, `chat-wal.<prefix in hex>.<generation>`, and acknowledges a write once
//! the log holds it and is `fdatasync`ed (`commit.rs`). Each record is
//!
//! ```text
//! payload length (u64 BE) | CRC-32 of the payload (u32 BE) | payload
//! payload = commit number (u64 BE) | write count (u64 BE) | writes
//! write   = tree (u8) | key length (u64 BE) | key | 0 (removed) or 1 | value length (u64 BE) | value
//! ```
//!
//! Commit numbers count the logged transactions of the store, one after the other; each
//! transaction also stores its number in the store's `meta` tree, so after a crash the
//! records past the number sled recovered are exactly the ones to apply again
//! (`recovery.rs`). A record cut short, or whose checksum fails, ends the log: it is the
//! tail a crash cut off while it was written, and was never acknowledged.
//!
//! The file is extended with zeros ahead of the records (`commit.rs`), so that a group's
//! `fdatasync` writes data only, not the file's new size. A payload length of 0, which no
//! record has, therefore marks the end of the records.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sled::IVec;

use crate::error::SledStoreError;
use crate::logged_tree::Write;

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

/// Appends the record of transaction `commit` with `writes` to `buffer`.
pub(crate) fn encode_record(buffer: &mut Vec<u8>, commit: u64, writes: &[Write]) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; 12]);
    buffer.extend_from_slice(&commit.to_be_bytes());
    buffer.extend_from_slice(&(writes.len() as u64).to_be_bytes());
    for write in writes {
        buffer.push(write.tree);
        buffer.extend_from_slice(&(write.key.len() as u64).to_be_bytes());
        buffer.extend_from_slice(&write.key);
        match &write.value {
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

fn take_bytes(rest: &mut &[u8]) -> Option<IVec> {
    let len = usize::try_from(take_u64(rest)?).ok()?;
    if rest.len() < len {
        return None;
    }
    let (bytes, after) = rest.split_at(len);
    *rest = after;
    Some(IVec::from(bytes))
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
            key: IVec::from(key),
            value: value.map(IVec::from),
        }
    }

    #[test]
    fn records_read_back_and_a_torn_tail_ends_the_log() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = file_path(dir.path(), "chat", 1);
        let first = vec![write(0, b"a", Some(b"one")), write(4, b"b", None)];
        let second = vec![write(12, b"", Some(&[0; 300]))];
        let mut buffer = Vec::new();
        encode_record(&mut buffer, 7, &first);
        encode_record(&mut buffer, 8, &second);
        let whole = buffer.len();
        encode_record(&mut buffer, 9, &first);
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
