//! Attachment records: an upload's record before and after its bytes, binding them to a
//! send inside the send's transaction, discarding them with a delete, reads by members, and
//! the sweep's two steps. Each change is a rule of `chat_core::rules` applied in Rust under
//! the rows' locks; only the stale-upload sweep is one statement (its condition is
//! [`rules::is_swept`], written in SQL).

use chat_core::model::now;
use chat_core::store::{Appended, NewMessage};
use chat_core::{
    AttachedFile, Attachment, AttachmentId, ChatError, ChatResult, ConversationId, Identity, TenantId, UploadedFile,
    UserId, rules,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::{PgStoreError, append_error, db};
use crate::rows::{attachment_from_row, attachment_state_text, message_from_row, record_from_row, to_i64, to_u64};
use crate::store::{PgStore, finish};

fn ids(attachments: &[AttachmentId]) -> Vec<Uuid> {
    attachments.iter().map(|id| *id.as_uuid()).collect()
}

fn dimension(value: Option<u32>) -> ChatResult<Option<i32>> {
    value
        .map(|value| i32::try_from(value).map_err(|_| ChatError::invalid("file", "image dimensions out of range")))
        .transpose()
}

impl PgStore {
    /// Inserts a new record.
    async fn insert_attachment(&self, conn: &mut PgConnection, attachment: &Attachment) -> ChatResult<()> {
        let (state, message) = attachment_state_text(attachment.state);
        sqlx::query(&self.sql.attachments.insert)
            .bind(attachment.id.as_uuid())
            .bind(attachment.tenant.as_str())
            .bind(attachment.conversation_id.as_uuid())
            .bind(attachment.uploader.as_str())
            .bind(&attachment.name)
            .bind(&attachment.content_type)
            .bind(to_i64(attachment.size))
            .bind(dimension(attachment.width)?)
            .bind(dimension(attachment.height)?)
            .bind(attachment.created_at)
            .bind(state)
            .bind(message)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Saves what a rule changed of a record.
    async fn save_attachment(&self, conn: &mut PgConnection, attachment: &Attachment) -> ChatResult<()> {
        let (state, message) = attachment_state_text(attachment.state);
        sqlx::query(&self.sql.attachments.save)
            .bind(attachment.id.as_uuid())
            .bind(&attachment.content_type)
            .bind(to_i64(attachment.size))
            .bind(dimension(attachment.width)?)
            .bind(dimension(attachment.height)?)
            .bind(state)
            .bind(message)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The records of `attachments`, locked until the transaction ends.
    async fn lock_attachments(
        &self,
        conn: &mut PgConnection,
        attachments: &[AttachmentId],
    ) -> ChatResult<Vec<Attachment>> {
        let rows = sqlx::query(&self.sql.attachments.lock)
            .bind(ids(attachments))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.extend(attachment_from_row(row)?);
        }
        Ok(found)
    }

    /// A send that carries attachments: the `append_message` call and [`rules::attach`] in
    /// one transaction. The call locks the conversation and appends (or returns the stored
    /// message for a repeated retry key, which keeps its attachments); the uploads are then
    /// locked and bound by the rule, or the transaction is rolled back with the rule's
    /// error, so a refused send stores nothing.
    pub(crate) async fn append_with_attachments(
        &self,
        tenant: &TenantId,
        author: &UserId,
        new: &NewMessage,
    ) -> ChatResult<Appended> {
        let mut tx = self.begin().await?;
        let result = async {
            let row = self
                .append_call(tenant, Some(author), new)
                .fetch_optional(&mut *tx)
                .await
                .map_err(append_error)?
                .ok_or_else(ChatError::conversation_not_found)?;
            let created: bool = sqlx::Row::try_get(&row, "created").map_err(db)?;
            let record = record_from_row(&row)?;
            let mut message = message_from_row(&row)?
                .ok_or_else(|| PgStoreError::Corrupt("append_message returned no message".into()))?;
            if created {
                let mut found = self.lock_attachments(&mut tx, &new.attachments).await?;
                rules::attach(&record, author, &mut message, &new.attachments, &mut found)?;
                for attachment in &found {
                    self.save_attachment(&mut tx, attachment).await?;
                }
                sqlx::query(&self.sql.attachments.save_on_message)
                    .bind(message.conversation_id.as_uuid())
                    .bind(message.id.as_uuid())
                    .bind(Json(&message.attachments))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Ok(Appended {
                message,
                created,
                record,
            })
        }
        .await;
        finish(tx, result).await
    }

    /// Discards the records of a deleted message's attachments, in the delete's transaction.
    pub(crate) async fn discard_attachments_of(
        &self,
        conn: &mut PgConnection,
        files: &[AttachedFile],
    ) -> ChatResult<()> {
        if files.is_empty() {
            return Ok(());
        }
        let wanted: Vec<AttachmentId> = files.iter().map(|file| file.id).collect();
        for mut attachment in self.lock_attachments(conn, &wanted).await? {
            rules::discard_attachment(&mut attachment);
            self.save_attachment(conn, &attachment).await?;
        }
        Ok(())
    }

    pub(crate) async fn begin_upload_record(
        &self,
        caller: &Identity,
        id: ConversationId,
        name: &str,
    ) -> ChatResult<Attachment> {
        let mut tx = self.begin().await?;
        let result = async {
            let record = self.lock_member(&mut tx, caller, id).await?;
            let attachment = rules::begin_upload(&record, caller, name, now())?;
            self.insert_attachment(&mut tx, &attachment).await?;
            Ok(attachment)
        }
        .await;
        finish(tx, result).await
    }

    pub(crate) async fn finish_upload_record(
        &self,
        caller: &Identity,
        id: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut attachment = self
                .lock_attachments(&mut tx, &[id])
                .await?
                .pop()
                .ok_or_else(ChatError::attachment_not_found)?;
            rules::finish_upload(&mut attachment, caller, uploaded)?;
            self.save_attachment(&mut tx, &attachment).await?;
            Ok(attachment)
        }
        .await;
        finish(tx, result).await
    }

    pub(crate) async fn abandon_upload_record(&self, caller: &Identity, id: AttachmentId) -> ChatResult<()> {
        let mut tx = self.begin().await?;
        let result = async {
            let found = self.lock_attachments(&mut tx, &[id]).await?;
            if found.iter().any(|attachment| rules::may_abandon(attachment, caller)) {
                sqlx::query(&self.sql.attachments.delete)
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    pub(crate) async fn readable_attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        let row = sqlx::query(&self.sql.attachments.member_read)
            .bind(id.as_uuid())
            .bind(attachment.as_uuid())
            .bind(caller.user.as_str())
            .bind(caller.tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(ChatError::conversation_not_found)?;
        let cleared: i64 = row.try_get("me_cleared").map_err(db)?;
        let sent_seq: Option<i64> = row.try_get("a_sent_seq").map_err(db)?;
        let sent_seq = sent_seq.map(|seq| to_u64(seq, "seq")).transpose()?;
        let cleared = to_u64(cleared, "cleared seq")?;
        attachment_from_row(&row)?
            .filter(|stored| rules::is_readable(stored, caller, sent_seq, cleared))
            .ok_or_else(ChatError::attachment_not_found)
    }

    pub(crate) async fn discard_stale(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        sqlx::query(&self.sql.attachments.discard_stale)
            .bind(unsent_before)
            .bind(tenant.map(TenantId::as_str))
            .bind(limit)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let rows = sqlx::query(&self.sql.attachments.discarded)
            .bind(tenant.map(TenantId::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut swept = Vec::with_capacity(rows.len());
        for row in &rows {
            swept.extend(attachment_from_row(row)?);
        }
        Ok(swept)
    }

    pub(crate) async fn forget(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
        sqlx::query(&self.sql.attachments.forget)
            .bind(ids(attachments))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
