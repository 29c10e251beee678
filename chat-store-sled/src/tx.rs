//! One sled transaction over all data trees: reads and writes of records and messages, and
//! the upkeep of each participant's inbox entry and counters.

use chat_core::{
    Attachment, AttachmentId, AttachmentState, ChatError, Conversation, ConversationId, ConversationKind,
    ConversationRecord, Identity, Message, MessageId, Participant, TenantId, UserId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::counters::Counters;
use crate::error::SledStoreError;
use crate::keys;
use crate::logged_tree::{LoggedTree, Write};

/// The result of a transaction body: domain errors abort it.
pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<ChatError>>;

/// Aborts the running transaction with `error`.
pub(crate) fn abort<T>(error: impl Into<ChatError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error.into()))
}

/// A domain result inside a transaction: its error aborts it.
pub(crate) fn check<T>(result: chat_core::ChatResult<T>) -> TxResult<T> {
    result.map_err(ConflictableTransactionError::Abort)
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, SledStoreError> {
    serde_json::from_slice(bytes).map_err(|error| SledStoreError::corrupt(what, error))
}

/// A stored conversation record, with rows written before the delivery watermark existed
/// brought up to it ([`ConversationRecord::with_delivery_at_least_read`]).
pub(crate) fn decode_record(bytes: &[u8]) -> Result<ConversationRecord, SledStoreError> {
    decode::<ConversationRecord>("conversation", bytes).map(ConversationRecord::with_delivery_at_least_read)
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, SledStoreError> {
    serde_json::to_vec(value).map_err(|source| SledStoreError::Encode { what, source })
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

/// The trees as seen inside one transaction (each write noted for the write-ahead log).
pub(crate) struct Tx<'a> {
    pub(crate) conversations: LoggedTree<'a>,
    pub(crate) inbox: LoggedTree<'a>,
    pub(crate) messages: LoggedTree<'a>,
    pub(crate) message_ids: LoggedTree<'a>,
    pub(crate) client_ids: LoggedTree<'a>,
    pub(crate) directs: LoggedTree<'a>,
    pub(crate) user_stats: LoggedTree<'a>,
    pub(crate) groups: LoggedTree<'a>,
    pub(crate) attachments: LoggedTree<'a>,
    pub(crate) attachment_sweep: LoggedTree<'a>,
    pub(crate) notifications_due: LoggedTree<'a>,
    pub(crate) blocks: LoggedTree<'a>,
    pub(crate) reports: LoggedTree<'a>,
}

impl<'a> Tx<'a> {
    /// The views of one transaction attempt, in this order (the order of the fields, and of
    /// [`Tx::tree`]'s numbers, which the write-ahead log stores), noting writes in
    /// `writes`.
    pub(crate) fn new(views: [&'a TransactionalTree; 13], writes: &'a RefCell<Vec<Write>>) -> Self {
        let mut index = 0u8;
        let [
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
        ] = views.map(|view| {
            let tree = LoggedTree::new(view, index, writes);
            index += 1;
            tree
        });
        Self {
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
        }
    }
}

impl Tx<'_> {
    /// The tree of a logged write, by the number [`Tx::new`] gave it.
    pub(crate) fn tree(&self, index: u8) -> Option<&LoggedTree<'_>> {
        [
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
        ]
        .get(usize::from(index))
        .copied()
    }

    pub(crate) fn record(&self, id: ConversationId) -> TxResult<Option<ConversationRecord>> {
        match self.conversations.get(keys::conversation(id))? {
            Some(bytes) => match decode_record(&bytes) {
                Ok(record) => Ok(Some(record)),
                Err(error) => abort(error),
            },
            None => Ok(None),
        }
    }

    /// The conversation if the caller participates in it; NotFound otherwise.
    pub(crate) fn member_record(&self, caller: &Identity, id: ConversationId) -> TxResult<ConversationRecord> {
        check(chat_core::rules::require_member(self.record(id)?, caller))
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

    pub(crate) fn message(&self, conversation: ConversationId, seq: u64) -> TxResult<Message> {
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

    pub(crate) fn save_message(&self, message: &Message) -> TxResult<()> {
        let bytes = match encode("message", message) {
            Ok(bytes) => bytes,
            Err(error) => return abort(error),
        };
        self.messages
            .insert(&keys::message(message.conversation_id, message.seq), bytes)?;
        Ok(())
    }

    /// The attachment record `id`, if any.
    pub(crate) fn attachment(&self, id: AttachmentId) -> TxResult<Option<Attachment>> {
        match self.attachments.get(id.as_uuid().as_bytes())? {
            Some(bytes) => match decode("attachment", &bytes) {
                Ok(attachment) => Ok(Some(attachment)),
                Err(error) => abort(error),
            },
            None => Ok(None),
        }
    }

    /// Saves an attachment record and keeps the sweep's index: every record not sent is in it.
    pub(crate) fn save_attachment(&self, attachment: &Attachment) -> TxResult<()> {
        let bytes = match encode("attachment", attachment) {
            Ok(bytes) => bytes,
            Err(error) => return abort(error),
        };
        let key = attachment.id.as_uuid().as_bytes();
        self.attachments.insert(key, bytes)?;
        if matches!(attachment.state, AttachmentState::Sent(_)) {
            self.attachment_sweep.remove(key)?;
        } else {
            self.attachment_sweep.insert(key, &[])?;
        }
        Ok(())
    }

    /// Discards the records of a deleted message's `files` ([`chat_core::rules::discard_attachment`]).
    pub(crate) fn discard_attachments(&self, files: &[chat_core::AttachedFile]) -> TxResult<()> {
        for file in files {
            if let Some(mut attachment) = self.attachment(file.id)? {
                chat_core::rules::discard_attachment(&mut attachment);
                self.save_attachment(&attachment)?;
            }
        }
        Ok(())
    }

    /// Removes an attachment record and its sweep entry.
    pub(crate) fn remove_attachment(&self, id: AttachmentId) -> TxResult<()> {
        let key = id.as_uuid().as_bytes();
        self.attachments.remove(key)?;
        self.attachment_sweep.remove(key)?;
        Ok(())
    }

    pub(crate) fn seq_value(what: &'static str, bytes: &[u8]) -> TxResult<u64> {
        match keys::u64_value(bytes) {
            Some(seq) => Ok(seq),
            None => abort(SledStoreError::corrupt(what, "not a seq")),
        }
    }

    /// The message `message` of `conversation`; NotFound(message) when it is not there.
    pub(crate) fn message_by_id(&self, conversation: ConversationId, message: MessageId) -> TxResult<Message> {
        match self.message_ids.get(keys::message_id(conversation, message))? {
            Some(bytes) => self.message(conversation, Self::seq_value("message id", &bytes)?),
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

    /// Saves `after` (a record that was `before`, or new when `before` is `None`) and moves
    /// every participant's inbox entry and counters with it: added, removed and changed
    /// participants alike. Nothing is written when nothing changed.
    pub(crate) fn save_changes(&self, before: Option<&ConversationRecord>, after: &ConversationRecord) -> TxResult<()> {
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
            self.reindex_notification(after.conversation.id, user, before.and_then(due), due(after))?;
        }
        self.save_record(after)
    }

    /// Moves one participant's entry in `notifications_due` from `before` to `after` (`None`:
    /// no pending notification).
    fn reindex_notification(
        &self,
        conversation: ConversationId,
        user: &UserId,
        before: Option<DateTime<Utc>>,
        after: Option<DateTime<Utc>>,
    ) -> TxResult<()> {
        if before == after {
            return Ok(());
        }
        if let Some(due) = before {
            self.notifications_due
                .remove(keys::notification_due(due, conversation, user))?;
        }
        if let Some(due) = after {
            self.notifications_due
                .insert(keys::notification_due(due, conversation, user), &[])?;
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
        if conversation.kind == ConversationKind::Group && before.is_some() != after.is_some() {
            let key = keys::group_member(tenant, user, conversation.id);
            if after.is_some() {
                self.groups.insert(key, &[])?;
            } else {
                self.groups.remove(key)?;
            }
        }
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
}
