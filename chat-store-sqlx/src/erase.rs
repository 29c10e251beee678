//! Erasing a user (invariant 15) in bounded batches: each batch one transaction under the
//! conversation's lock that reads a run of seqs, applies `rules::erase_message` and writes
//! the changed messages in one statement; and the removal of the user's blocks and reports.

use chat_core::model::now;
use chat_core::rules::{self, Deletion, Erasure};
use chat_core::store::ErasedBatch;
use chat_core::{AttachedFile, ChatResult, ConversationId, ConversationRecord, Identity, Message, UserId};
use sqlx::postgres::PgConnection;

use crate::error::db;
use crate::rows::{message_from_row, to_i64};
use crate::store::{PgStore, finish};

/// `value` as JSON text, for a `::jsonb` cast in SQL.
fn json_text<T: serde::Serialize>(value: &T) -> ChatResult<String> {
    Ok(serde_json::to_string(value).map_err(crate::PgStoreError::Json)?)
}

/// What one batch changed, before it is written.
#[derive(Default)]
struct Changes {
    deleted: Vec<Message>,
    unreacted: Vec<Message>,
    files: Vec<AttachedFile>,
    preview_of: Option<u64>,
}

impl PgStore {
    /// [`chat_core::store::ErasureStore::erase_messages`].
    pub(crate) async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let mut tx = self.begin().await?;
        let result = self.erase_in(&mut tx, caller, id, after_seq, limit).await;
        finish(tx, result).await
    }

    async fn erase_in(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let before = self.lock_member(conn, caller, id).await?;
        let mut record = before.clone();
        let last = after_seq.saturating_add(limit as u64).min(record.conversation.last_seq);
        let rows = sqlx::query(&self.sql.erase.range)
            .bind(id.as_uuid())
            .bind(to_i64(after_seq))
            .bind(to_i64(last))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let mut changes = Changes::default();
        for row in &rows {
            let Some(mut message) = message_from_row(row)? else {
                continue;
            };
            let files = message.attachments.clone();
            match rules::erase_message(&mut record, &mut message, &caller.user, now())? {
                Erasure::Unchanged => {}
                Erasure::Unreacted => changes.unreacted.push(message),
                Erasure::Deleted(deletion) => {
                    if let Deletion::DeletedPreview { seq } = deletion {
                        changes.preview_of = Some(seq);
                    }
                    changes.files.extend(files);
                    changes.deleted.push(message);
                }
            }
        }
        if !changes.deleted.is_empty() || !changes.unreacted.is_empty() {
            self.save_erased(conn, &before, &mut record, &changes).await?;
        }
        Ok(ErasedBatch {
            next_after: (last < record.conversation.last_seq).then_some(last),
            record,
            deleted: changes.deleted,
            unreacted: changes.unreacted,
        })
    }

    /// Writes a batch's changes: the messages in one statement, then the preview (found
    /// among what is now stored), the conversation row and the unread counts.
    async fn save_erased(
        &self,
        conn: &mut PgConnection,
        before: &ConversationRecord,
        record: &mut ConversationRecord,
        changes: &Changes,
    ) -> ChatResult<()> {
        let messages: Vec<&Message> = changes.deleted.iter().chain(&changes.unreacted).collect();
        let mut reactions = Vec::with_capacity(messages.len());
        let mut attachments = Vec::with_capacity(messages.len());
        for message in &messages {
            reactions.push(json_text(&message.reactions)?);
            attachments.push(json_text(&message.attachments)?);
        }
        sqlx::query(&self.sql.erase.save_messages)
            .bind(record.conversation.id.as_uuid())
            .bind(messages.iter().map(|m| *m.id.as_uuid()).collect::<Vec<_>>())
            .bind(messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>())
            .bind(messages.iter().map(|m| m.deleted_at).collect::<Vec<_>>())
            .bind(reactions)
            .bind(attachments)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        if let Some(seq) = changes.preview_of {
            let row = sqlx::query(&self.sql.newest_visible_before)
                .bind(record.conversation.id.as_uuid())
                .bind(to_i64(seq))
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            let newest = row.as_ref().map(message_from_row).transpose()?.flatten();
            rules::set_preview(record, newest.as_ref());
        }
        let conversation = &record.conversation;
        let preview = conversation.last_message.as_ref();
        sqlx::query(&self.sql.erase.save_conversation)
            .bind(conversation.id.as_uuid())
            .bind(conversation.updated_at)
            .bind(preview.map(|last| *last.id.as_uuid()))
            .bind(preview.map(|last| to_i64(last.seq)))
            .bind(preview.and_then(|last| last.sender.as_ref().map(UserId::as_str)))
            .bind(preview.map(|last| last.text.as_str()))
            .bind(preview.map(|last| last.at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        self.save_unread_counts(conn, before, record).await?;
        self.discard_attachments_of(conn, &changes.files).await
    }

    /// [`chat_core::store::ErasureStore::erase_user_records`].
    pub(crate) async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        let mut tx = self.begin().await?;
        let mut result = Ok(());
        let erase = &self.sql.erase;
        for statement in [&erase.delete_blocks, &erase.delete_reports, &erase.discard_unsent] {
            result = sqlx::query(statement)
                .bind(caller.tenant.as_str())
                .bind(caller.user.as_str())
                .execute(&mut *tx)
                .await
                .map(drop)
                .map_err(db);
            if result.is_err() {
                break;
            }
        }
        finish(tx, result).await
    }
}
