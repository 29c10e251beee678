//! Reports of messages: the `reports` table (see the migration `reports`), written under
//! the conversation's row lock, which serializes a user's racing reports of one message.

use chat_core::model::now;
use chat_core::store::{NewReport, Reported};
use chat_core::{ChatResult, Identity, MessageId, Report, ReportReason, UserId, rules};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use crate::PgStoreError;
use crate::error::db;
use crate::store::{PgStore, finish};

fn report_from_row(row: &PgRow) -> ChatResult<Report> {
    let reporter: String = row.try_get("reporter").map_err(db)?;
    let reason: String = row.try_get("reason").map_err(db)?;
    let corrupt = |what: String| -> chat_core::ChatError { PgStoreError::Corrupt(what).into() };
    Ok(Report {
        reporter: UserId::new(reporter).map_err(|error| corrupt(format!("report reporter: {error}")))?,
        conversation_id: chat_core::ConversationId::from_uuid(row.try_get("conversation_id").map_err(db)?),
        message_id: MessageId::from_uuid(row.try_get("message_id").map_err(db)?),
        reason: ReportReason::from_name(&reason).ok_or_else(|| corrupt(format!("report reason {reason:?}")))?,
        note: row.try_get("note").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

impl PgStore {
    /// [`chat_core::store::ModerationStore::report_message`]: the conversation's lock and membership, the
    /// message, then [`rules::report`], in one transaction.
    pub(crate) async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
        let mut tx = self.begin().await?;
        let result = self.report_in(&mut tx, caller, &new).await;
        finish(tx, result).await
    }

    async fn report_in(&self, conn: &mut PgConnection, caller: &Identity, new: &NewReport) -> ChatResult<Reported> {
        let (_, message) = self
            .lock_member_message(conn, caller, new.conversation, new.message)
            .await?;
        let existing = sqlx::query(&self.sql.reports.get)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .bind(new.message.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        let existing = existing.as_ref().map(report_from_row).transpose()?;
        let (report, created) = rules::report(
            &message,
            &caller.user,
            existing.as_ref(),
            (new.reason, new.note.as_deref()),
            now(),
        )?;
        if created {
            sqlx::query(&self.sql.reports.insert)
                .bind(caller.tenant.as_str())
                .bind(caller.user.as_str())
                .bind(report.message_id.as_uuid())
                .bind(report.conversation_id.as_uuid())
                .bind(report.reason.as_str())
                .bind(report.note.as_deref())
                .bind(report.created_at)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        Ok(Reported {
            report,
            message,
            created,
        })
    }

    /// [`chat_core::store::ModerationStore::reports_by`].
    pub(crate) async fn list_reports(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        let rows = sqlx::query(&self.sql.reports.list)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(report_from_row).collect()
    }
}
