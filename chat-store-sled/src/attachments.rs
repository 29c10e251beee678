//! Attachment records: an upload's record before and after its bytes, reads by members,
//! and the sweep's two steps. Binding to a message and discarding on delete happen in the
//! send's and the delete's own transactions (`writes.rs`).

use chat_core::model::now;
use chat_core::{
    Attachment, AttachmentId, AttachmentState, ChatError, ChatResult, ConversationId, Identity, TenantId, UploadedFile,
    rules,
};
use chrono::{DateTime, Utc};

use crate::error::SledStoreError;
use crate::trees::Trees;
use crate::tx::{abort, check, decode};

impl Trees {
    pub(crate) fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
        self.transaction(|tx| {
            let record = tx.member_record(caller, id)?;
            let attachment = check(rules::begin_upload(&record, caller, name, now()))?;
            tx.save_attachment(&attachment)?;
            Ok(attachment)
        })
    }

    pub(crate) fn finish_upload(
        &self,
        caller: &Identity,
        id: AttachmentId,
        uploaded: &UploadedFile,
    ) -> ChatResult<Attachment> {
        self.transaction(|tx| {
            let Some(mut attachment) = tx.attachment(id)? else {
                return abort(ChatError::attachment_not_found());
            };
            check(rules::finish_upload(&mut attachment, caller, uploaded.clone()))?;
            tx.save_attachment(&attachment)?;
            Ok(attachment)
        })
    }

    pub(crate) fn abandon_upload(&self, caller: &Identity, id: AttachmentId) -> ChatResult<()> {
        self.transaction(|tx| {
            if tx
                .attachment(id)?
                .is_some_and(|attachment| rules::may_abandon(&attachment, caller))
            {
                tx.remove_attachment(id)?;
            }
            Ok(())
        })
    }

    /// A plain read: the membership check and the record are one key each, and a record
    /// changes only forward (a download racing a delete sees it before or after).
    pub(crate) fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        self.member_record(caller, id)?;
        let stored = match self
            .attachments
            .get(attachment.as_uuid().as_bytes())
            .map_err(SledStoreError::from)?
        {
            Some(bytes) => decode::<Attachment>("attachment", &bytes)?,
            None => return Err(ChatError::attachment_not_found()),
        };
        if stored.conversation_id == id && rules::is_readable(&stored, caller) {
            Ok(stored)
        } else {
            Err(ChatError::attachment_not_found())
        }
    }

    /// Walks the sweep index (every record not sent, oldest id first); each record that
    /// [`rules::is_swept`] names (by a plain read) is discarded in its own transaction,
    /// which reads it again, so a send that bound it meanwhile keeps it. Fresh uploads cost
    /// a read each, no write.
    pub(crate) fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        let mut swept = Vec::new();
        for entry in &self.attachment_sweep {
            if swept.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(SledStoreError::from)?;
            let id =
                uuid::Uuid::from_slice(&key).map_err(|error| SledStoreError::corrupt("attachment sweep", error))?;
            let id = AttachmentId::from_uuid(id);
            // A plain read first: only a record that looks stale costs a write transaction
            // (which takes sled's write lock), and the transaction reads it again.
            if let Some(bytes) = self.attachments.get(&key).map_err(SledStoreError::from)? {
                let attachment: Attachment = decode("attachment", &bytes)?;
                let in_scope = tenant.is_none_or(|tenant| &attachment.tenant == tenant);
                if !in_scope || !rules::is_swept(&attachment, unsent_before) {
                    continue;
                }
            }
            let discarded = self.transaction(|tx| {
                let Some(mut attachment) = tx.attachment(id)? else {
                    tx.remove_attachment(id)?;
                    return Ok(None);
                };
                let in_scope = tenant.is_none_or(|tenant| &attachment.tenant == tenant);
                if !in_scope || !rules::is_swept(&attachment, unsent_before) {
                    return Ok(None);
                }
                if attachment.state != AttachmentState::Discarded {
                    rules::discard_attachment(&mut attachment);
                    tx.save_attachment(&attachment)?;
                }
                Ok(Some(attachment))
            })?;
            swept.extend(discarded);
        }
        Ok(swept)
    }

    pub(crate) fn forget_attachments(&self, ids: &[AttachmentId]) -> ChatResult<()> {
        self.transaction(|tx| {
            for id in ids {
                if tx
                    .attachment(*id)?
                    .is_some_and(|attachment| rules::may_forget(&attachment))
                {
                    tx.remove_attachment(*id)?;
                }
            }
            Ok(())
        })
    }
}
