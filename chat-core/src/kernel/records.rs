//! The records of the keyspace as a transaction reads and writes them: conversations,
//! messages, attachments, blocks, and the upkeep of each participant's inbox entry,
//! counters and notification entry whenever a conversation record changes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::attachment::{AttachedFile, Attachment, AttachmentState};
use crate::error::{ChatError, ChatResult};
use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Conversation, ConversationKind, ConversationRecord, Message, Participant, Stats};
use crate::rules;

use super::error::KernelError;
use super::keys::{self, Kind};
use super::tx::Tx;

/// Decodes a stored JSON value.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> ChatResult<T> {
    serde_json::from_slice(bytes).map_err(|error| KernelError::corrupt(what, error).into())
}

/// Encodes a value as JSON.
pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> ChatResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| KernelError::Encode { what, source }.into())
}

/// A stored seq (8 bytes, big-endian).
pub(crate) fn seq_value(what: &'static str, bytes: &[u8]) -> ChatResult<u64> {
    keys::u64_value(bytes).ok_or_else(|| KernelError::corrupt(what, "not a seq").into())
}

/// A stored uuid (16 bytes).
pub(crate) fn uuid_value(what: &'static str, bytes: &[u8]) -> ChatResult<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes).map_err(|error| KernelError::corrupt(what, error).into())
}

/// A user's totals (3 x 8 bytes), kept by every transaction that changes them, so that
/// stats are one read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    total: u64,
    unread_conversations: u64,
    unread_messages: u64,
}

impl Counters {
    pub(crate) fn decode(bytes: &[u8]) -> ChatResult<Self> {
        let field = |index: usize| bytes.get(index * 8..index * 8 + 8).and_then(keys::u64_value);
        match (bytes.len(), field(0), field(1), field(2)) {
            (24, Some(total), Some(unread_conversations), Some(unread_messages)) => Ok(Self {
                total,
                unread_conversations,
                unread_messages,
            }),
            _ => Err(KernelError::corrupt("user stats", format!("{} bytes", bytes.len())).into()),
        }
    }

    fn encode(self) -> Vec<u8> {
        [self.total, self.unread_conversations, self.unread_messages]
            .iter()
            .flat_map(|value| value.to_be_bytes())
            .collect()
    }

    pub(crate) fn stats(self) -> Stats {
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

    /// `user`'s state in `record`, `None` when not a participant.
    fn in_record(record: &ConversationRecord, user: &UserId) -> Option<Self> {
        record
            .participant(user)
            .map(|participant| Self::of(&record.conversation, participant))
    }
}

impl Tx<'_> {
    /// A conversation record, if it exists.
    pub(crate) fn record(&self, id: ConversationId) -> ChatResult<Option<ConversationRecord>> {
        self.get(&keys::conversation(id))?
            .map(|bytes| {
                decode::<ConversationRecord>("conversation", &bytes)
                    .map(ConversationRecord::with_delivery_at_least_read)
            })
            .transpose()
    }

    /// The conversation if the caller participates in it; NotFound otherwise.
    pub(crate) fn member_record(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        rules::require_member(self.record(id)?, caller)
    }

    /// A conversation of `tenant` (for the host's calls, with no member); NotFound otherwise.
    pub(crate) fn tenant_record(&self, tenant: &TenantId, id: ConversationId) -> ChatResult<ConversationRecord> {
        match self.record(id)? {
            Some(record) if &record.conversation.tenant == tenant => Ok(record),
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    /// The conversation a key's value names, if it exists.
    pub(crate) fn record_named_by(&self, what: &'static str, value: &[u8]) -> ChatResult<Option<ConversationRecord>> {
        self.record(ConversationId::from_uuid(uuid_value(what, value)?))
    }

    /// The message with `seq`; an error when it is missing (seqs are dense).
    pub(crate) fn message(&self, conversation: ConversationId, seq: u64) -> ChatResult<Message> {
        match self.get(&keys::message(conversation, seq))? {
            Some(bytes) => decode("message", &bytes),
            None => Err(KernelError::corrupt(
                "message",
                format!("seq {seq} of conversation {conversation} is missing"),
            )
            .into()),
        }
    }

    /// Saves a message under its seq.
    pub(crate) fn save_message(&self, message: &Message) -> ChatResult<()> {
        self.put(
            keys::message(message.conversation_id, message.seq),
            encode("message", message)?,
        );
        Ok(())
    }

    /// The seq of message `id`, if the conversation has it.
    pub(crate) fn seq_of(&self, conversation: ConversationId, id: MessageId) -> ChatResult<Option<u64>> {
        self.get(&keys::message_id(conversation, id))?
            .map(|bytes| seq_value("message id", &bytes))
            .transpose()
    }

    /// The message `message` of `conversation`; NotFound(message) when it is not there.
    pub(crate) fn message_by_id(&self, conversation: ConversationId, message: MessageId) -> ChatResult<Message> {
        match self.seq_of(conversation, message)? {
            Some(seq) => self.message(conversation, seq),
            None => Err(ChatError::message_not_found()),
        }
    }

    /// The messages with seqs in `first..=last` of `conversation`, ascending: one range read.
    pub(crate) fn messages_between(
        &self,
        conversation: ConversationId,
        first: u64,
        last: u64,
    ) -> ChatResult<Vec<Message>> {
        let end = keys::message(conversation, last.saturating_add(1));
        let end = if last == u64::MAX {
            keys::prefix_end(&keys::message(conversation, 0)[..17])
        } else {
            Some(end)
        };
        self.scan(
            &keys::message(conversation, first),
            end.as_deref(),
            super::engine::Direction::Forward,
        )
        .map(|entry| entry.and_then(|(_, bytes)| decode("message", &bytes)))
        .collect()
    }

    /// The newest message below `seq` that is not deleted (the preview after a delete): one
    /// backward range read, stopping at the first visible message.
    pub(crate) fn newest_visible_below(&self, conversation: ConversationId, seq: u64) -> ChatResult<Option<Message>> {
        let scan = self.scan(
            &keys::message(conversation, 1),
            Some(&keys::message(conversation, seq)),
            super::engine::Direction::Backward,
        );
        for entry in scan {
            let message: Message = decode("message", &entry?.1)?;
            if message.deleted_at.is_none() {
                return Ok(Some(message));
            }
        }
        Ok(None)
    }

    /// The attachment record `id`, if any.
    pub(crate) fn attachment(&self, id: AttachmentId) -> ChatResult<Option<Attachment>> {
        self.get(&keys::attachment(Kind::Attachment, id))?
            .map(|bytes| decode("attachment", &bytes))
            .transpose()
    }

    /// Saves an attachment record and keeps the sweep's index: every record not sent is in it.
    pub(crate) fn save_attachment(&self, attachment: &Attachment) -> ChatResult<()> {
        self.put(
            keys::attachment(Kind::Attachment, attachment.id),
            encode("attachment", attachment)?,
        );
        let sweep = keys::attachment(Kind::AttachmentSweep, attachment.id);
        if matches!(attachment.state, AttachmentState::Sent(_)) {
            self.delete(sweep);
        } else {
            self.put(sweep, Vec::new());
        }
        Ok(())
    }

    /// Discards the records of a deleted message's `files` ([`rules::discard_attachment`]).
    pub(crate) fn discard_attachments(&self, files: &[AttachedFile]) -> ChatResult<()> {
        for file in files {
            if let Some(mut attachment) = self.attachment(file.id)? {
                rules::discard_attachment(&mut attachment);
                self.save_attachment(&attachment)?;
            }
        }
        Ok(())
    }

    /// Removes an attachment record and its sweep entry.
    pub(crate) fn remove_attachment(&self, id: AttachmentId) {
        self.delete(keys::attachment(Kind::Attachment, id));
        self.delete(keys::attachment(Kind::AttachmentSweep, id));
    }

    /// `blocker` of `tenant` has blocked `blocked`.
    pub(crate) fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        Ok(self.get(&keys::block(tenant, blocker, blocked))?.is_some())
    }

    /// [`rules::send_refused_by_block`] for the caller's new words in `record` (a send, an
    /// edit, a reaction).
    pub(crate) fn check_send_not_blocked(&self, caller: &Identity, record: &ConversationRecord) -> ChatResult<()> {
        let blocked = match rules::block_that_stops(record, &caller.user) {
            Some(blocker) => self.is_blocked(&caller.tenant, blocker, &caller.user)?,
            None => false,
        };
        rules::send_refused_by_block(blocked)
    }

    /// [`rules::group_refused_by_block`] for the users a group write brings together with
    /// the caller (`joining`: a new group's members, or the users an addition added).
    pub(crate) fn check_group_not_blocked(&self, caller: &Identity, joining: &[UserId]) -> ChatResult<()> {
        for user in rules::joining_others(&caller.user, joining) {
            if self.is_blocked(&caller.tenant, user, &caller.user)? {
                return rules::group_refused_by_block(true);
            }
        }
        rules::group_refused_by_block(false)
    }

    /// A user's counters.
    pub(crate) fn counters(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Counters> {
        match self.get(&keys::user_stats(tenant, user))? {
            Some(bytes) => Counters::decode(&bytes),
            None => Ok(Counters::default()),
        }
    }

    fn add_to_counters(&self, tenant: &TenantId, user: &UserId, change: impl Fn(&mut Counters)) -> ChatResult<()> {
        let mut counters = self.counters(tenant, user)?;
        change(&mut counters);
        let key = keys::user_stats(tenant, user);
        if counters == Counters::default() {
            self.delete(key);
        } else {
            self.put(key, counters.encode());
        }
        Ok(())
    }

    /// Saves `after` (a record that was `before`, or new when `before` is `None`) and moves
    /// every participant's inbox entry, counters and notification entry with it: added,
    /// removed and changed participants alike. Nothing is written when nothing changed.
    pub(crate) fn save_changes(
        &self,
        before: Option<&ConversationRecord>,
        after: &ConversationRecord,
    ) -> ChatResult<()> {
        if before == Some(after) {
            return Ok(());
        }
        let mut users: Vec<&UserId> = after.participants.iter().map(|p| &p.user).collect();
        if let Some(before) = before {
            users.extend(
                before
                    .participants
                    .iter()
                    .map(|p| &p.user)
                    .filter(|user| after.participant(user).is_none()),
            );
        }
        for user in users {
            let was = before.and_then(|before| IndexState::in_record(before, user));
            self.reindex(after, user, was, IndexState::in_record(after, user))?;
            let due = |record: &ConversationRecord| {
                record
                    .participant(user)
                    .and_then(|participant| participant.pending_notification)
                    .map(|pending| pending.due_at)
            };
            self.reindex_notification(after.conversation.id, user, before.and_then(due), due(after));
        }
        self.put(
            keys::conversation(after.conversation.id),
            encode("conversation", after)?,
        );
        Ok(())
    }

    /// Loads a conversation the caller is in, applies `change` and saves what changed.
    pub(crate) fn update<T>(
        &self,
        caller: &Identity,
        id: ConversationId,
        change: impl FnOnce(&mut ConversationRecord) -> ChatResult<T>,
    ) -> ChatResult<(ConversationRecord, T)> {
        let before = self.member_record(caller, id)?;
        let mut record = before.clone();
        let answer = change(&mut record)?;
        self.save_changes(Some(&before), &record)?;
        Ok((record, answer))
    }

    /// Moves one participant's notification entry from `before` to `after` (`None`: no
    /// pending notification).
    fn reindex_notification(
        &self,
        conversation: ConversationId,
        user: &UserId,
        before: Option<DateTime<Utc>>,
        after: Option<DateTime<Utc>>,
    ) {
        if before == after {
            return;
        }
        if let Some(due) = before {
            self.delete(keys::notification_due(due, conversation, user));
        }
        if let Some(due) = after {
            self.put(keys::notification_due(due, conversation, user), Vec::new());
        }
    }

    /// Moves one participant's inbox entry, group membership and counters from `before` to
    /// `after` (`None`: not a participant).
    fn reindex(
        &self,
        record: &ConversationRecord,
        user: &UserId,
        before: Option<IndexState>,
        after: Option<IndexState>,
    ) -> ChatResult<()> {
        if before == after {
            return Ok(());
        }
        let conversation = &record.conversation;
        let tenant = &conversation.tenant;
        if conversation.kind == ConversationKind::Group && before.is_some() != after.is_some() {
            let key = keys::group_member(tenant, user, conversation.id);
            if after.is_some() {
                self.put(key, Vec::new());
            } else {
                self.delete(key);
            }
        }
        if let Some(before) = before {
            self.delete(keys::inbox(
                tenant,
                user,
                before.archived,
                before.last_activity_at,
                conversation.id,
            ));
        }
        if let Some(after) = after {
            self.put(
                keys::inbox(tenant, user, after.archived, after.last_activity_at, conversation.id),
                keys::inbox_value(after.unread, conversation.tag.as_ref()),
            );
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
}
