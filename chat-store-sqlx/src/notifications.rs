//! The outbox's claims and settlements (invariant 14). The pending notifications live on
//! the participant rows (migration `notifications`), written by the operations that change
//! them in their own transactions.

use chat_core::notification::{DueNotification, SettledNotification};
use chat_core::{ChatError, ChatResult, ConversationId, TenantId, UserId, rules};
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::error::db;
use crate::rows::{pending_of, user};
use crate::store::{PgStore, finish, pending_attempts, pending_first_seq};

impl PgStore {
    /// One statement (see `Sql::claim_notifications`) in its own READ COMMITTED
    /// transaction: any number of nodes claim at once, each row goes to one of them.
    pub(crate) async fn claim_due(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<DueNotification>> {
        let mut tx = self.begin().await?;
        let result = async {
            let rows = sqlx::query(&self.sql.claim_notifications)
                .bind(now)
                .bind(lease_until)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(tenant.map(TenantId::as_str))
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let mut claimed = Vec::with_capacity(rows.len());
            for row in &rows {
                let tenant = TenantId::new(row.try_get::<String, _>("tenant").map_err(db)?)
                    .map_err(|error| crate::PgStoreError::Corrupt(format!("stored tenant: {error}")))?;
                let pending = pending_of(
                    row.try_get("notify_first_seq").map_err(db)?,
                    row.try_get("notify_due_at").map_err(db)?,
                    row.try_get("notify_attempts").map_err(db)?,
                )?
                .ok_or_else(|| crate::PgStoreError::Corrupt("a claimed row has no pending notification".into()))?;
                claimed.push(DueNotification {
                    tenant,
                    user: user(row.try_get("user_id").map_err(db)?)?,
                    conversation: ConversationId::from_uuid(row.try_get("conversation_id").map_err(db)?),
                    pending,
                });
            }
            Ok(claimed)
        }
        .await;
        finish(tx, result).await
    }

    /// Settles claims in one transaction by `rules::settle_notification`, locking their
    /// conversations in id order (two workers settling never deadlock).
    pub(crate) async fn settle(&self, settled: &[SettledNotification]) -> ChatResult<()> {
        let mut ordered: Vec<&SettledNotification> = settled.iter().collect();
        ordered.sort_by_key(|one| one.due.conversation);
        let mut tx = self.begin().await?;
        let result = async {
            for one in ordered {
                let mut record = match self
                    .lock_in_tenant(&mut tx, &one.due.tenant, one.due.conversation)
                    .await
                {
                    Ok(record) => record,
                    Err(ChatError::NotFound { .. }) => continue,
                    Err(error) => return Err(error),
                };
                if !rules::settle_notification(&mut record, one) {
                    continue;
                }
                let Some(participant) = record.participant(&one.due.user) else {
                    continue;
                };
                sqlx::query(&self.sql.save_pending)
                    .bind(one.due.conversation.as_uuid())
                    .bind(UserId::as_str(&one.due.user))
                    .bind(pending_first_seq(participant))
                    .bind(participant.pending_notification.map(|pending| pending.due_at))
                    .bind(pending_attempts(participant))
                    .bind(record.conversation.tenant.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Ok(())
        }
        .await;
        finish(tx, result).await
    }
}
