//! The writing operations on conversations and messages: each loads what it needs in one
//! transaction, applies the rule of [`crate::rules`] and saves what changed (the send
//! order, the preview after a delete and the counts live here once, for every engine).

use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{ConversationRecord, Message, now};
use crate::rules::{self, Deletion};
use crate::store::{Appended, Deleted, NewDirect, NewGroup, NewMessage, Reacted, ReactionChange, ReadUpTo};
use crate::tag::Tag;

use super::engine::Direction;
use super::keys;
use super::records::{decode, seq_value};
use super::tx::Tx;

/// A tag the kernel can store: one that reads back. A tag built without [`Tag::new`]
/// (its fields are public) may not, since reading a record checks its tag; such a tag is
/// refused as the validation error [`Tag::new`] gives, before anything is written.
fn storable(tag: Option<&Tag>) -> ChatResult<()> {
    match tag {
        Some(tag) => Tag::new(tag.taggable_type.clone(), tag.taggable_id.clone()).map(drop),
        None => Ok(()),
    }
}

pub(crate) fn find_or_create_direct(
    tx: &Tx<'_>,
    caller: &Identity,
    new: &NewDirect,
) -> ChatResult<(ConversationRecord, bool)> {
    storable(new.tag.as_ref())?;
    let key = keys::direct(&caller.tenant, &caller.user, &new.counterpart, new.tag.as_ref());
    if let Some(id) = tx.get(&key)? {
        return match tx.record_named_by("direct index", &id)? {
            Some(record) => Ok((record, false)),
            None => Err(super::error::KernelError::corrupt("direct index", "names no conversation").into()),
        };
    }
    rules::start_refused_by_block(tx.is_blocked(&caller.tenant, &new.counterpart, &caller.user)?)?;
    let record = rules::new_direct(caller, new, now());
    tx.put(key, record.conversation.id.as_uuid().as_bytes().to_vec());
    tx.save_changes(None, &record)?;
    Ok((record, true))
}

/// The direct conversation of the pair with the tag, if any.
pub(crate) fn find_direct(
    tx: &Tx<'_>,
    caller: &Identity,
    counterpart: &UserId,
    tag: Option<&Tag>,
) -> ChatResult<Option<ConversationRecord>> {
    match tx.get(&keys::direct(&caller.tenant, &caller.user, counterpart, tag))? {
        Some(id) => tx.record_named_by("direct index", &id),
        None => Ok(None),
    }
}

pub(crate) fn create_group(tx: &Tx<'_>, caller: &Identity, new: &NewGroup) -> ChatResult<ConversationRecord> {
    storable(new.tag.as_ref())?;
    let record = rules::new_group(caller, new, now());
    let members: Vec<UserId> = record.participants.iter().map(|p| p.user.clone()).collect();
    tx.check_group_not_blocked(caller, &members)?;
    tx.save_changes(None, &record)?;
    Ok(record)
}

/// The send order: membership, then block, then the retry key, then the append (reply and
/// attachments read in the same transaction).
pub(crate) fn append_message(tx: &Tx<'_>, caller: &Identity, new: &NewMessage) -> ChatResult<Appended> {
    let before = tx.member_record(caller, new.conversation_id)?;
    tx.check_send_not_blocked(caller, &before)?;
    let client_key = new
        .client_message_id
        .as_deref()
        .map(|client_id| keys::client_id(new.conversation_id, &caller.user, client_id));
    if let Some(client_key) = &client_key {
        if let Some(seq) = tx.get(client_key)? {
            return Ok(Appended {
                message: tx.message(new.conversation_id, seq_value("client message id", &seq)?)?,
                created: false,
                record: before,
            });
        }
    }
    let appended = append(tx, &before, Some(&caller.user), new)?;
    if let Some(client_key) = client_key {
        tx.put(client_key, appended.message.seq.to_be_bytes().to_vec());
    }
    Ok(appended)
}

pub(crate) fn append_system_message(tx: &Tx<'_>, tenant: &TenantId, new: &NewMessage) -> ChatResult<Appended> {
    let before = tx.tenant_record(tenant, new.conversation_id)?;
    append(tx, &before, None, new)
}

/// Appends `new` from `author` (`None`: a system message) to `before` by [`rules::append`],
/// with the message it quotes and the attachments it carries ([`rules::attach`]) read in
/// the same transaction, and saves the message, its id index, the attachments and the
/// record.
fn append(tx: &Tx<'_>, before: &ConversationRecord, author: Option<&UserId>, new: &NewMessage) -> ChatResult<Appended> {
    let id = before.conversation.id;
    let replied = match new.reply_to {
        Some(quoted) => match tx.seq_of(id, quoted)? {
            Some(seq) => Some(tx.message(id, seq)?),
            None => None,
        },
        None => None,
    };
    let mut record = before.clone();
    let mut message = rules::append(&mut record, author, new, replied.as_ref(), now())?;
    if let Some(author) = author.filter(|_| !new.attachments.is_empty()) {
        let mut found = Vec::with_capacity(new.attachments.len());
        for id in &new.attachments {
            found.extend(tx.attachment(*id)?);
        }
        rules::attach(&record, author, &mut message, &new.attachments, &mut found)?;
        for attachment in &found {
            tx.save_attachment(attachment)?;
        }
    }
    tx.save_message(&message)?;
    tx.put(
        keys::message_id(message.conversation_id, message.id),
        message.seq.to_be_bytes().to_vec(),
    );
    tx.save_changes(Some(before), &record)?;
    Ok(Appended {
        message,
        created: true,
        record,
    })
}

pub(crate) fn mark_delivered(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    up_to: ReadUpTo,
) -> ChatResult<(ConversationRecord, bool)> {
    tx.update(caller, id, |record| {
        rules::mark_delivered(record, &caller.user, up_to, now())
    })
}

pub(crate) fn mark_delivered_many(
    tx: &Tx<'_>,
    tenant: &TenantId,
    id: ConversationId,
    up_to: &[(UserId, u64)],
) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
    let before = tx.tenant_record(tenant, id)?;
    let mut record = before.clone();
    let moved = rules::mark_delivered_many(&mut record, up_to, now());
    tx.save_changes(Some(&before), &record)?;
    Ok((record, moved))
}

pub(crate) fn set_reaction(tx: &Tx<'_>, caller: &Identity, change: &ReactionChange) -> ChatResult<Reacted> {
    let (record, (message, changed)) = tx.update(caller, change.conversation, |record| {
        let mut stored = tx.message_by_id(change.conversation, change.message)?;
        tx.check_send_not_blocked(caller, record)?;
        let changed = rules::set_reaction(
            &mut stored,
            &caller.user,
            &change.emoji,
            change.present,
            change.max_distinct,
        )?;
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
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    up_to: ReadUpTo,
) -> ChatResult<(ConversationRecord, bool)> {
    tx.update(caller, id, |record| {
        let deleted_above = match rules::read_target(record, &caller.user, up_to)? {
            Some(target) => deleted_between(tx, id, target + 1, record.conversation.last_seq)?,
            None => 0,
        };
        rules::mark_read(record, &caller.user, up_to, deleted_above, now())
    })
}

/// How many messages with seqs in `first..=last` are deleted, for [`rules::mark_read`]:
/// one range read between the new read watermark and the newest message (empty when
/// reading up to the newest, the usual case).
fn deleted_between(tx: &Tx<'_>, conversation: ConversationId, first: u64, last: u64) -> ChatResult<u64> {
    if first > last {
        return Ok(0);
    }
    let scan = tx.scan(
        &keys::message(conversation, first),
        Some(&keys::message(conversation, last.saturating_add(1))),
        Direction::Forward,
    );
    let mut deleted = 0;
    for entry in scan {
        let message: DeletedField = decode("message", &entry?.1)?;
        deleted += u64::from(message.deleted_at.is_some());
    }
    Ok(deleted)
}

/// The one field of a stored message that counting deleted messages needs.
#[derive(serde::Deserialize)]
struct DeletedField {
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub(crate) fn set_archived(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    archived: bool,
) -> ChatResult<ConversationRecord> {
    let (record, _) = tx.update(caller, id, |record| rules::set_archived(record, &caller.user, archived))?;
    Ok(record)
}

pub(crate) fn set_muted(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    muted: bool,
) -> ChatResult<ConversationRecord> {
    let (record, _) = tx.update(caller, id, |record| rules::set_muted(record, &caller.user, muted))?;
    Ok(record)
}

pub(crate) fn clear_history(tx: &Tx<'_>, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
    let (record, ()) = tx.update(caller, id, |record| rules::clear_history(record, &caller.user, now()))?;
    Ok(record)
}

pub(crate) fn edit_message(
    tx: &Tx<'_>,
    caller: &Identity,
    conversation: ConversationId,
    message: MessageId,
    body: &str,
) -> ChatResult<(Message, ConversationRecord)> {
    let (record, edited) = tx.update(caller, conversation, |record| {
        let mut stored = tx.message_by_id(conversation, message)?;
        tx.check_send_not_blocked(caller, record)?;
        rules::edit(record, &mut stored, &caller.user, body.to_owned(), now())?;
        tx.save_message(&stored)?;
        Ok(stored)
    })?;
    Ok((edited, record))
}

pub(crate) fn delete_message(
    tx: &Tx<'_>,
    caller: &Identity,
    conversation: ConversationId,
    message: MessageId,
) -> ChatResult<Deleted> {
    let (record, (message, deletion)) = tx.update(caller, conversation, |record| {
        let mut stored = tx.message_by_id(conversation, message)?;
        let files = stored.attachments.clone();
        let deletion = rules::delete(record, &mut stored, &caller.user, now())?;
        if deletion.changed() {
            tx.save_message(&stored)?;
            tx.discard_attachments(&files)?;
        }
        if let Deletion::DeletedPreview { seq } = deletion {
            let newest_visible = tx.newest_visible_below(conversation, seq)?;
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
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    users: &[UserId],
    max_participants: usize,
) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
    tx.update(caller, id, |record| {
        let added = rules::add_participants(record, users, max_participants, now())?;
        tx.check_group_not_blocked(caller, &added)?;
        Ok(added)
    })
}

pub(crate) fn remove_participant(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    user: &UserId,
) -> ChatResult<ConversationRecord> {
    let (record, _) = tx.update(caller, id, |record| {
        rules::remove_participant(record, &caller.user, user, now())
    })?;
    Ok(record)
}
