//! Reopening: everything written reads back identical after the store is dropped and
//! opened again, in both durability modes; a host's own sled database is shared safely.

use chat_core::store::ConversationStore;
use std::collections::BTreeMap;
use std::sync::Arc;

use chat_core::backend::InboxCursor;
use chat_core::store::{HistoryQuery, InboxQuery};
use chat_core::testing::Fixture;
use chat_core::{
    ArchiveFilter, ConversationId, ConversationRecord, Identity, Message, NewGroupInput, SendMessage, StartDirect,
    Stats, Store, Tag,
};
use chat_store_sled::{Durability, SledStore};

/// Everything a user can read back.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    inbox: Vec<ConversationRecord>,
    stats: Stats,
    histories: BTreeMap<ConversationId, Vec<Message>>,
}

pub async fn snapshot(store: &SledStore, users: &[Identity]) -> Vec<Snapshot> {
    let mut snapshots = Vec::new();
    for identity in users {
        let mut inbox: Vec<ConversationRecord> = Vec::new();
        loop {
            let after = inbox.last().map(|row| InboxCursor {
                last_activity_at: row.conversation.last_activity_at,
                id: row.conversation.id,
            });
            let query = InboxQuery {
                archive: ArchiveFilter::All,
                after,
                limit: 2,
                ..InboxQuery::default()
            };
            let page = store.inbox_page(identity, query).await.expect("inbox");
            if page.is_empty() {
                break;
            }
            inbox.extend(page);
        }
        let mut histories = BTreeMap::new();
        for row in &inbox {
            let id = row.conversation.id;
            let query = HistoryQuery {
                after: Some(0),
                before: None,
                limit: 10_000,
            };
            let history = store.history_page(identity, id, query).await.expect("history");
            histories.insert(id, history.messages);
        }
        let stats = store.stats(identity).await.expect("stats");
        snapshots.push(Snapshot {
            inbox,
            stats,
            histories,
        });
    }
    snapshots
}

/// Writes a bit of everything through the services.
pub async fn populate(fx: &Fixture) {
    let conversations = fx.conversations();
    let messages = fx.messages();
    let direct = fx.direct(0, 1).await;
    let tagged = conversations
        .start_direct(
            fx.user(0),
            StartDirect::with(fx.user(2).user.clone()).tagged(Tag::new("Order", 42).expect("tag")),
        )
        .await
        .expect("tagged")
        .0
        .conversation
        .id;
    let group = conversations
        .create_group(
            fx.user(0),
            NewGroupInput {
                participants: vec![fx.user(1).user.clone(), fx.user(2).user.clone()],
                title: "Reopened group".into(),
                tag: None,
                metadata: Default::default(),
            },
        )
        .await
        .expect("group")
        .conversation
        .id;
    let mut sent = Vec::new();
    for n in 0..30 {
        let (sender, conversation) = match n % 3 {
            0 => (n % 2, direct),
            1 => (if n % 2 == 0 { 0 } else { 2 }, tagged),
            _ => (n % 3, group),
        };
        let mut message = SendMessage::text(format!("message {n}")).with_client_message_id(format!("k{n}"));
        message.metadata.insert("n".into(), serde_json::json!(n));
        let view = messages
            .send(fx.user(sender), conversation, message)
            .await
            .expect("send");
        sent.push((sender, conversation, view.message.message.id));
    }
    let (sender, conversation, id) = sent[27];
    messages
        .edit(fx.user(sender), conversation, id, "edited")
        .await
        .expect("edit");
    let (sender, conversation, id) = sent[29];
    messages
        .delete(fx.user(sender), conversation, id)
        .await
        .expect("delete");
    conversations
        .mark_read(fx.user(1), direct, Some(3))
        .await
        .expect("read");
    conversations.archive(fx.user(2), tagged).await.expect("archive");
    conversations.clear_history(fx.user(1), group).await.expect("clear");
    conversations
        .add_participants(fx.user(0), group, vec![fx.user(3).user.clone()])
        .await
        .expect("add");
    conversations.leave(fx.user(0), group).await.expect("leave");
    fx.send(3, group, "after the owner left").await;
}

async fn reopen_reads_back_identical(durability: Durability) {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A dropped store's sled flusher thread lets go of the directory's file lock within its
    // flush interval (500 ms by default), so a reopen in the same process may find the lock
    // still held for a moment: try again until it is free.
    let open = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match chat_store_sled::SledStoreBuilder::new()
                .path(dir.path())
                .durability(durability)
                .open()
                .await
            {
                Ok(store) => return store,
                Err(chat_store_sled::SledStoreError::Sled(sled::Error::Io(error)))
                    if error.kind() == std::io::ErrorKind::Other && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(error) => panic!("open: {error:?}"),
            }
        }
    };
    let store = open().await;
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
    populate(&fx).await;
    let users = fx.users.clone();
    let before = snapshot(&store, &users).await;
    assert_eq!(before[0].inbox.len(), 2, "u0 left the group");
    assert_eq!(before[3].stats.total_conversations, 1);
    drop(fx);
    drop(store);

    let store = open().await;
    let after = snapshot(&store, &users).await;
    assert_eq!(after, before, "everything reads back identical after reopening");
    // And the reopened store keeps working on top of the old data.
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 2);
    let id = fx.direct(0, 1).await;
    fx.send(0, id, "new tenant, same database").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_store_reads_back_identical_after_reopening() {
    reopen_reads_back_identical(Durability::Durable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_store_reads_back_identical_after_a_clean_close() {
    reopen_reads_back_identical(Durability::Relaxed).await;
}

/// The trees of layout 1, by their kind byte minus one (the kernel's kinds 1..=13).
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

/// Rewrites the store in `dir` as layout 1 left it: a tree per record kind, the commit
/// number and marker in `chat/meta`, and (as before the groups index) no group
/// memberships.
fn rewrite_as_layout_1(dir: &std::path::Path) {
    let db = sled::open(dir).expect("sled");
    let kv = db.open_tree("chat/kv").expect("the store's tree");
    let meta = db.open_tree("chat/meta").expect("meta");
    for entry in &kv {
        let (key, value) = entry.expect("entry");
        match key.first() {
            Some(&kind @ 1..=13) if kind != 8 => {
                let tree = db
                    .open_tree(format!("chat/{}", V1_TREES[usize::from(kind) - 1]))
                    .expect("tree");
                tree.insert(&key[1..], value).expect("insert");
            }
            _ if key.as_ref() == [0xff, b'c'] => {
                meta.insert("last_commit", value).expect("commit number");
            }
            _ => {}
        }
    }
    let mut marker = b"chat-store-sled\0".to_vec();
    marker.extend_from_slice(&1u32.to_be_bytes());
    meta.insert("format", marker).expect("marker");
    db.drop_tree("chat/kv").expect("drop the keyspace");
    db.flush().expect("flush");
}

/// A database of layout 1 (a tree per record kind, before the storage kernel) is moved
/// into the keyspace when opened: everything reads back identical, group memberships
/// missing from it are built from the records (search finds the group), the old trees go,
/// and the store keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_1_database_is_moved_into_the_keyspace_when_opened() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = crate::common::open_store(dir.path()).await.expect("open");
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
    populate(&fx).await;
    let input = NewGroupInput {
        participants: vec![fx.user(1).user.clone()],
        title: "Café con Inés".into(),
        tag: None,
        metadata: Default::default(),
    };
    let group = fx
        .conversations()
        .create_group(fx.user(0), input)
        .await
        .expect("group")
        .conversation
        .id;
    let users = fx.users.clone();
    let before = snapshot(&store, &users).await;
    drop(fx);
    drop(store);
    crate::common::wait_for_lock(dir.path()).await;
    rewrite_as_layout_1(dir.path());

    let store = crate::common::open_store(dir.path()).await.expect("open layout 1");
    assert_eq!(
        snapshot(&store, &users).await,
        before,
        "everything reads back identical"
    );
    let query = chat_core::backend::SearchQuery {
        title_contains: "ines".to_owned(),
        participants: Vec::new(),
        limit: 10,
    };
    let found = store.search(&users[1], query).await.expect("search");
    assert_eq!(found.iter().map(|r| r.conversation.id).collect::<Vec<_>>(), [group]);
    let names: Vec<String> = store
        .engine()
        .db()
        .tree_names()
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name == "chat/meta" || name == "chat/messages"),
        "the layout 1 trees are dropped: {names:?}"
    );
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 2);
    let id = fx.direct(0, 1).await;
    fx.send(0, id, "after the move").await;
}
