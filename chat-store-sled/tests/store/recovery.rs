//! Recovery from the write-ahead log: what sled lost in a crash (a power cut loses what
//! sled had not synced) is applied again from the log when the store opens, so every
//! acknowledged write reads back; a torn tail loses only the unacknowledged last record,
//! and a log with a hole is refused rather than applied over it. Checkpoints keep the log
//! short.
//!
//! A power cut is staged without one: sled's files are copied right after a flush (what a
//! crash at that moment leaves on disk), more is written, and then the log, which holds
//! the later writes, is copied next to them.

use chat_core::store::ConversationStore;
use std::path::Path;
use std::sync::Arc;

use chat_core::store::{HistoryQuery, InboxQuery};
use chat_core::testing::Fixture;
use chat_core::{ConversationId, Store};
use chat_store_sled::{SledStore, SledStoreError};

use crate::common::open_store_with;
use crate::reopen::{populate, snapshot};

/// Copies the files of a sled directory (and its `blobs`), log files included.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The store's log files in `dir`, by name.
fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("chat-wal."))
        })
        .collect();
    files.sort();
    files
}

/// Where the records of a log file end: each is its payload length (u64), a CRC (u32) and
/// the payload; zeros follow them (the file is extended ahead of its records).
fn records_end(log: &Path) -> usize {
    let bytes = std::fs::read(log).expect("log");
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let payload = u64::from_be_bytes(bytes[at..at + 8].try_into().expect("header"));
        if payload == 0 {
            break;
        }
        at += 12 + usize::try_from(payload).expect("size");
    }
    at
}

/// A store whose sled is behind its log, as after a power cut: sled's files as they were
/// after writing `populate`, the log as it is after ten more sends to `conversation`.
struct Behind {
    live: SledStore,
    fx: Fixture,
    _live_dir: tempfile::TempDir,
    behind_dir: tempfile::TempDir,
    conversation: ConversationId,
    /// Where the log's records ended when sled's files were copied: where the lost
    /// records start.
    records_at_copy: usize,
    log_name: std::ffi::OsString,
}

async fn behind() -> Behind {
    let live_dir = tempfile::tempdir().expect("temporary directory");
    let behind_dir = tempfile::tempdir().expect("temporary directory");
    // The test holds the database, so it can flush it and copy its files while it is open,
    // and sled's background flusher stays off, so nothing is written behind its back.
    let db = sled::Config::new()
        .path(live_dir.path())
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let live = open_store_with(|| chat_store_sled::SledStoreBuilder::new().db_at(db.clone(), live_dir.path()))
        .await
        .expect("open");
    let fx = Fixture::new(Arc::new(live.clone()) as Arc<dyn Store>, 4);
    populate(&fx).await;
    let conversation = fx.direct(1, 3).await;
    fx.send(1, conversation, "before the cut").await;
    db.flush().expect("flush");
    copy_dir(live_dir.path(), behind_dir.path());
    let logs = log_files(live_dir.path());
    assert_eq!(logs.len(), 1, "one log file: {logs:?}");
    let records_at_copy = records_end(&logs[0]);
    assert!(records_at_copy > 0, "the log holds the writes so far");
    for n in 0..10 {
        fx.send(3 - 2 * (n % 2), conversation, &format!("lost by sled {n}"))
            .await;
    }
    // Only the log is copied now: sled's files stay as they were at the copy.
    let log_name = logs[0].file_name().expect("name").to_owned();
    std::fs::copy(&logs[0], behind_dir.path().join(&log_name)).expect("copy the log");
    Behind {
        live,
        fx,
        _live_dir: live_dir,
        behind_dir,
        conversation,
        records_at_copy,
        log_name,
    }
}

async fn history_len(store: &SledStore, fx: &Fixture, conversation: ConversationId) -> usize {
    let query = HistoryQuery {
        after: Some(0),
        before: None,
        limit: 1000,
    };
    store
        .history_page(fx.user(1), conversation, query)
        .await
        .expect("history")
        .messages
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_sled_lost_is_applied_again_from_the_log() {
    let behind = behind().await;
    let users = behind.fx.users.clone();
    let expected = snapshot(&behind.live, &users).await;
    assert_eq!(history_len(&behind.live, &behind.fx, behind.conversation).await, 11);

    // sled alone (the log set aside) is behind: this is what the log must make up for.
    let bare = tempfile::tempdir().expect("temporary directory");
    copy_dir(behind.behind_dir.path(), bare.path());
    std::fs::remove_file(bare.path().join(&behind.log_name)).expect("set the log aside");
    let sled_only = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(bare.path()))
        .await
        .expect("open");
    assert_eq!(history_len(&sled_only, &behind.fx, behind.conversation).await, 1);
    drop(sled_only);

    let recovered = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(behind.behind_dir.path()))
        .await
        .expect("open and recover");
    assert_eq!(
        snapshot(&recovered, &users).await,
        expected,
        "after recovery every acknowledged write reads back, with its counters"
    );
    // The applied log is retired: one new, empty log file remains.
    let logs = log_files(behind.behind_dir.path());
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(records_end(&logs[0]), 0);
    // And the store goes on from there.
    let fx = Fixture::new(Arc::new(recovered.clone()) as Arc<dyn Store>, 2);
    let id = fx.direct(0, 1).await;
    fx.send(0, id, "after recovery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_loses_only_the_last_record() {
    let behind = behind().await;
    let log = behind.behind_dir.path().join(&behind.log_name);
    let end = u64::try_from(records_end(&log)).expect("size");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open the log")
        .set_len(end - 3)
        .expect("tear the tail");
    let recovered = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(behind.behind_dir.path()))
        .await
        .expect("open and recover");
    assert_eq!(
        history_len(&recovered, &behind.fx, behind.conversation).await,
        10,
        "every whole record is applied; the torn one (the last send) is not"
    );
    let stats = recovered.stats(behind.fx.user(1)).await.expect("stats");
    let inbox_unread: u64 = recovered
        .inbox_page(
            behind.fx.user(1),
            InboxQuery {
                limit: 100,
                ..InboxQuery::default()
            },
        )
        .await
        .expect("inbox")
        .iter()
        .map(|row| row.participant(&behind.fx.user(1).user).map_or(0, |p| p.unread_count))
        .sum();
    assert_eq!(stats.unread_messages, inbox_unread, "counters agree after recovery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_with_a_hole_is_refused() {
    let behind = behind().await;
    let log = behind.behind_dir.path().join(&behind.log_name);
    let bytes = std::fs::read(&log).expect("log");
    // Cut out the first record sled lost (records: payload length u64, CRC u32, payload).
    let start = behind.records_at_copy;
    let payload = u64::from_be_bytes(bytes[start..start + 8].try_into().expect("header"));
    let end = start + 12 + usize::try_from(payload).expect("size");
    let holed = [&bytes[..start], &bytes[end..]].concat();
    std::fs::write(&log, holed).expect("write");
    let error = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(behind.behind_dir.path()))
        .await
        .expect_err("a hole in the log");
    assert!(
        matches!(
            error,
            SledStoreError::Corrupt {
                what: "write-ahead log",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_keep_the_log_short() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let open = || {
        open_store_with(|| {
            chat_store_sled::SledStoreBuilder::new()
                .path(dir.path())
                .checkpoint_bytes(16 * 1024)
        })
    };
    let store = open().await.expect("open");
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
    populate(&fx).await;
    let conversation = fx.direct(1, 2).await;
    for n in 0..100 {
        fx.send(1 + n % 2, conversation, "a send that fills the log").await;
    }
    let stats = store.engine().log_stats();
    assert!(stats.checkpoints >= 3, "{stats:?}");
    let logs = log_files(dir.path());
    assert!(logs.len() <= 2, "older log files are deleted: {logs:?}");
    let total: usize = logs.iter().map(|log| records_end(log)).sum();
    assert!(total < 64 * 1024, "{total} bytes of log records");
    let users = fx.users.clone();
    let before = snapshot(&store, &users).await;
    drop(fx);
    drop(store);
    let reopened = open().await.expect("reopen");
    assert_eq!(snapshot(&reopened, &users).await, before);
}

/// A Relaxed store over the database in `dir` opened by the test itself (a bare
/// `sled::Db`: the store does not know the directory).
async fn open_bare_relaxed(dir: &Path) -> SledStore {
    let db = sled::open(dir).expect("sled");
    open_store_with(|| {
        chat_store_sled::SledStoreBuilder::new()
            .db(db.clone())
            .durability(chat_store_sled::Durability::Relaxed)
    })
    .await
    .expect("open relaxed over the bare database")
}

/// A Relaxed store over a bare `sled::Db` cannot apply a log it does not know of; it marks
/// the log stale, so a later open deletes it rather than apply old records over its writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_outlived_by_unlogged_writes_is_discarded_not_applied() {
    let behind = behind().await;
    let dir = behind.behind_dir.path().to_path_buf();
    {
        let relaxed = open_bare_relaxed(&dir).await;
        assert_eq!(history_len(&relaxed, &behind.fx, behind.conversation).await, 1);
        let fx = behind.fx.over(Arc::new(relaxed.clone()) as Arc<dyn Store>);
        fx.send(1, behind.conversation, "written without the log").await;
        relaxed.engine().flush().expect("flush");
    }
    let reopened = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(&dir))
        .await
        .expect("reopen durable");
    assert_eq!(
        history_len(&reopened, &behind.fx, behind.conversation).await,
        2,
        "the unlogged send stays and the stale log's sends are not applied over it"
    );
    assert_eq!(log_files(&dir).len(), 1, "the stale log is deleted");
    let fx = behind.fx.over(Arc::new(reopened.clone()) as Arc<dyn Store>);
    fx.send(3, behind.conversation, "and the log starts afresh").await;
    assert_eq!(history_len(&reopened, &behind.fx, behind.conversation).await, 3);
}

/// Only an unlogged write marks the log stale: a Relaxed store over a bare `sled::Db` that
/// only reads leaves the log to be applied by the next store over the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_store_that_only_reads_leaves_the_log_to_be_applied() {
    let behind = behind().await;
    let dir = behind.behind_dir.path().to_path_buf();
    {
        let relaxed = open_bare_relaxed(&dir).await;
        assert_eq!(history_len(&relaxed, &behind.fx, behind.conversation).await, 1);
    }
    let reopened = open_store_with(|| chat_store_sled::SledStoreBuilder::new().path(&dir))
        .await
        .expect("reopen durable");
    assert_eq!(
        history_len(&reopened, &behind.fx, behind.conversation).await,
        11,
        "the log is applied: every acknowledged send is back"
    );
}
