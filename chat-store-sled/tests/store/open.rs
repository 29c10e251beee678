//! Opening: the builder over a path or a host's `sled::Db`, the format marker, and clear
//! errors (never panics) for foreign, newer or corrupt databases.

use chat_core::store::ConversationStore;
use std::sync::Arc;

use chat_core::testing::Fixture;
use chat_core::{ChatError, InboxFilter, Store};
use chat_store_sled::{FORMAT_VERSION, SledStore, SledStoreError};

use crate::common::{LOCK_WAIT, is_lock_held, open_store};

/// Opens the directory with sled itself, waiting up to [`LOCK_WAIT`] for its lock; any
/// other error is returned at once.
fn sled_open(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::open(path) {
            Err(error) if is_lock_held(&error) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// [`sled_open`], which must succeed.
fn open_db(path: &std::path::Path) -> sled::Db {
    sled_open(path).unwrap_or_else(|error| panic!("open sled directly: {error:?}"))
}

/// Opens the store at `path` right after a raw [`sled::Db`] (or another store) on it was
/// dropped.
async fn reopen_after_raw_db(path: &std::path::Path) -> SledStore {
    open_store(path).await.expect("reopen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_database_is_shared_without_touching_its_trees() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open_db(dir.path());
    let orders = db.open_tree("host/orders").expect("host tree");
    orders.insert(b"order-1", b"paid").expect("host write");

    let chat = chat_store_sled::SledStoreBuilder::new()
        .db_at(db.clone(), dir.path())
        .open()
        .await
        .expect("chat store");
    let support = chat_store_sled::SledStoreBuilder::new()
        .db_at(db.clone(), dir.path())
        .tree_prefix("support")
        .open()
        .await
        .expect("second store, other prefix");
    let fx = Fixture::new(Arc::new(chat.clone()) as Arc<dyn Store>, 2);
    let id = fx.direct(0, 1).await;
    fx.send(0, id, "hello").await;
    let elsewhere = support.stats(fx.user(1)).await.expect("stats in the other store");
    assert_eq!(
        elsewhere.total_conversations, 0,
        "stores with other prefixes are independent"
    );
    assert_eq!(
        orders.get(b"order-1").expect("host read").as_deref(),
        Some(&b"paid"[..])
    );
    let names: Vec<String> = db
        .tree_names()
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    assert!(names.iter().any(|name| name == "chat/kv"));
    assert!(names.iter().any(|name| name == "support/kv"));
    drop((chat, support, orders, fx));

    let again = chat_store_sled::SledStoreBuilder::new()
        .db_at(db, dir.path())
        .open()
        .await
        .expect("reopen over the host db");
    let fx_again = Fixture::new(Arc::new(again) as Arc<dyn Store>, 2);
    assert!(
        fx_again
            .conversations()
            .inbox(fx_again.user(0), InboxFilter::default())
            .await
            .expect("inbox")
            .items
            .is_empty(),
        "a fresh tenant sees nothing"
    );
}

#[tokio::test]
async fn data_without_a_format_marker_is_foreign() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open_db(dir.path());
    db.open_tree("chat/conversations")
        .expect("tree")
        .insert(b"someone", b"else")
        .expect("write");
    let error = chat_store_sled::SledStoreBuilder::new()
        .db_at(db, dir.path())
        .open()
        .await
        .expect_err("foreign");
    assert!(matches!(error, SledStoreError::Foreign { .. }), "{error}");
}

#[tokio::test]
async fn another_programs_marker_is_foreign() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open_db(dir.path());
    db.open_tree("chat/meta")
        .expect("tree")
        .insert(b"format", b"some-other-app v3")
        .expect("write");
    let error = chat_store_sled::SledStoreBuilder::new()
        .db_at(db, dir.path())
        .open()
        .await
        .expect_err("foreign");
    assert!(matches!(error, SledStoreError::Foreign { .. }), "{error}");
}

#[tokio::test]
async fn a_newer_layout_is_detected_not_misread() {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let store = chat_store_sled::open(dir.path()).await.expect("create");
        drop(store);
    }
    {
        let db = open_db(dir.path());
        let mut marker = b"chat-store-sled\0".to_vec();
        marker.extend_from_slice(&(FORMAT_VERSION + 1).to_be_bytes());
        db.open_tree("chat/kv")
            .expect("the store's tree")
            .insert([0xff, b'f'], marker)
            .expect("write");
        db.flush().expect("flush");
    }
    let error = open_store(dir.path()).await.expect_err("newer layout");
    match error {
        SledStoreError::UnsupportedVersion { found, supported } => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other}"),
    }
}

#[tokio::test]
async fn a_store_reopens_its_own_marker() {
    let dir = tempfile::tempdir().expect("temporary directory");
    drop(open_store(dir.path()).await.expect("create"));
    drop(open_store(dir.path()).await.expect("reopen"));
}

/// A snapshot sled was writing when its process was killed (`snap.<lsn>.generating`, torn):
/// sled 0.34 itself refuses the directory (it reads the newest `snap.` file, unfinished
/// ones included: seen once in CI as `Corruption { at: None }` on reopening after a
/// SIGKILL at start-up), the store removes the file and opens with everything in it.
#[tokio::test]
async fn an_unfinished_snapshot_left_by_a_kill_does_not_stop_the_store_from_opening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = Arc::new(chat_store_sled::open(dir.path()).await.expect("create"));
    let fx = Fixture::new(Arc::clone(&store), 2);
    let conversation = fx.direct(0, 1).await;
    fx.send(0, conversation, "before the kill").await;
    let reader = fx.user(1).clone();
    drop(fx);
    drop(store);
    let torn = dir.path().join("snap.FFFFFFFFFFFFFFF0.generating");
    std::fs::write(&torn, vec![0x5Au8; 300]).expect("write a torn snapshot");
    let refused = sled_open(dir.path()).map(drop);
    assert!(
        matches!(refused, Err(sled::Error::Corruption { .. })),
        "sled alone refuses it: {refused:?}"
    );
    let store = open_store(dir.path()).await.expect("the store opens");
    assert!(!torn.exists(), "the unfinished snapshot is gone");
    let query = chat_core::backend::HistoryQuery {
        after: Some(0),
        before: None,
        limit: 10,
    };
    let history = store.history_page(&reader, conversation, query).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "before the kill");
}

#[tokio::test]
async fn garbage_files_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("conf"), b"this is not a sled config \x00\xff\x13").expect("write conf");
    std::fs::write(dir.path().join("db"), vec![0xA5u8; 64 * 1024]).expect("write db");
    let result = chat_store_sled::open(dir.path()).await;
    let error = result.expect_err("garbage must not open");
    eprintln!("garbage files: {error}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"plain file").expect("write");
    let error = chat_store_sled::open(&file)
        .await
        .expect_err("a file is not a directory");
    eprintln!("a plain file: {error}");
}

#[tokio::test]
async fn a_corrupt_record_is_a_backend_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (caller, id) = {
        let store = chat_store_sled::open(dir.path()).await.expect("create");
        let fx = Fixture::new(Arc::new(store) as Arc<dyn Store>, 2);
        let id = fx.direct(0, 1).await;
        fx.send(0, id, "soon unreadable").await;
        (fx.user(0).clone(), id)
    };
    {
        let db = open_db(dir.path());
        // The kernel's conversation record: kind 1, then the id.
        db.open_tree("chat/kv")
            .expect("the store's tree")
            .insert([&[1u8][..], id.as_uuid().as_bytes()].concat(), b"{not json".to_vec())
            .expect("corrupt it");
        db.flush().expect("flush");
    }
    let store = reopen_after_raw_db(dir.path()).await;
    let error = store.get_conversation(&caller, id).await.expect_err("corrupt record");
    assert!(matches!(error, ChatError::Backend { .. }), "{error}");
    let error = store
        .append_message(
            &caller,
            chat_core::store::NewMessage {
                notify_after: None,
                attachments: Vec::new(),
                conversation_id: id,
                body: "x".into(),
                client_message_id: None,
                reply_to: None,
                metadata: Default::default(),
            },
        )
        .await
        .expect_err("corrupt record");
    assert!(matches!(error, ChatError::Backend { .. }), "{error}");
}

#[test]
fn a_builder_without_a_location_is_an_error() {
    let error = chat_store_sled::SledStoreBuilder::new()
        .open_blocking()
        .expect_err("no location");
    assert!(matches!(error, SledStoreError::NoLocation));
}

/// sled treats a damaged stretch of its log like a torn tail: its recovery stops there, and
/// what it held after is gone from sled (the store's write-ahead log then applies the lost
/// batches again). Nothing may panic, and what the store opens must be an earlier (or the
/// last) state of what was written, whole writes only: the three conversations, created
/// one after the other with 50 messages each, are a prefix of them, every one but the last
/// present has all 50 messages, each history is the messages sent, in order, with dense
/// seqs, and every user's stats and unread counts are the ones of that state. A refusal to
/// open is allowed if clean (an error, not a panic inside sled), and said on the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_log_bytes_never_panic_and_leave_a_consistent_earlier_state() {
    const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];
    const SENT: usize = 50;
    let body = |n: usize| format!("message {n} {}", "x".repeat(200));
    let dir = tempfile::tempdir().expect("temporary directory");
    let (users, ids) = {
        let store = chat_store_sled::open(dir.path()).await.expect("create");
        let fx = Fixture::new(Arc::new(store) as Arc<dyn Store>, 3);
        let mut ids = Vec::new();
        for (a, b) in PAIRS {
            let id = fx.direct(a, b).await;
            for n in 0..SENT {
                fx.send(a, id, &body(n)).await;
            }
            ids.push(id);
        }
        (fx.users.clone(), ids)
    };
    let path = dir.path().join("db");
    let mut bytes = std::fs::read(&path).expect("read db");
    let start = bytes.len() / 3;
    let end = (start + 4096).min(bytes.len());
    for byte in &mut bytes[start..end] {
        *byte ^= 0x5A;
    }
    std::fs::write(&path, &bytes).expect("write db");
    let store = match chat_store_sled::open(dir.path()).await {
        Err(error) => {
            assert!(
                !matches!(error, SledStoreError::OpenPanicked(_)),
                "sled panicked opening the damaged database: {error}"
            );
            chat_core::testing::say_loudly(&format!(
                "open::damaged_log_bytes_never_panic_and_leave_a_consistent_earlier_state: the damaged \
                 database was refused cleanly ({error}); no state to compare"
            ));
            return;
        }
        Ok(store) => store,
    };
    // Each conversation as its first member sees it: absent, or its first `m` messages.
    let mut kept = Vec::new();
    for ((a, _), id) in PAIRS.into_iter().zip(&ids) {
        match store.get_conversation(&users[a], *id).await {
            Err(error) => {
                assert!(error.is_not_found(), "conversation {id}: {error}");
                kept.push(None);
            }
            Ok(record) => {
                let query = chat_core::backend::HistoryQuery {
                    after: Some(0),
                    before: None,
                    limit: 100,
                };
                let history = store.history_page(&users[a], *id, query).await.expect("history");
                let seqs: Vec<u64> = history.iter().map(|message| message.seq).collect();
                let bodies: Vec<String> = history.iter().map(|message| message.body.clone()).collect();
                let m = history.len();
                assert_eq!(record.conversation.last_seq, m as u64, "last_seq of {id}");
                assert_eq!(seqs, (1..=m as u64).collect::<Vec<_>>(), "dense seqs in {id}");
                assert_eq!(
                    bodies,
                    (0..m).map(body).collect::<Vec<_>>(),
                    "the messages sent, in order"
                );
                kept.push(Some(m));
            }
        }
    }
    eprintln!("damaged log: messages kept per conversation after recovery: {kept:?}");
    // An earlier state of the sequence of writes: complete conversations, then at most one
    // partial (or empty) one, then none.
    let present = kept.iter().take_while(|kept| kept.is_some()).count();
    assert!(
        kept[present..].iter().all(Option::is_none),
        "a later conversation survived an earlier one: {kept:?}"
    );
    assert!(
        kept[..present.saturating_sub(1)].iter().all(|&m| m == Some(SENT)),
        "an earlier conversation lost messages a later one kept: {kept:?}"
    );
    // Every user's totals are those of that state: the recipient of a conversation has all
    // its messages unread, the sender none.
    for (user, identity) in users.iter().enumerate() {
        let mut conversations = 0;
        let mut unread = 0;
        for ((a, b), m) in PAIRS.into_iter().zip(&kept) {
            if let Some(m) = m
                && (user == a || user == b)
            {
                conversations += 1;
                if user == b {
                    unread += *m as u64;
                }
            }
        }
        let stats = store.stats(identity).await.expect("stats");
        assert_eq!(
            (stats.total_conversations, stats.unread_messages),
            (conversations, unread),
            "the totals of u{user}"
        );
        let query = chat_core::store::InboxQuery {
            archive: chat_core::ArchiveFilter::All,
            limit: 100,
            ..Default::default()
        };
        let inbox = store.inbox_page(identity, query).await.expect("inbox");
        let inbox_unread: u64 = inbox
            .iter()
            .map(|row| row.participant(&identity.user).map_or(0, |p| p.unread_count))
            .sum();
        assert_eq!(
            (inbox.len() as u64, inbox_unread),
            (conversations, unread),
            "the inbox of u{user}"
        );
    }
}

#[tokio::test]
async fn a_durable_store_over_a_db_without_its_directory_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open_db(dir.path());
    let error = chat_store_sled::SledStoreBuilder::new()
        .db(db.clone())
        .open()
        .await
        .expect_err("no directory");
    assert!(matches!(error, SledStoreError::UnknownDirectory), "{error}");
    chat_store_sled::SledStoreBuilder::new()
        .db(db)
        .durability(chat_store_sled::Durability::Relaxed)
        .open()
        .await
        .expect("a relaxed store needs no directory");
}
