//! The trees, their transactions and the synchronous body of every store operation.
//!
//! Everything here blocks (sled is a blocking library); [`crate::SledStore`] runs it on
//! tokio's blocking pool.

use std::collections::HashSet;
use std::ops::Bound;

use chat_core::membership::{self, new_participant};
use chat_core::model::{LastMessage, now};
use chat_core::store::{Appended, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, ReadUpTo, SearchQuery};
use chat_core::{
    ArchiveFilter, ChatError, ChatResult, Conversation, ConversationId, ConversationKind, ConversationRecord,
    InboxCursor, Message, MessageId, Participant, Role, Stats, Tag, TagFilter, TenantId, UserId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::error::SledStoreError;
use crate::keys;

/// Names of the data trees, after the configurable prefix (`chat/conversations`, …).
pub(crate) const DATA_TREES: [&str; 7] = [
    "conversations",
    "inbox",
    "messages",
    "message_ids",
    "client_ids",
    "directs",
    "user_stats",
];

/// The result of a transaction body: domain errors abort it.
type TxResult<T> = Result<T, ConflictableTransactionError<ChatError>>;

/// Aborts the running transaction with `error`.
fn abort<T>(error: impl Into<ChatError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error.into()))
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, SledStoreError> {
    serde_json::from_slice(bytes).map_err(|error| SledStoreError::corrupt(what, error))
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, SledStoreError> {
    serde_json::to_vec(value).map_err(|source| SledStoreError::Encode { what, source })
}

/// A user's totals, kept up to date by every transaction that changes them, so that
/// [`Trees::stats`] is one key read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    total: u64,
    unread_conversations: u64,
    unread_messages: u64,
}

impl Counters {
    fn decode(bytes: &[u8]) -> Result<Self, SledStoreError> {
        let corrupt = || SledStoreError::corrupt("user stats", format!("{} bytes", bytes.len()));
        let field = |index: usize| {
            bytes
                .get(index * 8..index * 8 + 8)
                .and_then(keys::u64_value)
                .ok_or_else(corrupt)
        };
        if bytes.len() != 24 {
            return Err(corrupt());
        }
        Ok(Self {
            total: field(0)?,
            unread_conversations: field(1)?,
            unread_messages: field(2)?,
        })
    }

    fn encode(self) -> [u8; 24] {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.total.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.unread_conversations.to_be_bytes());
        bytes[16..].copy_from_slice(&self.unread_messages.to_be_bytes());
        bytes
    }

    fn stats(self) -> Stats {
        Stats {
            total_conversations: self.total,
            unread_conversations: self.unread_conversations,
            unread_messages: self.unread_messages,
        }
    }
}

/// One participant's place in the indexes: what its inbox entry and counters derive from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IndexState {
    archived: bool,
    last_activity_at: DateTime<Utc>,
    unread: u64,
}

impl IndexState {
    fn of(conversation: &Conversation, participant: &Participant) -> Self {
        Self {
            archived: participant.is_archived,
            last_activity_at: conversation.last_activity_at,
            unread: participant.unread_count,
        }
    }
}

/// The open trees of one store.
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    /// `id(16)` -> the JSON [`ConversationRecord`] (conversation and its participants).
    conversations: sled::Tree,
    /// `tenant \0 user \0 archived | !activity(8) | !id(16)` -> unread(8) + tag match key.
    inbox: sled::Tree,
    /// `conversation(16) | seq(8)` -> the JSON [`Message`].
    messages: sled::Tree,
    /// `conversation(16) | message id(16)` -> seq(8).
    message_ids: sled::Tree,
    /// `conversation(16) | sender \0 client_message_id` -> seq(8).
    client_ids: sled::Tree,
    /// `tenant \0 low \0 high \0 (0 | 1 tag match key)` -> conversation id(16).
    directs: sled::Tree,
    /// `tenant \0 user` -> total, unread conversations, unread messages (3 × 8).
    user_stats: sled::Tree,
}

/// The trees as seen inside one transaction.
struct Tx<'a> {
    conversations: &'a TransactionalTree,
    inbox: &'a TransactionalTree,
    messages: &'a TransactionalTree,
    message_ids: &'a TransactionalTree,
    client_ids: &'a TransactionalTree,
    directs: &'a TransactionalTree,
    user_stats: &'a TransactionalTree,
}

impl Tx<'_> {
    fn record(&self, id: ConversationId) -> TxResult<Option<ConversationRecord>> {
        match self.conversations.get(keys::conversation(id))? {
            Some(bytes) => match decode("conversation", &bytes) {
                Ok(record) => Ok(Some(record)),
                Err(error) => abort(error),
            },
            None => Ok(None),
        }
    }

    /// The conversation if `actor` participates in it within `tenant`; NotFound otherwise.
    fn member_record(&self, tenant: &TenantId, actor: &UserId, id: ConversationId) -> TxResult<ConversationRecord> {
        match self.record(id)? {
            Some(record) if &record.conversation.tenant == tenant && record.participant(actor).is_some() => Ok(record),
            _ => abort(ChatError::conversation_not_found()),
        }
    }

    fn save_record(&self, record: &ConversationRecord) -> TxResult<()> {
        let bytes = match encode("conversation", record) {
            Ok(bytes) => bytes,
            Err(error) => return abort(error),
        };
        self.conversations
            .insert(&keys::conversation(record.conversation.id), bytes)?;
        Ok(())
    }

    fn message(&self, conversation: ConversationId, seq: u64) -> TxResult<Message> {
        match self.messages.get(keys::message(conversation, seq))? {
            Some(bytes) => match decode("message", &bytes) {
                Ok(message) => Ok(message),
                Err(error) => abort(error),
            },
            None => abort(SledStoreError::corrupt(
                "message",
                format!("seq {seq} of conversation {conversation} is missing"),
            )),
        }
    }

    fn save_message(&self, message: &Message) -> TxResult<()> {
        let bytes = match encode("message", message) {
            Ok(bytes) => bytes,
            Err(error) => return abort(error),
        };
        self.messages
            .insert(&keys::message(message.conversation_id, message.seq), bytes)?;
        Ok(())
    }

    fn seq_value(what: &'static str, bytes: &[u8]) -> TxResult<u64> {
        match keys::u64_value(bytes) {
            Some(seq) => Ok(seq),
            None => abort(SledStoreError::corrupt(what, "not a seq")),
        }
    }

    /// The seq of `message` in `conversation`; NotFound(message) when it is not there.
    fn message_seq(&self, conversation: ConversationId, message: MessageId) -> TxResult<u64> {
        match self.message_ids.get(keys::message_id(conversation, message))? {
            Some(bytes) => Self::seq_value("message id", &bytes),
            None => abort(ChatError::message_not_found()),
        }
    }

    fn add_to_counters(&self, tenant: &TenantId, user: &UserId, change: impl Fn(&mut Counters)) -> TxResult<()> {
        let key = keys::user(tenant, user);
        let mut counters = match self.user_stats.get(&key)? {
            Some(bytes) => match Counters::decode(&bytes) {
                Ok(counters) => counters,
                Err(error) => return abort(error),
            },
            None => Counters::default(),
        };
        change(&mut counters);
        if counters == Counters::default() {
            self.user_stats.remove(key)?;
        } else {
            self.user_stats.insert(key, &counters.encode())?;
        }
        Ok(())
    }

    /// Moves one participant's inbox entry and counters from `before` to `after`
    /// (`None`: not a participant), in this transaction.
    fn reindex(
        &self,
        record: &ConversationRecord,
        user: &UserId,
        before: Option<IndexState>,
        after: Option<IndexState>,
    ) -> TxResult<()> {
        if before == after {
            return Ok(());
        }
        let conversation = &record.conversation;
        let tenant = &conversation.tenant;
        if let Some(before) = before {
            self.inbox.remove(keys::inbox(
                tenant,
                user,
                before.archived,
                before.last_activity_at,
                conversation.id,
            ))?;
        }
        if let Some(after) = after {
            self.inbox.insert(
                keys::inbox(tenant, user, after.archived, after.last_activity_at, conversation.id),
                keys::inbox_value(after.unread, conversation.tag.as_ref()),
            )?;
        }
        let total_before = u64::from(before.is_some());
        let total_after = u64::from(after.is_some());
        let unread_before = before.map_or(0, |state| state.unread);
        let unread_after = after.map_or(0, |state| state.unread);
        if total_before == total_after && unread_before == unread_after {
            return Ok(());
        }
        self.add_to_counters(tenant, user, |counters| {
            counters.total = (counters.total + total_after).saturating_sub(total_before);
            counters.unread_messages = (counters.unread_messages + unread_after).saturating_sub(unread_before);
            counters.unread_conversations = (counters.unread_conversations + u64::from(unread_after > 0))
                .saturating_sub(u64::from(unread_before > 0));
        })
    }

    /// Indexes a conversation that did not exist before, for all its participants.
    fn index_new(&self, record: &ConversationRecord) -> TxResult<()> {
        for participant in &record.participants {
            let state = IndexState::of(&record.conversation, participant);
            self.reindex(record, &participant.user, None, Some(state))?;
        }
        Ok(())
    }
}

fn new_conversation(
    tenant: TenantId,
    kind: ConversationKind,
    title: Option<String>,
    tag: Option<Tag>,
    created_by: UserId,
    metadata: chat_core::Metadata,
) -> Conversation {
    let at = now();
    Conversation {
        id: ConversationId::new_v7(),
        tenant,
        kind,
        title,
        tag,
        created_by,
        created_at: at,
        updated_at: at,
        last_message: None,
        last_seq: 0,
        last_activity_at: at,
        metadata,
    }
}

/// Prefix filter on an inbox entry's tag match key (the record is checked again).
fn tag_key_may_match(filter: &TagFilter, tag_key: &[u8]) -> bool {
    let mut wanted = filter.taggable_type.clone().into_bytes();
    wanted.push(0);
    match &filter.taggable_id {
        None => tag_key.starts_with(&wanted),
        Some(id) => {
            wanted.extend_from_slice(id.canonical().as_bytes());
            tag_key == wanted.as_slice()
        }
    }
}

fn inbox_order(records: &mut [ConversationRecord]) {
    records.sort_by(|a, b| {
        (b.conversation.last_activity_at, b.conversation.id).cmp(&(a.conversation.last_activity_at, a.conversation.id))
    });
}

/// The entries of one or two parts of a user's inbox, merged in inbox order.
struct InboxScan {
    parts: Vec<sled::Iter>,
    /// The next entry of each part, read ahead to merge.
    heads: Vec<Option<sled::Result<(sled::IVec, sled::IVec)>>>,
}

impl InboxScan {
    fn new(
        tree: &sled::Tree,
        tenant: &TenantId,
        user: &UserId,
        archive: ArchiveFilter,
        after: Option<&InboxCursor>,
    ) -> Self {
        let flags: &[bool] = match archive {
            ArchiveFilter::Active => &[false],
            ArchiveFilter::Archived => &[true],
            ArchiveFilter::All => &[false, true],
        };
        let mut parts: Vec<sled::Iter> = flags
            .iter()
            .map(|&archived| {
                let prefix = keys::inbox_prefix(tenant, user, archived);
                let mut end = prefix.clone();
                if let Some(last) = end.last_mut() {
                    // The flag byte is 0 or 1: the next value bounds the part.
                    *last += 1;
                }
                let start = match after {
                    Some(cursor) => {
                        let mut start = prefix;
                        start.extend_from_slice(&keys::cursor_suffix(cursor));
                        Bound::Excluded(start)
                    }
                    None => Bound::Included(prefix),
                };
                tree.range::<Vec<u8>, _>((start, Bound::Excluded(end)))
            })
            .collect();
        let heads = parts.iter_mut().map(Iterator::next).collect();
        Self { parts, heads }
    }

    /// The inbox-order suffix of a read-ahead entry (empty for an error, so it comes first).
    fn suffix(head: &Option<sled::Result<(sled::IVec, sled::IVec)>>) -> Option<&[u8]> {
        match head {
            None => None,
            Some(Err(_)) => Some(&[]),
            Some(Ok((key, _))) => Some(&key[key.len().saturating_sub(keys::INBOX_SUFFIX_LEN)..]),
        }
    }
}

impl Iterator for InboxScan {
    type Item = Result<(sled::IVec, sled::IVec), SledStoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, &[u8])> = None;
        for (index, head) in self.heads.iter().enumerate() {
            if let Some(suffix) = Self::suffix(head) {
                if best.is_none_or(|(_, best_suffix)| suffix < best_suffix) {
                    best = Some((index, suffix));
                }
            }
        }
        let (index, _) = best?;
        let next = self.parts[index].next();
        let head = std::mem::replace(&mut self.heads[index], next)?;
        Some(head.map_err(SledStoreError::from))
    }
}

impl Trees {
    /// Opens (creating if needed) the data trees named `prefix/…` in `db`.
    pub(crate) fn open(db: sled::Db, prefix: &str) -> Result<Self, SledStoreError> {
        let open = |name: &str| db.open_tree(format!("{prefix}/{name}"));
        Ok(Self {
            conversations: open("conversations")?,
            inbox: open("inbox")?,
            messages: open("messages")?,
            message_ids: open("message_ids")?,
            client_ids: open("client_ids")?,
            directs: open("directs")?,
            user_stats: open("user_stats")?,
            db,
        })
    }

    /// Runs `body` as one serializable sled transaction over all data trees.
    fn transaction<T>(&self, body: impl Fn(&Tx<'_>) -> TxResult<T>) -> ChatResult<T> {
        let trees = (
            &self.conversations,
            &self.inbox,
            &self.messages,
            &self.message_ids,
            &self.client_ids,
            &self.directs,
            &self.user_stats,
        );
        let result = trees.transaction(
            |(conversations, inbox, messages, message_ids, client_ids, directs, user_stats)| {
                body(&Tx {
                    conversations,
                    inbox,
                    messages,
                    message_ids,
                    client_ids,
                    directs,
                    user_stats,
                })
            },
        );
        match result {
            Ok(value) => Ok(value),
            Err(TransactionError::Abort(error)) => Err(error),
            Err(TransactionError::Storage(error)) => Err(SledStoreError::from(error).into()),
        }
    }

    /// A conversation record by a plain read: one key, so always a committed whole.
    fn record(&self, id: ConversationId) -> Result<Option<ConversationRecord>, SledStoreError> {
        self.conversations
            .get(keys::conversation(id))?
            .map(|bytes| decode("conversation", &bytes))
            .transpose()
    }

    fn member_record(&self, tenant: &TenantId, actor: &UserId, id: ConversationId) -> ChatResult<ConversationRecord> {
        match self.record(id)? {
            Some(record) if &record.conversation.tenant == tenant && record.participant(actor).is_some() => Ok(record),
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    pub(crate) fn find_or_create_direct(&self, new: &NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let key = keys::direct(&new.tenant, &new.creator, &new.counterpart, new.tag.as_ref());
        self.transaction(|tx| {
            if let Some(id) = tx.directs.get(&key)? {
                let id = match uuid::Uuid::from_slice(&id) {
                    Ok(id) => ConversationId::from_uuid(id),
                    Err(error) => return abort(SledStoreError::corrupt("direct index", error)),
                };
                return match tx.record(id)? {
                    Some(record) => Ok((record, false)),
                    None => abort(SledStoreError::corrupt("direct index", format!("{id} has no record"))),
                };
            }
            let conversation = new_conversation(
                new.tenant.clone(),
                ConversationKind::Direct,
                None,
                new.tag.clone(),
                new.creator.clone(),
                new.metadata.clone(),
            );
            let at = conversation.created_at;
            let mut record = ConversationRecord {
                participants: vec![
                    new_participant(new.creator.clone(), Role::Member, at, 0),
                    new_participant(new.counterpart.clone(), Role::Member, at, 0),
                ],
                conversation,
            };
            record.sort_participants();
            tx.directs
                .insert(key.as_slice(), &keys::conversation(record.conversation.id))?;
            tx.save_record(&record)?;
            tx.index_new(&record)?;
            Ok((record, true))
        })
    }

    pub(crate) fn create_group(&self, new: &NewGroup) -> ChatResult<ConversationRecord> {
        self.transaction(|tx| {
            let conversation = new_conversation(
                new.tenant.clone(),
                ConversationKind::Group,
                Some(new.title.clone()),
                new.tag.clone(),
                new.creator.clone(),
                new.metadata.clone(),
            );
            let at = conversation.created_at;
            let mut participants = vec![new_participant(new.creator.clone(), Role::Owner, at, 0)];
            participants.extend(
                new.members
                    .iter()
                    .map(|user| new_participant(user.clone(), Role::Member, at, 0)),
            );
            let mut record = ConversationRecord {
                conversation,
                participants,
            };
            record.sort_participants();
            tx.save_record(&record)?;
            tx.index_new(&record)?;
            Ok(record)
        })
    }

    pub(crate) fn get_conversation(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        self.member_record(tenant, actor, id)
    }

    pub(crate) fn append_message(&self, new: &NewMessage) -> ChatResult<Appended> {
        let client_key = new
            .client_message_id
            .as_deref()
            .map(|client_id| keys::client_id(new.conversation_id, &new.sender, client_id));
        self.transaction(|tx| {
            let mut record = tx.member_record(&new.tenant, &new.sender, new.conversation_id)?;
            if let Some(client_key) = &client_key {
                if let Some(seq) = tx.client_ids.get(client_key)? {
                    let seq = Tx::seq_value("client message id", &seq)?;
                    let message = tx.message(new.conversation_id, seq)?;
                    return Ok(Appended {
                        message,
                        created: false,
                        record,
                    });
                }
            }
            let before = record.clone();
            let message = new.next_message(&record.conversation);
            let (seq, at) = (message.seq, message.created_at);
            tx.save_message(&message)?;
            tx.message_ids.insert(
                &keys::message_id(message.conversation_id, message.id),
                &seq.to_be_bytes(),
            )?;
            if let Some(client_key) = &client_key {
                tx.client_ids.insert(client_key.as_slice(), &seq.to_be_bytes())?;
            }
            let conversation = &mut record.conversation;
            conversation.last_seq = seq;
            conversation.last_message = Some(LastMessage::of(&message));
            conversation.last_activity_at = at;
            conversation.updated_at = at;
            for participant in &mut record.participants {
                if participant.user == new.sender {
                    participant.last_read_seq = seq;
                    participant.last_read_at = Some(at);
                    participant.unread_count = 0;
                } else {
                    participant.unread_count += 1;
                }
                participant.is_archived = false;
            }
            for (old, current) in before.participants.iter().zip(&record.participants) {
                tx.reindex(
                    &record,
                    &current.user,
                    Some(IndexState::of(&before.conversation, old)),
                    Some(IndexState::of(&record.conversation, current)),
                )?;
            }
            tx.save_record(&record)?;
            Ok(Appended {
                message,
                created: true,
                record,
            })
        })
    }

    /// Applies `change` to the actor's participant row (the actor must participate) and
    /// keeps its inbox entry and counters in step; saves only when something changed.
    fn update_own_row<T>(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        change: impl Fn(&Conversation, &mut Participant) -> T,
    ) -> ChatResult<(ConversationRecord, T)> {
        self.transaction(|tx| {
            let mut record = tx.member_record(tenant, actor, id)?;
            let conversation = record.conversation.clone();
            let Some(participant) = record.participants.iter_mut().find(|p| &p.user == actor) else {
                return abort(ChatError::conversation_not_found());
            };
            let before = participant.clone();
            let answer = change(&conversation, participant);
            if *participant != before {
                let after = IndexState::of(&conversation, participant);
                tx.reindex(
                    &record,
                    actor,
                    Some(IndexState::of(&conversation, &before)),
                    Some(after),
                )?;
                tx.save_record(&record)?;
            }
            Ok((record, answer))
        })
    }

    pub(crate) fn mark_read(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.update_own_row(tenant, actor, id, |conversation, participant| {
            let last_seq = conversation.last_seq;
            let target = match up_to {
                ReadUpTo::Newest => last_seq,
                ReadUpTo::Seq(seq) => seq.min(last_seq),
            };
            let moved = target > participant.last_read_seq;
            if moved {
                participant.last_read_seq = target;
                participant.last_read_at = Some(now());
                // Every message above a watermark is from another sender: sending moves
                // the sender's own watermark to its message, new members start at the
                // newest seq, and watermarks never move back. So the count of others'
                // messages above `target` is exactly `last_seq - target`, with no scan.
                participant.unread_count = last_seq - target;
            }
            moved
        })
    }

    pub(crate) fn set_archived(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let (record, ()) = self.update_own_row(tenant, actor, id, |_, participant| {
            participant.is_archived = archived;
        })?;
        Ok(record)
    }

    pub(crate) fn clear_history(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let (record, ()) = self.update_own_row(tenant, actor, id, |conversation, participant| {
            let last_seq = conversation.last_seq;
            participant.cleared_through_seq = last_seq;
            if last_seq > participant.last_read_seq {
                participant.last_read_seq = last_seq;
                participant.last_read_at = Some(now());
            }
            participant.unread_count = 0;
        })?;
        Ok(record)
    }

    pub(crate) fn edit_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
        body: &str,
    ) -> ChatResult<(Message, ConversationRecord)> {
        self.transaction(|tx| {
            let mut record = tx.member_record(tenant, actor, conversation)?;
            let seq = tx.message_seq(conversation, message)?;
            let mut stored = tx.message(conversation, seq)?;
            if &stored.sender != actor {
                return abort(ChatError::PermissionDenied {
                    reason: "only the sender may edit a message",
                });
            }
            if stored.deleted_at.is_some() {
                return abort(ChatError::Conflict {
                    reason: "a deleted message cannot be edited",
                });
            }
            let at = now();
            stored.body = body.to_owned();
            stored.edited_at = Some(at);
            tx.save_message(&stored)?;
            record.conversation.updated_at = at;
            // The preview is the newest message that is not deleted; an edit changes its
            // text only when the edited message is that one.
            if record.conversation.last_message.as_ref().map(|last| last.id) == Some(stored.id) {
                record.conversation.last_message = Some(LastMessage::of(&stored));
            }
            tx.save_record(&record)?;
            Ok((stored, record))
        })
    }

    pub(crate) fn delete_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<(Message, ConversationRecord)> {
        self.transaction(|tx| {
            let mut record = tx.member_record(tenant, actor, conversation)?;
            let seq = tx.message_seq(conversation, message)?;
            let mut stored = tx.message(conversation, seq)?;
            if &stored.sender != actor {
                return abort(ChatError::PermissionDenied {
                    reason: "only the sender may delete a message",
                });
            }
            if stored.deleted_at.is_some() {
                return Ok((stored, record));
            }
            let at = now();
            stored.body.clear();
            stored.deleted_at = Some(at);
            tx.save_message(&stored)?;
            record.conversation.updated_at = at;
            if record.conversation.last_message.as_ref().map(|last| last.id) == Some(stored.id) {
                // The preview moves to the newest older message that is not deleted: the
                // walk down costs one read per deleted message it passes.
                let mut preview = None;
                for older in (1..seq).rev() {
                    let candidate = tx.message(conversation, older)?;
                    if candidate.deleted_at.is_none() {
                        preview = Some(LastMessage::of(&candidate));
                        break;
                    }
                }
                record.conversation.last_message = preview;
            }
            tx.save_record(&record)?;
            Ok((stored, record))
        })
    }

    pub(crate) fn add_participants(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        users: &[UserId],
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.transaction(|tx| {
            let mut record = tx.member_record(tenant, actor, id)?;
            let added =
                match membership::users_to_add(record.conversation.kind, &record.participants, users, max_participants)
                {
                    Ok(added) => added,
                    Err(error) => return abort(error),
                };
            if !added.is_empty() {
                let at = now();
                let last_seq = record.conversation.last_seq;
                record.participants.extend(
                    added
                        .iter()
                        .map(|user| new_participant(user.clone(), Role::Member, at, last_seq)),
                );
                record.conversation.updated_at = at;
                record.sort_participants();
                for user in &added {
                    if let Some(participant) = record.participant(user) {
                        let state = IndexState::of(&record.conversation, participant);
                        tx.reindex(&record, user, None, Some(state))?;
                    }
                }
                tx.save_record(&record)?;
            }
            Ok((record, added.clone()))
        })
    }

    pub(crate) fn remove_participant(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        self.transaction(|tx| {
            let mut record = tx.member_record(tenant, actor, id)?;
            let removed =
                match membership::remove_participant(record.conversation.kind, &mut record.participants, actor, user) {
                    Ok((removed, _heir)) => removed,
                    Err(error) => return abort(error),
                };
            record.conversation.updated_at = now();
            tx.reindex(
                &record,
                user,
                Some(IndexState::of(&record.conversation, &removed)),
                None,
            )?;
            tx.save_record(&record)?;
            Ok(record)
        })
    }

    pub(crate) fn inbox_page(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: &InboxQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let mut page: Vec<ConversationRecord> = Vec::new();
        let mut listed: HashSet<ConversationId> = HashSet::new();
        if query.limit == 0 {
            return Ok(page);
        }
        for entry in InboxScan::new(&self.inbox, tenant, user, query.archive, query.after.as_ref()) {
            let (key, value) = entry?;
            let Some((unread, tag_key)) = keys::split_inbox_value(&value) else {
                return Err(SledStoreError::corrupt("inbox entry", "short value").into());
            };
            if query.unread_only && unread == 0 {
                continue;
            }
            if let Some(filter) = &query.tag {
                if !tag_key_may_match(filter, tag_key) {
                    continue;
                }
            }
            let Some(id) = keys::inbox_key_conversation(&key) else {
                return Err(SledStoreError::corrupt("inbox entry", "short key").into());
            };
            if listed.contains(&id) {
                continue;
            }
            let Some(record) = self.record(id)? else { continue };
            if !Self::entry_is_current(&record, tenant, user, &key) || !Self::passes(&record, user, query) {
                // The conversation changed since the entry was read (it moved up with a
                // new message, or was archived): its current entry is elsewhere.
                continue;
            }
            listed.insert(id);
            page.push(record);
            if page.len() >= query.limit {
                break;
            }
        }
        Ok(page)
    }

    /// True when `key` is the inbox entry `record` gives `user` now.
    fn entry_is_current(record: &ConversationRecord, tenant: &TenantId, user: &UserId, key: &[u8]) -> bool {
        let conversation = &record.conversation;
        &conversation.tenant == tenant
            && record.participant(user).is_some_and(|me| {
                key == keys::inbox(
                    tenant,
                    user,
                    me.is_archived,
                    conversation.last_activity_at,
                    conversation.id,
                )
            })
    }

    /// The filters of an inbox query, on the record itself (as the reference store does).
    fn passes(record: &ConversationRecord, user: &UserId, query: &InboxQuery) -> bool {
        let conversation = &record.conversation;
        record
            .participant(user)
            .is_some_and(|me| query.archive.matches(me.is_archived) && (!query.unread_only || me.unread_count > 0))
            && query
                .tag
                .as_ref()
                .is_none_or(|filter| filter.matches(conversation.tag.as_ref()))
            && query
                .after
                .is_none_or(|after| after.is_before(conversation.last_activity_at, conversation.id))
    }

    pub(crate) fn history_page(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<Vec<Message>> {
        let record = self.member_record(tenant, actor, id)?;
        let cleared = record.participant(actor).map_or(0, |p| p.cleared_through_seq);
        let last_seq = record.conversation.last_seq;
        // Seqs are dense, so the page is an exact key range: no scan beyond the page.
        let lower = query.after.unwrap_or(0).max(cleared);
        let upper = match query.before {
            Some(0) => return Ok(Vec::new()),
            Some(before) => (before - 1).min(last_seq),
            None => last_seq,
        };
        if query.limit == 0 || lower >= upper {
            return Ok(Vec::new());
        }
        let span = u64::try_from(query.limit).unwrap_or(u64::MAX);
        let (first, last) = if query.after.is_some() {
            (lower + 1, upper.min(lower.saturating_add(span)))
        } else {
            ((lower + 1).max(upper.saturating_sub(span - 1)), upper)
        };
        let mut page = Vec::new();
        for entry in self.messages.range(keys::message(id, first)..=keys::message(id, last)) {
            let (_, bytes) = entry.map_err(SledStoreError::from)?;
            page.push(decode::<Message>("message", &bytes)?);
        }
        let expected = (first..=last).collect::<Vec<_>>();
        if page.iter().map(|message| message.seq).ne(expected) {
            return Err(
                SledStoreError::corrupt("messages", format!("seqs {first}..={last} of {id} are not dense")).into(),
            );
        }
        Ok(page)
    }

    pub(crate) fn search(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: &SearchQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let mut ids: Vec<ConversationId> = Vec::new();
        let mut seen: HashSet<ConversationId> = HashSet::new();
        for entry in InboxScan::new(&self.inbox, tenant, user, ArchiveFilter::All, None) {
            let (key, _) = entry?;
            let Some(id) = keys::inbox_key_conversation(&key) else {
                return Err(SledStoreError::corrupt("inbox entry", "short key").into());
            };
            if seen.insert(id) {
                ids.push(id);
            }
        }
        let needle = query.title_contains.to_lowercase();
        let mut records = Vec::new();
        for id in ids {
            let Some(record) = self.record(id)? else { continue };
            if &record.conversation.tenant != tenant || record.participant(user).is_none() {
                continue;
            }
            let by_title = record
                .conversation
                .title
                .as_ref()
                .is_some_and(|title| title.to_lowercase().contains(&needle));
            let by_participant = record
                .participants
                .iter()
                .any(|p| &p.user != user && query.participants.contains(&p.user));
            if by_title || by_participant {
                records.push(record);
            }
        }
        inbox_order(&mut records);
        records.truncate(query.limit);
        Ok(records)
    }

    pub(crate) fn stats(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Stats> {
        match self
            .user_stats
            .get(keys::user(tenant, user))
            .map_err(SledStoreError::from)?
        {
            Some(bytes) => Ok(Counters::decode(&bytes)?.stats()),
            None => Ok(Stats::default()),
        }
    }
}
