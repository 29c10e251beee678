//! The writing operations: each one sled transaction that loads the record, applies the
//! rule of [`chat_core::rules`] and saves what changed with its index upkeep.

use chat_core::model::now;
use chat_core::rules::{self, Deletion};
use chat_core::store::{Appended, Deleted, NewDirect, NewGroup, NewMessage, Reacted, ReactionChange, ReadUpTo};
use chat_core::{
    ChatError, ChatResult, ConversationId, ConversationRecord, Identity, Message, MessageId, TenantId, UserId,
};

use crate::error::SledStoreError;
use crate::keys;
use crate::trees::Trees;
use crate::tx::{Tx, TxResult, abort, check};

impl Trees {
    pub(crate) fn find_or_create_direct(
        &self,
        caller: &Identity,
        new: &NewDirect,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let key = keys::direct(&caller.tenant, &caller.user, &new.counterpart, new.tag.as_ref());
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
            check(rules::start_refused_by_block(tx.is_blocked(
                &caller.tenant,
                &new.counterpart,
                &caller.user,
            )?))?;
            let record = rules::new_direct(caller, new, now());
            tx.directs
                .insert(key.as_slice(), &keys::conversation(record.conversation.id))?;
            tx.save_changes(None, &record)?;
            Ok((record, true))
        })
    }

    pub(crate) fn create_group(&self, caller: &Identity, new: &NewGroup) -> ChatResult<ConversationRecord> {
        self.transaction(|tx| {
            let record = rules::new_group(caller, new, now());
            tx.save_changes(None, &record)?;
            Ok(record)
        })
    }

    pub(crate) fn append_message(&self, caller: &Identity, new: &NewMessage) -> ChatResult<Appended> {
        let client_key = new
            .client_message_id
            .as_deref()
            .map(|client_id| keys::client_id(new.conversation_id, &caller.user, client_id));
        self.transaction(|tx| {
            let before = tx.member_record(caller, new.conversation_id)?;
            tx.check_send_not_blocked(caller, &before)?;
            if let Some(client_key) = &client_key {
                if let Some(seq) = tx.client_ids.get(client_key)? {
                    let seq = Tx::seq_value("client message id", &seq)?;
                    return Ok(Appended {
                        message: tx.message(new.conversation_id, seq)?,
                        created: false,
                        record: before,
                    });
                }
            }
            let message = append(tx, &before, Some(&caller.user), new)?;
            if let Some(client_key) = &client_key {
                tx.client_ids
                    .insert(client_key.as_slice(), &message.message.seq.to_be_bytes())?;
            }
            Ok(message)
        })
    }

    pub(crate) fn append_system_message(&self, tenant: &TenantId, new: &NewMessage) -> ChatResult<Appended> {
        self.transaction(|tx| {
            let before = match tx.record(new.conversation_id)? {
                Some(record) if &record.conversation.tenant == tenant => record,
                _ => return abort(ChatError::conversation_not_found()),
            };
            append(tx, &before, None, new)
        })
    }

    pub(crate) fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.update(caller, id, |_, record| {
            check(rules::mark_delivered(record, &caller.user, up_to, now()))
        })
    }

    pub(crate) fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.transaction(|tx| {
            let before = match tx.record(id)? {
                Some(record) if &record.conversation.tenant == tenant => record,
                _ => return abort(ChatError::conversation_not_found()),
            };
            let mut record = before.clone();
            let moved = rules::mark_delivered_many(&mut record, up_to, now());
            tx.save_changes(Some(&before), &record)?;
            Ok((record, moved))
        })
    }

    pub(crate) fn set_reaction(&self, caller: &Identity, change: &ReactionChange) -> ChatResult<Reacted> {
        let (record, (message, changed)) = self.update(caller, change.conversation, |tx, record| {
            let mut stored = tx.message_by_id(change.conversation, change.message)?;
            tx.check_send_not_blocked(caller, record)?;
            let changed = check(rules::set_reaction(
                &mut stored,
                &caller.user,
                &change.emoji,
                change.present,
                change.max_distinct,
            ))?;
            if changed {
                tx.save_message(&stored)?;
            }
            Ok((stored, changed))
        })?;
        Ok(Reacted {
            message,
            record,
            changed,
        })
    }

    pub(crate) fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.update(caller, id, |tx, record| {
            let deleted_above = match check(rules::read_target(record, &caller.user, up_to))? {
                Some(target) => deleted_in(tx, id, target + 1..=record.conversation.last_seq)?,
                None => 0,
            };
            check(rules::mark_read(record, &caller.user, up_to, deleted_above, now()))
        })
    }

    pub(crate) fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let (record, _) = self.update(caller, id, |_, record| {
            check(rules::set_archived(record, &caller.user, archived))
        })?;
        Ok(record)
    }

    pub(crate) fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let (record, ()) = self.update(caller, id, |_, record| {
            check(rules::clear_history(record, &caller.user, now()))
        })?;
        Ok(record)
    }

    pub(crate) fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: &str,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let (record, edited) = self.update(caller, conversation, |tx, record| {
            let mut stored = tx.message_by_id(conversation, message)?;
            tx.check_send_not_blocked(caller, record)?;
            check(rules::edit(record, &mut stored, &caller.user, body.to_owned(), now()))?;
            tx.save_message(&stored)?;
            Ok(stored)
        })?;
        Ok((edited, record))
    }

    pub(crate) fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        let (record, (message, deletion)) = self.update(caller, conversation, |tx, record| {
            let mut stored = tx.message_by_id(conversation, message)?;
            let files = stored.attachments.clone();
            let deletion = check(rules::delete(record, &mut stored, &caller.user, now()))?;
            if deletion.changed() {
                tx.save_message(&stored)?;
                tx.discard_attachments(&files)?;
            }
            if let Deletion::DeletedPreview { seq } = deletion {
                let newest_visible = newest_visible_below(tx, conversation, seq)?;
                rules::set_preview(record, newest_visible.as_ref());
            }
            Ok((stored, deletion))
        })?;
        Ok(Deleted {
            message,
            record,
            changed: deletion.changed(),
        })
    }

    pub(crate) fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: &[UserId],
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.update(caller, id, |_, record| {
            check(rules::add_participants(record, users, max_participants, now()))
        })
    }

    pub(crate) fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let (record, _) = self.update(caller, id, |_, record| {
            check(rules::remove_participant(record, &caller.user, user, now()))
        })?;
        Ok(record)
    }
}

/// Appends `new` from `author` (`None`: a system message) to `before` by [`rules::append`],
/// with the message it quotes and the attachments it carries ([`rules::attach`]) read in
/// the same transaction, and saves the message, its id index, the attachments and the
/// record.
fn append(tx: &Tx<'_>, before: &ConversationRecord, author: Option<&UserId>, new: &NewMessage) -> TxResult<Appended> {
    let id = before.conversation.id;
    let replied = match new.reply_to {
        Some(quoted) => match tx.message_ids.get(keys::message_id(id, quoted))? {
            Some(seq) => Some(tx.message(id, Tx::seq_value("message id", &seq)?)?),
            None => None,
        },
        None => None,
    };
    let mut record = before.clone();
    let mut message = check(rules::append(&mut record, author, new, replied.as_ref(), now()))?;
    if let Some(author) = author.filter(|_| !new.attachments.is_empty()) {
        let mut found = Vec::with_capacity(new.attachments.len());
        for id in &new.attachments {
            found.extend(tx.attachment(*id)?);
        }
        check(rules::attach(
            &record,
            author,
            &mut message,
            &new.attachments,
            &mut found,
        ))?;
        for attachment in &found {
            tx.save_attachment(attachment)?;
        }
    }
    tx.save_message(&message)?;
    tx.message_ids.insert(
        &keys::message_id(message.conversation_id, message.id),
        &message.seq.to_be_bytes(),
    )?;
    tx.save_changes(Some(before), &record)?;
    Ok(Appended {
        message,
        created: true,
        record,
    })
}

/// How many messages in `seqs` are deleted, for [`rules::mark_read`]: one read per message
/// between the new read watermark and the newest message (none when reading up to the
/// newest, the usual case; sled transactions cannot scan a range).
fn deleted_in(tx: &Tx<'_>, conversation: ConversationId, seqs: std::ops::RangeInclusive<u64>) -> TxResult<u64> {
    let mut deleted = 0;
    for seq in seqs {
        if tx.message(conversation, seq)?.deleted_at.is_some() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The newest message below `seq` that is not deleted: one read per deleted message the
/// walk down passes.
pub(crate) fn newest_visible_below(tx: &Tx<'_>, conversation: ConversationId, seq: u64) -> TxResult<Option<Message>> {
    for older in (1..seq).rev() {
        let candidate = tx.message(conversation, older)?;
        if candidate.deleted_at.is_none() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}
