//! [`PgStore`]: the [`chat_core::Store`] on Postgres.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chat_core::model::{LastMessage, now};
use chat_core::rules;
use chat_core::store::NewMessage;
use chat_core::{
    ChatError, ChatResult, ConversationId, ConversationRecord, Identity, Message, MessageId, TenantId, UserId,
};
use sqlx::postgres::{PgConnection, PgPool, PgRow, Postgres};
use sqlx::types::Json;
use sqlx::{Row, Transaction};

use crate::error::{PgStoreError, db};
use crate::rows::{message_from_row, record_from_row, role_text, to_i64};
use crate::schema::SchemaName;
use crate::sql::{Lookup, Sql};

/// The chat store on Postgres.
///
/// Every [`chat_core::Store`] operation is one transaction (or one statement) and the database keeps the
/// invariants itself: a unique key for direct conversations, unique `(conversation, seq)`,
/// unique `(conversation, sender, client_message_id)`, counters that cannot go negative.
///
/// ## How writes are serialised
///
/// Every operation that changes an existing conversation first locks its row
/// (`SELECT … FOR NO KEY UPDATE`) and then reads the participants (and the one message it
/// needs) from a snapshot taken after the lock, so two writers of one conversation never
/// interleave: seqs are assigned as `last_seq + 1` under that lock, unread counters are
/// kept in the participant rows, and a member removed a moment ago is no longer a member
/// for the next send. Each such write bumps the conversation's `version` column; the locking
/// read compares the version it locked with the one its snapshot saw, so the common
/// uncontended case needs one round trip and a contended one re-reads once. A send runs
/// the same protocol inside the database, in the migrations' `append_message` function,
/// where each statement after the lock takes a fresh snapshot anyway.
///
/// Reads (`get_conversation`, `inbox_page`, `history_page`, `search`, `stats`) are single
/// statements served from indexes: see the crate docs for the plans.
///
/// Cheap to clone: a pool and the prepared SQL text inside.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    schema: SchemaName,
    pub(crate) sql: Arc<Sql>,
    /// Set once `append_message` refused the pool's default isolation: later sends go
    /// straight to an explicit READ COMMITTED transaction.
    pub(crate) strict_isolation: Arc<AtomicBool>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// What the locking read of a conversation returns.
struct Locked {
    record: ConversationRecord,
    message: Option<Message>,
}

impl PgStore {
    /// The store on `pool` in schema `chat`. The tables must exist: call
    /// [`PgStore::migrate`] once (or build with [`crate::PgStoreBuilder::run_migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::on(pool, SchemaName::default())
    }

    /// The store on `pool` in `schema`, for the builder.
    pub(crate) fn on(pool: PgPool, schema: SchemaName) -> Self {
        Self {
            sql: Arc::new(Sql::new(&schema.quoted())),
            pool,
            schema,
            strict_isolation: Arc::default(),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &SchemaName {
        &self.schema
    }

    pub(crate) async fn begin(&self) -> ChatResult<Transaction<'static, Postgres>> {
        // Explicit, whatever the server's default_transaction_isolation: the locking protocol
        // relies on each statement of a transaction taking a fresh snapshot.
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(db)
    }

    /// Locks conversation `id` of `tenant` and reads it (with one message, per `lookup`)
    /// from a snapshot no older than the lock. `None` when there is no such conversation.
    async fn lock(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        id: ConversationId,
        lookup: Lookup,
    ) -> ChatResult<Option<Locked>> {
        // The first read may come from a snapshot taken before another writer of this
        // conversation committed (it waited for that writer's lock). Every writer bumps
        // `version`, so a locked version unlike the snapshot's means: read again. The second
        // read runs while we hold the lock, so it always agrees.
        for _ in 0..2 {
            let mut query = sqlx::query(self.sql.lock(lookup))
                .bind(id.as_uuid())
                .bind(tenant.as_str());
            match lookup {
                Lookup::None => {}
                Lookup::MessageId(message) => query = query.bind(*message.as_uuid()),
            }
            let Some(row) = query.fetch_optional(&mut *conn).await.map_err(db)? else {
                return Ok(None);
            };
            let version: i64 = row.try_get("version").map_err(db)?;
            let snapshot: Option<i64> = row.try_get("snapshot_version").map_err(db)?;
            if snapshot == Some(version) {
                let record = record_from_row(&row)?;
                let message = match lookup {
                    Lookup::None => None,
                    _ => message_from_row(&row)?,
                };
                return Ok(Some(Locked { record, message }));
            }
        }
        Err(PgStoreError::Corrupt("conversation version moved while its row was locked".into()).into())
    }

    /// [`PgStore::lock`] of a conversation of `tenant`, whoever asks (the host's batches):
    /// `NotFound` when the tenant has no such conversation.
    pub(crate) async fn lock_in_tenant(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        self.lock(conn, tenant, id, Lookup::None)
            .await?
            .map(|locked| locked.record)
            .ok_or_else(ChatError::conversation_not_found)
    }

    /// Writes the delivery watermarks of `users` as they are in `record`, in one statement.
    pub(crate) async fn save_deliveries(
        &self,
        conn: &mut PgConnection,
        record: &ConversationRecord,
        users: &[UserId],
    ) -> ChatResult<()> {
        let rows: Vec<&chat_core::Participant> = users.iter().filter_map(|user| record.participant(user)).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = rows.iter().map(|p| p.user.as_str()).collect();
        let seqs: Vec<i64> = rows.iter().map(|p| to_i64(p.last_delivered_seq)).collect();
        let ats: Vec<Option<chrono::DateTime<chrono::Utc>>> = rows.iter().map(|p| p.last_delivered_at).collect();
        sqlx::query(&self.sql.save_deliveries)
            .bind(record.conversation.id.as_uuid())
            .bind(&names)
            .bind(&seqs)
            .bind(&ats)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// [`PgStore::lock`] plus the membership check: `NotFound` unless the caller participates.
    pub(crate) async fn lock_member(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let locked = self.lock(conn, &caller.tenant, id, Lookup::None).await?;
        rules::require_member(locked.map(|locked| locked.record), caller)
    }

    /// Locks a conversation the actor is in, with one of its messages (`NotFound` for the
    /// conversation first, then for the message).
    pub(crate) async fn lock_member_message(
        &self,
        conn: &mut PgConnection,
        caller: &Identity,
        id: ConversationId,
        message: MessageId,
    ) -> ChatResult<(ConversationRecord, Message)> {
        let locked = self.lock(conn, &caller.tenant, id, Lookup::MessageId(message)).await?;
        let (record, message) = match locked {
            Some(Locked { record, message }) => (Some(record), message),
            None => (None, None),
        };
        let record = rules::require_member(record, caller)?;
        let message = message.ok_or_else(ChatError::message_not_found)?;
        Ok((record, message))
    }

    /// Locks a conversation the caller is in, applies `change` to the caller's own row and
    /// saves it when it changed, in one transaction.
    pub(crate) async fn update_own_row<T>(
        &self,
        caller: &Identity,
        id: ConversationId,
        change: impl FnOnce(&mut ConversationRecord) -> ChatResult<T>,
    ) -> ChatResult<(ConversationRecord, T)> {
        let mut tx = self.begin().await?;
        let result = async {
            let before = self.lock_member(&mut tx, caller, id).await?;
            let mut record = before.clone();
            let answer = change(&mut record)?;
            if record != before {
                self.save_participant(&mut tx, &record, &caller.user).await?;
            }
            Ok((record, answer))
        }
        .await;
        finish(tx, result).await
    }

    /// Writes the unread counts and pending notifications of the participants whose ones
    /// differ between `before` and `after` (a delete takes its message off the badges of
    /// those who had not read it, and their notification when nothing unread is left), in
    /// one statement.
    pub(crate) async fn save_unread_counts(
        &self,
        conn: &mut PgConnection,
        before: &ConversationRecord,
        after: &ConversationRecord,
    ) -> ChatResult<()> {
        let changed: Vec<&chat_core::Participant> = after
            .participants
            .iter()
            .filter(|p| {
                before
                    .participant(&p.user)
                    .map(|old| (old.unread_count, old.pending_notification))
                    != Some((p.unread_count, p.pending_notification))
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let users: Vec<&str> = changed.iter().map(|p| p.user.as_str()).collect();
        let counts: Vec<i64> = changed.iter().map(|p| to_i64(p.unread_count)).collect();
        let first_seqs: Vec<Option<i64>> = changed.iter().map(|p| pending_first_seq(p)).collect();
        let due: Vec<Option<chrono::DateTime<chrono::Utc>>> = changed
            .iter()
            .map(|p| p.pending_notification.map(|pending| pending.due_at))
            .collect();
        let attempts: Vec<i32> = changed.iter().map(|p| pending_attempts(p)).collect();
        sqlx::query(&self.sql.save_unread_counts)
            .bind(after.conversation.id.as_uuid())
            .bind(&users)
            .bind(&counts)
            .bind(&first_seqs)
            .bind(&due)
            .bind(&attempts)
            .bind(after.conversation.tenant.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes the participant row of `user` as it is in `record`, with the conversation's
    /// `updated_at`, and bumps the version.
    pub(crate) async fn save_participant(
        &self,
        conn: &mut PgConnection,
        record: &ConversationRecord,
        user: &UserId,
    ) -> ChatResult<()> {
        let participant = record.participant(user).ok_or_else(ChatError::conversation_not_found)?;
        sqlx::query(&self.sql.save_participant)
            .bind(record.conversation.id.as_uuid())
            .bind(user.as_str())
            .bind(record.conversation.updated_at)
            .bind(role_text(participant.role))
            .bind(to_i64(participant.last_read_seq))
            .bind(participant.last_read_at)
            .bind(to_i64(participant.unread_count))
            .bind(participant.is_archived)
            .bind(to_i64(participant.cleared_through_seq))
            .bind(to_i64(participant.last_delivered_seq))
            .bind(participant.last_delivered_at)
            .bind(pending_first_seq(participant))
            .bind(participant.pending_notification.map(|pending| pending.due_at))
            .bind(pending_attempts(participant))
            .bind(participant.muted)
            .bind(record.conversation.tenant.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes `message`'s body and edit/delete times with the conversation's `updated_at`
    /// and preview, and bumps the version.
    pub(crate) async fn save_message(
        &self,
        conn: &mut PgConnection,
        record: &ConversationRecord,
        message: &Message,
    ) -> ChatResult<()> {
        let conversation = &record.conversation;
        let preview = conversation.last_message.as_ref();
        sqlx::query(&self.sql.save_message)
            .bind(conversation.id.as_uuid())
            .bind(message.id.as_uuid())
            .bind(&message.body)
            .bind(message.edited_at)
            .bind(message.deleted_at)
            .bind(conversation.updated_at)
            .bind(preview.map(|last| *last.id.as_uuid()))
            .bind(preview.map(|last| to_i64(last.seq)))
            .bind(preview.and_then(|last| last.sender.as_ref().map(UserId::as_str)))
            .bind(preview.map(|last| last.text.as_str()))
            .bind(preview.map(|last| last.at))
            .bind(Json(&message.reactions))
            .bind(Json(&message.attachments))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes `message`'s reactions, and nothing else.
    pub(crate) async fn save_reactions(&self, conn: &mut PgConnection, message: &Message) -> ChatResult<()> {
        sqlx::query(&self.sql.save_reactions)
            .bind(message.conversation_id.as_uuid())
            .bind(message.id.as_uuid())
            .bind(Json(&message.reactions))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The call of the `append_message` function for `new` from `author` (`None`: a system
    /// message) in `tenant` (see the migration), which applies [`rules::append`] in the
    /// database.
    pub(crate) fn append_call<'q>(
        &'q self,
        tenant: &'q TenantId,
        author: Option<&'q UserId>,
        new: &'q NewMessage,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        sqlx::query(&self.sql.append)
            .bind(new.conversation_id.as_uuid())
            .bind(tenant.as_str())
            .bind(author.map(UserId::as_str))
            .bind(*MessageId::new_v7().as_uuid())
            .bind(&new.body)
            .bind(new.client_message_id.as_deref())
            .bind(Json(&new.metadata))
            .bind(now())
            .bind(LastMessage::preview_text(&new.body))
            .bind(new.reply_to.map(|id| *id.as_uuid()))
            .bind(new.notify_after.map(|delay| {
                chat_core::notification::bounded_delay(delay)
                    .num_microseconds()
                    .unwrap_or(i64::MAX)
            }))
    }

    pub(crate) async fn fetch_records(
        &self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let rows: Vec<PgRow> = query.fetch_all(&self.pool).await.map_err(db)?;
        rows.iter()
            .map(|row| record_from_row(row).map_err(ChatError::from))
            .collect()
    }
}

/// The `first_seq` column of a participant's pending notification row.
pub(crate) fn pending_first_seq(participant: &chat_core::Participant) -> Option<i64> {
    participant
        .pending_notification
        .map(|pending| to_i64(pending.first_unread_seq))
}

/// The `attempts` column of a participant's pending notification row (saturating: it only
/// paces backoff).
pub(crate) fn pending_attempts(participant: &chat_core::Participant) -> i32 {
    participant
        .pending_notification
        .map_or(0, |pending| i32::try_from(pending.attempts).unwrap_or(i32::MAX))
}

pub(crate) async fn commit(tx: Transaction<'static, Postgres>) -> ChatResult<()> {
    tx.commit().await.map_err(db)
}

/// Ends `tx` by `result`: commits on success; on an error rolls back before returning it,
/// so that no lock outlives the call (a dropped transaction keeps its locks until the
/// pool's background task sends the ROLLBACK, which makes writers wait and claims skip).
pub(crate) async fn finish<T>(tx: Transaction<'static, Postgres>, result: ChatResult<T>) -> ChatResult<T> {
    match result {
        Ok(value) => {
            commit(tx).await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rolling back a failed operation failed; the pool closes the connection");
            }
            Err(error)
        }
    }
}
