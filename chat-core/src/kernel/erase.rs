//! Erasing a user (invariant 15) in bounded batches: each batch one transaction over a run
//! of a conversation's seqs, and the removal of their blocks, reports and unsent uploads.

use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity};
use crate::model::now;
use crate::rules::{self, Deletion, Erasure};
use crate::store::ErasedBatch;

use super::attachments::unsent;
use super::keys::{self, Kind};
use super::tx::Tx;

pub(crate) fn erase_messages(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    after_seq: u64,
    limit: usize,
) -> ChatResult<ErasedBatch> {
    let (record, (deleted, unreacted, last)) = tx.update(caller, id, |record| {
        let last = after_seq.saturating_add(limit as u64).min(record.conversation.last_seq);
        let (mut deleted, mut unreacted, mut preview_of) = (Vec::new(), Vec::new(), None);
        let first = after_seq.saturating_add(1);
        let batch = if first <= last {
            tx.messages_between(id, first, last)?
        } else {
            Vec::new()
        };
        for mut message in batch {
            let files = message.attachments.clone();
            match rules::erase_message(record, &mut message, &caller.user, now())? {
                Erasure::Unchanged => continue,
                Erasure::Unreacted => {
                    tx.save_message(&message)?;
                    unreacted.push(message);
                }
                Erasure::Deleted(deletion) => {
                    if let Deletion::DeletedPreview { seq } = deletion {
                        preview_of = Some(seq);
                    }
                    tx.save_message(&message)?;
                    tx.discard_attachments(&files)?;
                    deleted.push(message);
                }
            }
        }
        if let Some(seq) = preview_of {
            let newest_visible = tx.newest_visible_below(id, seq)?;
            rules::set_preview(record, newest_visible.as_ref());
        }
        Ok((deleted, unreacted, last))
    })?;
    Ok(ErasedBatch {
        next_after: (last < record.conversation.last_seq).then_some(last),
        record,
        deleted,
        unreacted,
    })
}

/// Removes the caller's blocks and reports and discards their unsent uploads.
pub(crate) fn erase_user_records(tx: &Tx<'_>, caller: &Identity) -> ChatResult<()> {
    for kind in [Kind::Block, Kind::Report] {
        let prefix = keys::user_prefix(kind, &caller.tenant, &caller.user);
        let found: Vec<Vec<u8>> = tx
            .scan_prefix(&prefix)
            .map(|entry| entry.map(|(key, _)| key))
            .collect::<ChatResult<_>>()?;
        for key in found {
            tx.delete(key);
        }
    }
    // Every attachment not sent is in the sweep's index (bounded: the sweep discards what
    // waits longer than `unsent_upload_ttl`).
    let ids: Vec<_> = unsent(tx).collect::<ChatResult<_>>()?;
    for id in ids {
        if let Some(mut attachment) = tx.attachment(id)? {
            if rules::erasing_discards(&attachment, &caller.tenant, &caller.user) {
                rules::discard_attachment(&mut attachment);
                tx.save_attachment(&attachment)?;
            }
        }
    }
    Ok(())
}
