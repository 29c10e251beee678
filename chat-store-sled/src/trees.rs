//! The open trees of one store and the transaction over all of them.
//!
//! Everything here blocks (sled is a blocking library); [`crate::SledStore`] runs it on
//! tokio's blocking pool. The operations themselves live in `writes.rs` and `reads.rs`.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_core::{ChatResult, ConversationId, ConversationKind, ConversationRecord, Identity};
use sled::Transactional;
use sled::transaction::TransactionError;

use crate::commit::GroupCommit;
use crate::error::SledStoreError;
use crate::keys;
use crate::logged_tree::Write;
use crate::tx::{Tx, TxResult, abort, decode, decode_record};
use crate::wal::Record;

/// Names of the data trees, after the configurable prefix (`chat/conversations`, …).
pub(crate) const DATA_TREES: [&str; 13] = [
    "attachments",
    "attachment_sweep",
    "conversations",
    "inbox",
    "messages",
    "message_ids",
    "client_ids",
    "directs",
    "user_stats",
    "groups",
    "notifications_due",
    "blocks",
    "reports",
];

/// The key, in the `meta` tree, saying that `groups` holds every group membership (stores
/// made before the index get it built once, when opened).
const GROUPS_INDEX_BUILT: &[u8] = b"groups_index_built";

/// The key, in the `meta` tree, of the number of the last transaction written through the
/// write-ahead log (u64, big-endian), stored by that transaction itself (`recovery.rs`).
const LAST_COMMIT: &[u8] = b"last_commit";

/// The key, in the `meta` tree, saying that a store without its directory (Relaxed, over a
/// bare `sled::Db`) has written without the log since: log records left in the directory
/// are older than what sled holds and must not be applied (`recovery.rs`).
const LOG_STALE: &[u8] = b"log_stale";

/// The open trees of one store.
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    /// `id(16)` -> the JSON [`ConversationRecord`] (conversation and its participants).
    pub(crate) conversations: sled::Tree,
    /// `tenant \0 user \0 archived | !activity(8) | !id(16)` -> unread(8) + tag match key.
    pub(crate) inbox: sled::Tree,
    /// `conversation(16) | seq(8)` -> the JSON [`chat_core::Message`].
    pub(crate) messages: sled::Tree,
    /// `conversation(16) | message id(16)` -> seq(8).
    pub(crate) message_ids: sled::Tree,
    /// `conversation(16) | sender \0 client_message_id` -> seq(8).
    pub(crate) client_ids: sled::Tree,
    /// `tenant \0 low \0 high \0 (0 | 1 tag match key)` -> conversation id(16).
    pub(crate) directs: sled::Tree,
    /// `tenant \0 user` -> total, unread conversations, unread messages (3 × 8).
    pub(crate) user_stats: sled::Tree,
    /// `tenant \0 user \0 id(16)` -> nothing: the groups each user is in, for search.
    pub(crate) groups: sled::Tree,
    /// `attachment id(16)` -> the JSON [`chat_core::Attachment`].
    pub(crate) attachments: sled::Tree,
    /// `attachment id(16)` -> nothing: every attachment not sent (uploading, unsent,
    /// discarded), which the sweep walks; ids are UUID v7, so oldest first.
    pub(crate) attachment_sweep: sled::Tree,
    /// `due(8) | conversation(16) | user` -> nothing: every pending notification, by the
    /// time it falls due, which the notification worker's claims walk.
    pub(crate) notifications_due: sled::Tree,
    /// `tenant \0 blocker \0 blocked` -> the JSON [`chat_core::Block`].
    pub(crate) blocks: sled::Tree,
    /// `tenant \0 reporter \0 message id(16)` -> the JSON [`chat_core::Report`].
    pub(crate) reports: sled::Tree,
    /// The format marker, the groups index marker and the last logged commit number.
    meta: sled::Tree,
    /// A durable store's write-ahead log; `None` for a Relaxed or temporary store.
    log: Option<Arc<GroupCommit>>,
    /// Unlogged writes mark a log in the directory stale (see
    /// [`mark_log_stale_on_write`](Self::mark_log_stale_on_write)).
    stale_on_write: bool,
    /// The mark is committed: later transactions need not write it again.
    stale_marked: AtomicBool,
}

impl Trees {
    /// Opens (creating if needed) the data trees named `prefix/…` in `db`.
    pub(crate) fn open(db: sled::Db, prefix: &str) -> Result<Self, SledStoreError> {
        let open = |name: &str| db.open_tree(format!("{prefix}/{name}"));
        let meta = open("meta")?;
        Self {
            conversations: open("conversations")?,
            inbox: open("inbox")?,
            messages: open("messages")?,
            message_ids: open("message_ids")?,
            client_ids: open("client_ids")?,
            directs: open("directs")?,
            user_stats: open("user_stats")?,
            groups: open("groups")?,
            attachments: open("attachments")?,
            attachment_sweep: open("attachment_sweep")?,
            notifications_due: open("notifications_due")?,
            blocks: open("blocks")?,
            reports: open("reports")?,
            meta,
            log: None,
            stale_on_write: false,
            stale_marked: AtomicBool::new(false),
            db: db.clone(),
        }
        .with_groups_index()
    }

    /// From now on, every writing transaction goes through `log` (a durable store, once
    /// recovery is done).
    pub(crate) fn write_through(&mut self, log: Arc<GroupCommit>) {
        self.log = Some(log);
    }

    /// Builds the `groups` index of a store made before it existed, once.
    fn with_groups_index(self) -> Result<Self, SledStoreError> {
        let meta = &self.meta;
        if meta.get(GROUPS_INDEX_BUILT)?.is_some() {
            return Ok(self);
        }
        for entry in &self.conversations {
            let (_, bytes) = entry?;
            let record: ConversationRecord = decode("conversation", &bytes)?;
            if record.conversation.kind == ConversationKind::Group {
                for participant in &record.participants {
                    let key =
                        keys::group_member(&record.conversation.tenant, &participant.user, record.conversation.id);
                    self.groups.insert(key, &[])?;
                }
            }
        }
        meta.insert(GROUPS_INDEX_BUILT, &[])?;
        self.db.flush()?;
        Ok(self)
    }

    /// Runs `body` as one serializable sled transaction over all data trees; in a durable
    /// store, through the write-ahead log (numbered, and its writes logged once committed).
    pub(crate) fn transaction<T>(&self, body: impl Fn(&Tx<'_>) -> TxResult<T>) -> ChatResult<T> {
        match &self.log {
            Some(log) => log.logged(|commit| self.run(Some(commit), &body)),
            None => self.run(None, &body).map(|(answer, _)| answer),
        }
    }

    /// The number of the last logged transaction sled holds (0 before the first).
    pub(crate) fn last_commit(&self) -> Result<u64, SledStoreError> {
        match self.meta.get(LAST_COMMIT)? {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| SledStoreError::corrupt("commit number", format!("{} bytes", bytes.len()))),
        }
    }

    /// From now on, the first transaction that writes also marks any log left in the
    /// directory as stale, in that same transaction: this store writes without the log and
    /// cannot tell where the directory is (a Relaxed store over a bare `sled::Db`). A store
    /// that only reads leaves such a log to be applied.
    pub(crate) fn mark_log_stale_on_write(&mut self) {
        self.stale_on_write = true;
    }

    /// True when an unlogged write was made since the last recovery.
    pub(crate) fn log_is_stale(&self) -> Result<bool, SledStoreError> {
        Ok(self.meta.get(LOG_STALE)?.is_some())
    }

    /// Clears the mark once the stale log files are gone (recovery's checkpoint then makes
    /// it durable before anything is acknowledged).
    pub(crate) fn clear_log_stale(&self) -> Result<(), SledStoreError> {
        self.meta.remove(LOG_STALE)?;
        Ok(())
    }

    /// Applies a logged transaction again, with its number (recovery).
    pub(crate) fn replay(&self, record: &Record) -> Result<(), SledStoreError> {
        let applied = self.run(Some(record.commit), &|tx: &Tx<'_>| {
            for write in &record.writes {
                let Some(tree) = tx.tree(write.tree) else {
                    return abort(SledStoreError::corrupt(
                        "write-ahead log",
                        format!("commit {} writes to tree {}", record.commit, write.tree),
                    ));
                };
                match &write.value {
                    Some(value) => tree.insert(write.key.clone(), value.clone())?,
                    None => tree.remove(write.key.clone())?,
                };
            }
            Ok(())
        });
        applied
            .map(|_| ())
            .map_err(|error| SledStoreError::Replay(error.to_string()))
    }

    /// One sled transaction over all data trees and `meta`: `body`'s answer and the writes
    /// it made. With a commit number, a transaction that wrote anything also stores it.
    fn run<T>(&self, commit: Option<u64>, body: &impl Fn(&Tx<'_>) -> TxResult<T>) -> ChatResult<(T, Vec<Write>)> {
        let trees = (
            &self.conversations,
            &self.inbox,
            &self.messages,
            &self.message_ids,
            &self.client_ids,
            &self.directs,
            &self.user_stats,
            &self.groups,
            &self.attachments,
            &self.attachment_sweep,
            &self.notifications_due,
            &self.blocks,
            &self.reports,
            &self.meta,
        );
        let result = trees.transaction(
            |(
                conversations,
                inbox,
                messages,
                message_ids,
                client_ids,
                directs,
                user_stats,
                groups,
                attachments,
                attachment_sweep,
                notifications_due,
                blocks,
                reports,
                meta,
            )| {
                let writes = RefCell::new(Vec::new());
                let answer = body(&Tx::new(
                    [
                        conversations,
                        inbox,
                        messages,
                        message_ids,
                        client_ids,
                        directs,
                        user_stats,
                        groups,
                        attachments,
                        attachment_sweep,
                        notifications_due,
                        blocks,
                        reports,
                    ],
                    &writes,
                ))?;
                let writes = writes.into_inner();
                let mut marked_stale = false;
                if !writes.is_empty() {
                    if let Some(commit) = commit {
                        meta.insert(LAST_COMMIT, &commit.to_be_bytes())?;
                    } else if self.stale_on_write && !self.stale_marked.load(Ordering::Acquire) {
                        meta.insert(LOG_STALE, &[])?;
                        marked_stale = true;
                    }
                }
                Ok((answer, writes, marked_stale))
            },
        );
        match result {
            Ok((answer, writes, marked_stale)) => {
                if marked_stale {
                    self.stale_marked.store(true, Ordering::Release);
                }
                Ok((answer, writes))
            }
            Err(TransactionError::Abort(error)) => Err(error),
            Err(TransactionError::Storage(error)) => {
                if let (Some(log), Some(_)) = (&self.log, commit) {
                    log.poison(&error.to_string());
                }
                Err(SledStoreError::from(error).into())
            }
        }
    }

    /// A conversation record by a plain read: one key, so always a committed whole.
    pub(crate) fn record(&self, id: ConversationId) -> Result<Option<ConversationRecord>, SledStoreError> {
        self.conversations
            .get(keys::conversation(id))?
            .map(|bytes| decode_record(&bytes))
            .transpose()
    }

    /// The direct conversation under a `directs` key, if any.
    pub(crate) fn direct_by_key(&self, key: &[u8]) -> ChatResult<Option<ConversationRecord>> {
        let Some(id) = self.directs.get(key).map_err(SledStoreError::from)? else {
            return Ok(None);
        };
        let id = uuid::Uuid::from_slice(&id).map_err(|error| SledStoreError::corrupt("direct index", error))?;
        Ok(self.record(ConversationId::from_uuid(id))?)
    }

    /// The conversation if the caller participates in it; NotFound otherwise.
    pub(crate) fn member_record(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        chat_core::rules::require_member(self.record(id)?, caller)
    }

    /// Applies `change` to a conversation the caller is in, inside one transaction, and
    /// saves what changed with its index upkeep.
    pub(crate) fn update<T>(
        &self,
        caller: &Identity,
        id: ConversationId,
        change: impl Fn(&Tx<'_>, &mut ConversationRecord) -> TxResult<T>,
    ) -> ChatResult<(ConversationRecord, T)> {
        self.transaction(|tx| {
            let before = tx.member_record(caller, id)?;
            let mut record = before.clone();
            let answer = change(tx, &mut record)?;
            tx.save_changes(Some(&before), &record)?;
            Ok((record, answer))
        })
    }
}
