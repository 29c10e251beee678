//! Erasing a user (invariant 15) in bounded batches: each batch one transaction over a
//! run of a conversation's seqs (dense, so read by key: sled transactions cannot scan), and
//! the removal of their blocks and reports.

use chat_core::model::now;
use chat_core::rules::{self, Deletion, Erasure};
use chat_core::store::ErasedBatch;
use chat_core::{ChatResult, ConversationId, Identity};

use crate::error::SledStoreError;
use crate::keys;
use crate::trees::Trees;
use crate::writes::newest_visible_below;

impl Trees {
    /// [`chat_core::Store::erase_messages`].
    pub(crate) fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let (record, (deleted, unreacted, last)) = self.update(caller, id, |tx, record| {
            let last = after_seq.saturating_add(limit as u64).min(record.conversation.last_seq);
            let (mut deleted, mut unreacted, mut preview_of) = (Vec::new(), Vec::new(), None);
            for seq in after_seq.saturating_add(1)..=last {
                let mut message = tx.message(id, seq)?;
                let files = message.attachments.clone();
                match rules::erase_message(record, &mut message, &caller.user, now()) {
                    Ok(Erasure::Unchanged) => continue,
                    Ok(Erasure::Unreacted) => {
                        tx.save_message(&message)?;
                        unreacted.push(message);
                    }
                    Ok(Erasure::Deleted(deletion)) => {
                        if let Deletion::DeletedPreview { seq } = deletion {
                            preview_of = Some(seq);
                        }
                        tx.save_message(&message)?;
                        tx.discard_attachments(&files)?;
                        deleted.push(message);
                    }
                    Err(error) => return crate::tx::abort(error),
                }
            }
            if let Some(seq) = preview_of {
                let newest_visible = newest_visible_below(tx, id, seq)?;
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

    /// Removes the caller's blocks and reports and discards their unsent uploads: the keys
    /// are read by scans, then changed in one transaction (a key already gone is no error).
    pub(crate) fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        let prefix = keys::user_prefix(&caller.tenant, &caller.user);
        let mut blocks = Vec::new();
        for entry in self.blocks.scan_prefix(&prefix) {
            blocks.push(entry.map_err(SledStoreError::from)?.0);
        }
        let mut reports = Vec::new();
        for entry in self.reports.scan_prefix(&prefix) {
            reports.push(entry.map_err(SledStoreError::from)?.0);
        }
        // Every attachment not sent is in the sweep's index (bounded: the sweep discards
        // what waits longer than `unsent_upload_ttl`).
        let mut unsent = Vec::new();
        for entry in &self.attachment_sweep {
            let (key, _) = entry.map_err(SledStoreError::from)?;
            if let Ok(id) = uuid::Uuid::from_slice(&key) {
                unsent.push(chat_core::AttachmentId::from_uuid(id));
            }
        }
        self.transaction(|tx| {
            for key in &blocks {
                tx.blocks.remove(key.as_ref())?;
            }
            for key in &reports {
                tx.reports.remove(key.as_ref())?;
            }
            for id in &unsent {
                if let Some(mut attachment) = tx.attachment(*id)? {
                    if rules::erasing_discards(&attachment, &caller.tenant, &caller.user) {
                        rules::discard_attachment(&mut attachment);
                        tx.save_attachment(&attachment)?;
                    }
                }
            }
            Ok(())
        })
    }
}
