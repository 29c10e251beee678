//! Where the store keeps its data in sled: one tree, `<prefix>/kv`, holding the kernel's
//! keyspace and, under keys starting with `0xff` (which the kernel never writes), the
//! adapter's own records: the format marker, the number of the last logged commit and the
//! stale-log mark. Opening checks the marker, and moves a database of layout version 1
//! (thirteen trees) into the keyspace once.

use chat_core::{ConversationKind, ConversationRecord};

use crate::error::SledStoreError;

/// The layout version this build writes and reads: 2, the kernel's keyspace in one tree.
/// Version 1 (a tree per record kind) is moved into it when opened.
pub const FORMAT_VERSION: u32 = 2;

/// What the format marker starts with; a marker without it belongs to something else.
const FORMAT_MAGIC: &[u8] = b"chat-store-sled\0";

/// The format marker's key.
const FORMAT: &[u8] = &[0xff, b'f'];

/// The number of the last batch written through the write-ahead log (u64, big-endian),
/// stored in the same sled batch (`recovery.rs`).
pub(crate) const LAST_COMMIT: &[u8] = &[0xff, b'c'];

/// Set when a store without its directory (Relaxed, over a bare `sled::Db`) has written
/// without the log: log records left in the directory are older than what sled holds and
/// must not be applied (`recovery.rs`).
pub(crate) const LOG_STALE: &[u8] = &[0xff, b's'];

/// The trees of layout version 1, by their position in its write-ahead log records; the
/// kernel's kind byte of each is its position plus one, and its keys are the kernel's
/// without that byte.
const V1_TREES: [&str; 13] = [
    "conversations",
    "inbox",
    "messages",
    "message_ids",
    "client_ids",
    "directs",
    "user_stats",
    "groups",
    "attachments",
    "attachment_sweep",
    "notifications_due",
    "blocks",
    "reports",
];

/// The kernel's kind byte of group memberships (`tenant \0 user \0 id`).
const GROUP_MEMBER_KIND: u8 = 8;

/// Opens the store's tree in `db`, checking (or, in a new database, writing) the format
/// marker, and moving a layout 1 database into it.
pub(crate) fn open_tree(db: &sled::Db, prefix: &str) -> Result<sled::Tree, SledStoreError> {
    let tree = db.open_tree(format!("{prefix}/kv"))?;
    let v1_meta = format!("{prefix}/meta");
    let has_tree = |name: &str| {
        db.tree_names()
            .iter()
            .any(|existing| existing.as_ref() == name.as_bytes())
    };
    if let Some(marker) = tree.get(FORMAT)? {
        check_version(&marker, FORMAT_VERSION)?;
        if has_tree(&v1_meta) {
            // Moved, but the old trees were not all dropped yet.
            drop_v1_trees(db, prefix)?;
        }
        return Ok(tree);
    }
    if has_tree(&v1_meta) {
        let meta = db.open_tree(&v1_meta)?;
        match meta.get(b"format")? {
            Some(marker) => check_version(&marker, 1)?,
            None => {
                return Err(SledStoreError::Foreign {
                    detail: format!("tree {v1_meta:?} has no format marker"),
                });
            }
        }
        move_v1(db, &tree, &meta, prefix)?;
        drop_v1_trees(db, prefix)?;
        return Ok(tree);
    }
    for name in V1_TREES {
        let name = format!("{prefix}/{name}");
        if has_tree(&name) && !db.open_tree(&name)?.is_empty() {
            return Err(SledStoreError::Foreign {
                detail: format!("tree {name:?} holds data but there is no format marker"),
            });
        }
    }
    if !tree.is_empty() {
        return Err(SledStoreError::Foreign {
            detail: format!("tree {prefix:?}/kv holds data but there is no format marker"),
        });
    }
    tree.insert(FORMAT, marker(FORMAT_VERSION))?;
    db.flush()?;
    Ok(tree)
}

fn marker(version: u32) -> Vec<u8> {
    [FORMAT_MAGIC, &version.to_be_bytes()].concat()
}

/// Checks that `marker` is this store's marker of layout `expected`.
fn check_version(marker: &[u8], expected: u32) -> Result<(), SledStoreError> {
    let Some(version) = marker.strip_prefix(FORMAT_MAGIC) else {
        return Err(SledStoreError::Foreign {
            detail: "the format marker was written by something else".to_owned(),
        });
    };
    let version: [u8; 4] = version.try_into().map_err(|_| SledStoreError::Foreign {
        detail: "the format marker is malformed".to_owned(),
    })?;
    match u32::from_be_bytes(version) {
        found if found == expected => Ok(()),
        found => Err(SledStoreError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        }),
    }
}

/// Copies every entry of the layout 1 trees into `tree` under the kernel's kind bytes,
/// with the last logged commit number and the stale-log mark, and writes the marker last.
/// A crash before the marker leaves the old trees whole: the next open starts again from
/// an empty `tree`.
fn move_v1(db: &sled::Db, tree: &sled::Tree, meta: &sled::Tree, prefix: &str) -> Result<(), SledStoreError> {
    tree.clear()?;
    let mut moved = 0u64;
    for (position, name) in (1u8..).zip(V1_TREES) {
        let old = db.open_tree(format!("{prefix}/{name}"))?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in &old {
            let (key, value) = entry?;
            batch.insert([&[position][..], &key].concat(), value);
            in_batch += 1;
            if in_batch == 10_000 {
                tree.apply_batch(std::mem::take(&mut batch))?;
                moved += in_batch;
                in_batch = 0;
            }
        }
        tree.apply_batch(batch)?;
        moved += in_batch;
    }
    if meta.get(b"groups_index_built")?.is_none() {
        // Stores made before layout 1 kept group memberships: build them from the records.
        for entry in &db.open_tree(format!("{prefix}/conversations"))? {
            let (_, bytes) = entry?;
            let record: ConversationRecord =
                serde_json::from_slice(&bytes).map_err(|error| SledStoreError::corrupt("conversation", error))?;
            if record.conversation.kind == ConversationKind::Group {
                for participant in &record.participants {
                    let mut key = vec![GROUP_MEMBER_KIND];
                    for part in [record.conversation.tenant.as_str(), participant.user.as_str()] {
                        key.extend_from_slice(part.as_bytes());
                        key.push(0);
                    }
                    key.extend_from_slice(record.conversation.id.as_uuid().as_bytes());
                    tree.insert(key, &[])?;
                }
            }
        }
    }
    let mut last = sled::Batch::default();
    if let Some(commit) = meta.get(b"last_commit")? {
        last.insert(LAST_COMMIT, commit);
    }
    if meta.get(b"log_stale")?.is_some() {
        last.insert(LOG_STALE, &[]);
    }
    last.insert(FORMAT, marker(FORMAT_VERSION));
    tree.apply_batch(last)?;
    db.flush()?;
    tracing::info!(
        entries = moved,
        "chat-store-sled: moved a layout 1 database into the kernel's keyspace"
    );
    Ok(())
}

/// Drops the trees of layout 1 (after they were moved).
fn drop_v1_trees(db: &sled::Db, prefix: &str) -> Result<(), SledStoreError> {
    for name in V1_TREES {
        db.drop_tree(format!("{prefix}/{name}"))?;
    }
    // The meta tree goes last: while it is there, an interrupted drop is finished.
    db.drop_tree(format!("{prefix}/meta"))?;
    db.flush()?;
    Ok(())
}
