//! The engine's contract, checked on the engine directly (the kernel's store operations are
//! the conformance suite's).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chat_core::kernel::{Direction, KvEngine, KvRead, WriteBatch};
use chat_store_redb::redb::{self, Database, TableDefinition};
use chat_store_redb::{RedbEngine, RedbStoreBuilder, RedbStoreError};

fn batch(entries: &[(&[u8], Option<&[u8]>)]) -> WriteBatch {
    entries
        .iter()
        .map(|(key, value)| (key.to_vec(), value.map(<[u8]>::to_vec)))
        .collect()
}

fn open(path: &Path) -> RedbEngine {
    RedbStoreBuilder::new()
        .path(path)
        .open_engine()
        .expect("open the redb engine")
}

fn scan(engine: &RedbEngine, start: &[u8], end: Option<&[u8]>, direction: Direction) -> Vec<(Vec<u8>, Vec<u8>)> {
    let view = engine.read().expect("a read view");
    view.scan(start, end, direction)
        .collect::<Result<Vec<_>, _>>()
        .expect("scan")
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(key, _)| key.clone()).collect()
}

fn get(engine: &RedbEngine, key: &[u8]) -> Option<Vec<u8>> {
    engine.read().expect("a read view").get(key).expect("get")
}

#[test]
fn committed_batches_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("chat.redb");
    {
        let engine = open(&path);
        engine
            .commit(&batch(&[(b"a", Some(b"1")), (b"b", Some(b"2")), (b"c", Some(b"3"))]))
            .expect("first commit");
        // Overwrite one key, remove another, remove one that was never there.
        engine
            .commit(&batch(&[(b"a", Some(b"10")), (b"b", None), (b"zz", None)]))
            .expect("second commit");
    }
    let engine = open(&path);
    assert_eq!(get(&engine, b"a"), Some(b"10".to_vec()));
    assert_eq!(get(&engine, b"b"), None);
    assert_eq!(get(&engine, b"c"), Some(b"3".to_vec()));
    assert_eq!(get(&engine, b"zz"), None);
    assert_eq!(
        scan(&engine, b"", None, Direction::Forward),
        vec![(b"a".to_vec(), b"10".to_vec()), (b"c".to_vec(), b"3".to_vec())]
    );
}

#[test]
fn a_new_database_file_gets_its_missing_directories() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("one").join("two").join("chat.redb");
    {
        let engine = open(&path);
        engine.commit(&batch(&[(b"k", Some(b"v"))])).expect("commit");
    }
    assert!(path.is_file());
    assert_eq!(get(&open(&path), b"k"), Some(b"v".to_vec()));
}

#[test]
fn scans_start_inclusive_end_exclusive_in_both_directions() {
    let engine = RedbStoreBuilder::new()
        .temporary()
        .open_engine()
        .expect("temporary engine");
    let all: [&[u8]; 7] = [b"", b"\x00", b"\x01", b"\x01\x00", b"\x02", b"\xff", b"\xff\xff"];
    let entries: Vec<(&[u8], Option<&[u8]>)> = all.iter().map(|key| (*key, Some(*key))).collect();
    engine.commit(&batch(&entries)).expect("commit");
    let owned = |list: &[&[u8]]| list.iter().map(|key| key.to_vec()).collect::<Vec<_>>();

    // Everything, both ways; values are copied out whole.
    let forward = scan(&engine, b"", None, Direction::Forward);
    assert_eq!(keys(&forward), owned(&all));
    assert!(forward.iter().all(|(key, value)| key == value));
    let mut reversed = owned(&all);
    reversed.reverse();
    assert_eq!(keys(&scan(&engine, b"", None, Direction::Backward)), reversed);

    // Start included, end excluded.
    assert_eq!(
        keys(&scan(&engine, b"\x01", Some(b"\x02"), Direction::Forward)),
        owned(&[b"\x01", b"\x01\x00"])
    );
    assert_eq!(
        keys(&scan(&engine, b"\x01", Some(b"\x02"), Direction::Backward)),
        owned(&[b"\x01\x00", b"\x01"])
    );
    // Bounds that are not keys.
    assert_eq!(
        keys(&scan(&engine, b"\x00\x00", Some(b"\x01\x01"), Direction::Forward)),
        owned(&[b"\x01", b"\x01\x00"])
    );
    // No upper bound, backward: from the last key down to `start`.
    assert_eq!(
        keys(&scan(&engine, b"\x02", None, Direction::Backward)),
        owned(&[b"\xff\xff", b"\xff", b"\x02"])
    );
    // The empty key is a key like any other.
    assert_eq!(
        keys(&scan(&engine, b"", Some(b"\x00"), Direction::Forward)),
        owned(&[b""])
    );
    // Empty ranges: end == start, end < start, past the last key.
    for direction in [Direction::Forward, Direction::Backward] {
        assert!(scan(&engine, b"\x01", Some(b"\x01"), direction).is_empty());
        assert!(scan(&engine, b"\x02", Some(b"\x01"), direction).is_empty());
        assert!(scan(&engine, b"\xff\xff\x00", None, direction).is_empty());
    }
}

#[test]
fn a_read_view_is_a_snapshot() {
    let engine = RedbStoreBuilder::new()
        .temporary()
        .open_engine()
        .expect("temporary engine");
    engine
        .commit(&batch(&[(b"a", Some(b"1")), (b"b", Some(b"2"))]))
        .expect("commit");
    let before = engine.read().expect("a read view");
    engine
        .commit(&batch(&[(b"a", Some(b"changed")), (b"b", None), (b"c", Some(b"3"))]))
        .expect("commit while a view lives");
    assert_eq!(before.get(b"a").expect("get"), Some(b"1".to_vec()));
    assert_eq!(before.get(b"b").expect("get"), Some(b"2".to_vec()));
    assert_eq!(before.get(b"c").expect("get"), None);
    let seen: Vec<_> = before
        .scan(b"", None, Direction::Forward)
        .collect::<Result<_, _>>()
        .expect("scan");
    assert_eq!(keys(&seen), vec![b"a".to_vec(), b"b".to_vec()]);
    drop(before);
    assert_eq!(get(&engine, b"a"), Some(b"changed".to_vec()));
    assert_eq!(get(&engine, b"b"), None);
    assert_eq!(get(&engine, b"c"), Some(b"3".to_vec()));
}

#[test]
fn an_empty_batch_changes_nothing() {
    let engine = RedbStoreBuilder::new()
        .temporary()
        .open_engine()
        .expect("temporary engine");
    engine.commit(&WriteBatch::new()).expect("empty commit");
    assert!(scan(&engine, b"", None, Direction::Forward).is_empty());
    engine
        .commit(&batch(&[(b"a", Some(b""))]))
        .expect("commit an empty value");
    engine.commit(&WriteBatch::new()).expect("empty commit");
    assert_eq!(get(&engine, b"a"), Some(Vec::new()));
}

/// Random batches and scans against a `BTreeMap` (a fixed-seed xorshift, so a failure
/// repeats).
#[test]
fn random_batches_and_scans_match_a_btreemap() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("chat.redb");
    let mut engine = open(&path);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    // Keys of 0 to 2 bytes from a small alphabet, so that prefixes and collisions are common.
    let key = |next: &mut dyn FnMut(u64) -> u64| -> Vec<u8> {
        let len = next(3);
        (0..len).map(|_| [0x00, 0x01, 0x7f, 0xff][next(4) as usize]).collect()
    };
    for round in 0..60 {
        let mut writes = WriteBatch::new();
        for _ in 0..next(12) {
            let k = key(&mut next);
            let value = (next(3) > 0).then(|| vec![round as u8; next(40) as usize]);
            writes.insert(k, value);
        }
        engine.commit(&writes).expect("commit");
        for (k, value) in &writes {
            match value {
                Some(value) => model.insert(k.clone(), value.clone()),
                None => model.remove(k),
            };
        }
        if round % 20 == 19 {
            drop(engine);
            engine = open(&path);
        }
        for _ in 0..8 {
            let start = key(&mut next);
            let end = (next(4) > 0).then(|| key(&mut next));
            let expected: Vec<(Vec<u8>, Vec<u8>)> = match &end {
                Some(end) if *end <= start => Vec::new(),
                Some(end) => model
                    .range(start.clone()..end.clone())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => model
                    .range(start.clone()..)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            assert_eq!(scan(&engine, &start, end.as_deref(), Direction::Forward), expected);
            let mut backward = expected;
            backward.reverse();
            assert_eq!(scan(&engine, &start, end.as_deref(), Direction::Backward), backward);
            let probe = key(&mut next);
            assert_eq!(get(&engine, &probe), model.get(&probe).cloned());
        }
    }
}

#[test]
fn the_file_is_locked_while_the_engine_lives() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("chat.redb");
    let engine = open(&path);
    match RedbStoreBuilder::new().path(&path).open_engine() {
        Err(RedbStoreError::Database(redb::DatabaseError::DatabaseAlreadyOpen)) => {}
        other => panic!("a second open must fail with DatabaseAlreadyOpen, got {other:?}"),
    }
    drop(engine);
    open(&path);
}

#[test]
fn the_store_keeps_to_its_table() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Arc::new(Database::create(dir.path().join("shared.redb")).expect("create"));
    // A host table of another type under the store's default name: refused, not reused.
    const HOST: TableDefinition<'_, u64, u64> = TableDefinition::new("chat");
    let txn = db.begin_write().expect("begin");
    txn.open_table(HOST).expect("host table").insert(1, 2).expect("insert");
    txn.commit().expect("commit");
    match RedbStoreBuilder::new().database(db.clone()).open_engine() {
        Err(RedbStoreError::Table(_)) => {}
        other => panic!("a table of other types must be refused, got {other:?}"),
    }

    let first = RedbStoreBuilder::new()
        .database(db.clone())
        .table("chat-a")
        .open_engine()
        .expect("first engine");
    let second = RedbStoreBuilder::new()
        .database(db.clone())
        .table("chat-b")
        .open_engine()
        .expect("second engine");
    assert_eq!(first.table(), "chat-a");
    first.commit(&batch(&[(b"k", Some(b"a"))])).expect("commit a");
    second.commit(&batch(&[(b"k", Some(b"b"))])).expect("commit b");
    assert_eq!(get(&first, b"k"), Some(b"a".to_vec()));
    assert_eq!(get(&second, b"k"), Some(b"b".to_vec()));
    // The host's table is untouched.
    let read = redb::ReadableDatabase::begin_read(&*db).expect("read");
    let host = read.open_table(HOST).expect("host table");
    assert_eq!(redb::ReadableTableMetadata::len(&host).expect("len"), 1);
}

#[test]
fn a_builder_without_a_location_is_refused() {
    assert!(matches!(
        RedbStoreBuilder::new().open_engine(),
        Err(RedbStoreError::NoLocation)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_opens_on_the_blocking_pool() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("chat.redb");
    let store = chat_store_redb::open(&path).await.expect("open");
    store.engine().commit(&batch(&[(b"k", Some(b"v"))])).expect("commit");
    assert_eq!(get(store.engine(), b"k"), Some(b"v".to_vec()));
    // A clone shares the engine (and its lock).
    let clone = store.clone();
    assert_eq!(get(clone.engine(), b"k"), Some(b"v".to_vec()));
    assert!(matches!(
        chat_store_redb::open(&path).await,
        Err(RedbStoreError::Database(redb::DatabaseError::DatabaseAlreadyOpen))
    ));

    // Closed with its last clone; the reopened store accepts the keyspace the first one
    // set up and sees what it committed.
    drop((store, clone));
    let store = chat_store_redb::open(&path).await.expect("reopen");
    assert_eq!(get(store.engine(), b"k"), Some(b"v".to_vec()));
    drop(store);

    let temporary = chat_store_redb::temporary().await.expect("temporary");
    let temp_dir = temporary
        .engine()
        .temporary_dir()
        .expect("a temporary directory")
        .to_owned();
    assert!(temp_dir.join("chat.redb").is_file());
    assert_eq!(temporary.engine().table(), chat_store_redb::DEFAULT_TABLE);
    drop(temporary);
    assert!(!temp_dir.exists(), "the temporary directory is removed with the store");
}
