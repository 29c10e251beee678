//! Attachment records: an upload's record before and after its bytes, reads by members,
//! and the sweep's two steps. Binding to a message and discarding on delete happen in the
//! send's and the delete's own transactions (`writes.rs`).

use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, AttachmentState, UploadedFile};
use crate::error::{ChatError, ChatResult};
use crate::ids::{AttachmentId, ConversationId, Identity, TenantId};
use crate::model::now;
use crate::rules;

use super::error::KernelError;
use super::keys::{self, Kind};
use super::tx::Tx;

pub(crate) fn begin_upload(tx: &Tx<'_>, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
    let record = tx.member_record(caller, id)?;
    let attachment = rules::begin_upload(&record, caller, name, now())?;
    tx.save_attachment(&attachment)?;
    Ok(attachment)
}

pub(crate) fn finish_upload(
    tx: &Tx<'_>,
    caller: &Identity,
    id: AttachmentId,
    uploaded: &UploadedFile,
) -> ChatResult<Attachment> {
    let Some(mut attachment) = tx.attachment(id)? else {
        return Err(ChatError::attachment_not_found());
    };
    rules::finish_upload(&mut attachment, caller, uploaded.clone())?;
    tx.save_attachment(&attachment)?;
    Ok(attachment)
}

pub(crate) fn abandon_upload(tx: &Tx<'_>, caller: &Identity, id: AttachmentId) -> ChatResult<()> {
    if tx
        .attachment(id)?
        .is_some_and(|attachment| rules::may_abandon(&attachment, caller))
    {
        tx.remove_attachment(id);
    }
    Ok(())
}

pub(crate) fn attachment(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    attachment: AttachmentId,
) -> ChatResult<Attachment> {
    let record = tx.member_record(caller, id)?;
    let cleared = record.participant(&caller.user).map_or(0, |me| me.cleared_through_seq);
    let Some(stored) = tx.attachment(attachment)?.filter(|stored| stored.conversation_id == id) else {
        return Err(ChatError::attachment_not_found());
    };
    let sent_seq = match stored.state {
        AttachmentState::Sent(message) => tx.seq_of(id, message)?,
        _ => None,
    };
    if rules::is_readable(&stored, caller, sent_seq, cleared) {
        Ok(stored)
    } else {
        Err(ChatError::attachment_not_found())
    }
}

/// The ids in the sweep's index (every record not sent, oldest id first).
pub(crate) fn unsent<'a>(tx: &Tx<'a>) -> impl Iterator<Item = ChatResult<AttachmentId>> + 'a {
    tx.scan_prefix(&keys::kind_prefix(Kind::AttachmentSweep)).map(|entry| {
        let (key, _) = entry?;
        keys::uuid_after_kind(&key)
            .map(AttachmentId::from_uuid)
            .ok_or_else(|| KernelError::corrupt("attachment sweep", "short key").into())
    })
}

/// Walks the sweep's index and discards, in this transaction, up to `limit` records that
/// [`rules::is_swept`] names.
pub(crate) fn discard_stale_attachments(
    tx: &Tx<'_>,
    tenant: Option<&TenantId>,
    unsent_before: DateTime<Utc>,
    limit: usize,
) -> ChatResult<Vec<Attachment>> {
    let mut swept = Vec::new();
    let ids: Vec<AttachmentId> = unsent(tx).collect::<ChatResult<_>>()?;
    for id in ids {
        if swept.len() >= limit {
            break;
        }
        let Some(mut attachment) = tx.attachment(id)? else {
            tx.remove_attachment(id);
            continue;
        };
        let in_scope = tenant.is_none_or(|tenant| &attachment.tenant == tenant);
        if !in_scope || !rules::is_swept(&attachment, unsent_before) {
            continue;
        }
        if attachment.state != AttachmentState::Discarded {
            rules::discard_attachment(&mut attachment);
            tx.save_attachment(&attachment)?;
        }
        swept.push(attachment);
    }
    Ok(swept)
}

pub(crate) fn forget_attachments(tx: &Tx<'_>, ids: &[AttachmentId]) -> ChatResult<()> {
    for id in ids {
        if tx
            .attachment(*id)?
            .is_some_and(|attachment| rules::may_forget(&attachment))
        {
            tx.remove_attachment(*id);
        }
    }
    Ok(())
}
