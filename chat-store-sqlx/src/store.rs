//! [`PgStore`]: the [`Store`] on Postgres.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chat_core::membership::{self, new_participant};
use chat_core::model::{Conversation, ConversationKind, LastMessage, Role, now};
use chat_core::store::{Appended, NewDirect, NewGroup, NewMessage};
use chat_core::{
    ChatError, ChatResult, ConversationId, ConversationRecord, HistoryQuery, InboxQuery, Message, MessageId, Metadata,
    ReadUpTo, SearchQuery, Stats, Store, Tag, TenantId, UserId,
};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::types::Json;
use sqlx::{Row, Transaction};

use crate::error::{PgStoreError, db, is_invalid_transaction_state, is_unique_violation};
use crate::rows::{message_from_row, record_from_row, role_text, tag_columns, to_i64, to_u64};
use crate::schema::SchemaName;
use crate::sql::{Lookup, Sql, TagMode};

/// The embedded migrations (`chat-store-sqlx/migrations`), run by [`PgStore::migrate`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The chat store on Postgres.
///
/// Every [`Store`] operation is one transaction (or one statement) and the database keeps the
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
    pool: PgPool,
    schema: SchemaName,
    sql: Arc<Sql>,
    /// Set once `append_message` refused the pool's default isolation: later sends go
    /// straight to an explicit READ COMMITTED transaction.
    strict_isolation: Arc<AtomicBool>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// How long a connection of a pool made by [`PgStoreBuilder::connect`] may sit idle
/// before it is pinged on its way out of the pool.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(60);

/// Builds a [`PgStore`] over a URL or a pool the host already has.
///
/// ```no_run
/// # async fn demo() -> Result<(), chat_store_sqlx::PgStoreError> {
/// use chat_store_sqlx::PgStore;
///
/// let store = PgStore::builder()
///     .schema("chat")
///     .run_migrations(true)
///     .connect("postgres://postgres@127.0.0.1:5432/app")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PgStoreBuilder {
    schema: String,
    max_connections: u32,
    acquire_timeout: Duration,
    run_migrations: bool,
}

impl Default for PgStoreBuilder {
    fn default() -> Self {
        Self {
            schema: crate::schema::DEFAULT_SCHEMA.to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            run_migrations: false,
        }
    }
}

impl PgStoreBuilder {
    /// The schema our tables live in (default `chat`); `[a-z_][a-z0-9_]{0,62}`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Pool size when the builder connects from a URL (default 10). Ignored by
    /// [`PgStoreBuilder::build`], where the host's pool is used as it is.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// How long an operation waits for a free connection when the builder connects from a
    /// URL (default 30 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Runs [`PgStore::migrate`] before returning the store (default: no; hosts that run
    /// migrations as a separate step call it themselves).
    pub fn run_migrations(mut self, yes: bool) -> Self {
        self.run_migrations = yes;
        self
    }

    /// Connects a new pool to `url` and builds the store on it.
    ///
    /// The pool checks a connection with a ping only when it has been idle for
    /// [`PING_IDLE_AFTER`] (sqlx's default pings on every acquire, a second round trip on
    /// the caller's path for a send that is otherwise one statement); a connection that
    /// broke meanwhile fails that one operation with a backend error and is replaced.
    pub async fn connect(self, url: &str) -> Result<PgStore, PgStoreError> {
        let schema = SchemaName::new(self.schema.clone())?;
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        self.finish(pool, schema).await
    }

    /// Builds the store on the host's `pool`. The pool's connections are used as they are:
    /// every statement names our schema, so their `search_path` does not matter.
    pub async fn build(self, pool: PgPool) -> Result<PgStore, PgStoreError> {
        let schema = SchemaName::new(self.schema.clone())?;
        self.finish(pool, schema).await
    }

    async fn finish(self, pool: PgPool, schema: SchemaName) -> Result<PgStore, PgStoreError> {
        let store = PgStore {
            sql: Arc::new(Sql::new(&schema.quoted())),
            pool,
            schema,
            strict_isolation: Arc::default(),
        };
        if self.run_migrations {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// Runs the embedded migrations into `schema` on a connection of `pool`.
///
/// The schema is created when missing; then the migrations run on a dedicated connection
/// whose `search_path` is that schema alone, so sqlx records them in `<schema>._sqlx_migrations`
/// and never touches a `_sqlx_migrations` table of the host (in `public` or elsewhere). Running
/// it again is a no-op; several nodes may run it at once (sqlx's migration lock serialises them).
pub async fn migrate(pool: &PgPool, schema: &SchemaName) -> Result<(), PgStoreError> {
    // A connection of our own: its search_path is changed, so it never goes back to the pool.
    let mut conn = pool.acquire().await?.detach();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema.as_str())
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let create = format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted());
        match sqlx::query(&create).execute(&mut conn).await {
            Ok(_) => {}
            // Another node created it between our check and our CREATE.
            Err(error) if is_unique_violation(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let search_path = format!("SET search_path TO {}", schema.quoted());
    sqlx::query(&search_path).execute(&mut conn).await?;
    let result = MIGRATOR.run_direct(&mut conn).await;
    // Closing is best effort; the migration result is what matters.
    let _ = sqlx::Connection::close(conn).await;
    result?;
    Ok(())
}

/// What the locking read of a conversation returns.
struct Locked {
    record: ConversationRecord,
    message: Option<Message>,
}

impl PgStore {
    /// A builder (schema `chat`, no migrations on build).
    pub fn builder() -> PgStoreBuilder {
        PgStoreBuilder::default()
    }

    /// The store on `pool` in schema `chat`. The tables must exist: call
    /// [`PgStore::migrate`] once (or build with [`PgStoreBuilder::run_migrations`]).
    pub fn new(pool: PgPool) -> Self {
        let schema = SchemaName::default();
        Self {
            sql: Arc::new(Sql::new(&schema.quoted())),
            pool,
            schema,
            strict_isolation: Arc::default(),
        }
    }

    /// Runs the embedded migrations into this store's schema (see [`migrate`]).
    pub async fn migrate(&self) -> Result<(), PgStoreError> {
        migrate(&self.pool, &self.schema).await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &SchemaName {
        &self.schema
    }

    async fn begin(&self) -> ChatResult<Transaction<'static, Postgres>> {
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

    /// [`PgStore::lock`] plus the membership check: `NotFound` unless `actor` participates.
    async fn lock_member(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let locked = self
            .lock(conn, tenant, id, Lookup::None)
            .await?
            .ok_or_else(ChatError::conversation_not_found)?;
        if locked.record.participant(actor).is_none() {
            return Err(ChatError::conversation_not_found());
        }
        Ok(locked.record)
    }

    /// Locks a conversation the actor is in, with one of its messages (`NotFound` for the
    /// conversation first, then for the message).
    async fn lock_member_message(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        message: MessageId,
    ) -> ChatResult<(ConversationRecord, Message)> {
        let locked = self
            .lock(conn, tenant, id, Lookup::MessageId(message))
            .await?
            .ok_or_else(ChatError::conversation_not_found)?;
        if locked.record.participant(actor).is_none() {
            return Err(ChatError::conversation_not_found());
        }
        let message = locked.message.ok_or_else(ChatError::message_not_found)?;
        Ok((locked.record, message))
    }

    /// Writes the participant row of `user` as it is in `record`, with the conversation's
    /// `updated_at`, and bumps the version.
    async fn save_participant(
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
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes `message`'s body and edit/delete times with the conversation's `updated_at`
    /// and preview, and bumps the version.
    async fn save_message(
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
            .bind(preview.map(|last| last.sender.as_str()))
            .bind(preview.map(|last| last.text.as_str()))
            .bind(preview.map(|last| last.at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The call of the `append_message` function for `new` (see the migration).
    fn append_call<'q>(&'q self, new: &'q NewMessage) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        sqlx::query(&self.sql.append)
            .bind(new.conversation_id.as_uuid())
            .bind(new.tenant.as_str())
            .bind(new.sender.as_str())
            .bind(*MessageId::new_v7().as_uuid())
            .bind(&new.body)
            .bind(new.client_message_id.as_deref())
            .bind(Json(&new.metadata))
            .bind(now())
            .bind(LastMessage::preview_text(&new.body))
    }

    async fn fetch_records(
        &self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let rows: Vec<PgRow> = query.fetch_all(&self.pool).await.map_err(db)?;
        rows.iter()
            .map(|row| record_from_row(row).map_err(ChatError::from))
            .collect()
    }
}

/// Postgres `text` and `jsonb` cannot hold the NUL character, which the services let
/// through in bodies and metadata: refuse it as invalid input naming the field, as a limit
/// would, instead of failing with a database error.
fn refuse_nul(field: &'static str, text: &str) -> ChatResult<()> {
    if text.contains('\0') {
        return Err(ChatError::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

fn refuse_nul_in_json(field: &'static str, value: &serde_json::Value) -> ChatResult<()> {
    match value {
        serde_json::Value::String(text) => refuse_nul(field, text),
        serde_json::Value::Array(items) => items.iter().try_for_each(|item| refuse_nul_in_json(field, item)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(key, value)| {
            refuse_nul(field, key)?;
            refuse_nul_in_json(field, value)
        }),
        _ => Ok(()),
    }
}

fn refuse_nul_in_metadata(metadata: &Metadata) -> ChatResult<()> {
    for (key, value) in metadata {
        refuse_nul("metadata", key)?;
        refuse_nul_in_json("metadata", value)?;
    }
    Ok(())
}

fn refuse_nul_in_tag(tag: Option<&Tag>) -> ChatResult<()> {
    if let Some(tag) = tag {
        refuse_nul("taggable_type", &tag.taggable_type)?;
        refuse_nul("taggable_id", &tag.taggable_id.canonical())?;
    }
    Ok(())
}

async fn commit(tx: Transaction<'static, Postgres>) -> ChatResult<()> {
    tx.commit().await.map_err(db)
}

#[async_trait]
impl Store for PgStore {
    async fn find_or_create_direct(&self, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        refuse_nul_in_tag(new.tag.as_ref())?;
        refuse_nul_in_metadata(&new.metadata)?;
        let (low, high) = if new.creator <= new.counterpart {
            (&new.creator, &new.counterpart)
        } else {
            (&new.counterpart, &new.creator)
        };
        let (tag_type, tag_id, tag_is_int) = tag_columns(new.tag.as_ref());
        let key_type = tag_type.clone().unwrap_or_default();
        let key_id = tag_id.clone().unwrap_or_default();
        let find = || {
            sqlx::query(&self.sql.find_direct)
                .bind(new.tenant.as_str())
                .bind(low.as_str())
                .bind(high.as_str())
                .bind(&key_type)
                .bind(&key_id)
                .bind(new.tag.is_some())
        };
        if let Some(row) = find().fetch_optional(&self.pool).await.map_err(db)? {
            return Ok((record_from_row(&row)?, false));
        }
        let at = now();
        let id = ConversationId::new_v7();
        // One statement: the conversation and both participants, or nothing when another
        // caller's insert of the same key won (ON CONFLICT waits for that one to commit).
        let inserted = sqlx::query(&self.sql.insert_direct)
            .bind(id.as_uuid())
            .bind(new.tenant.as_str())
            .bind(&tag_type)
            .bind(&tag_id)
            .bind(tag_is_int)
            .bind(low.as_str())
            .bind(high.as_str())
            .bind(new.creator.as_str())
            .bind(at)
            .bind(Json(&new.metadata))
            .bind(vec![new.creator.as_str(), new.counterpart.as_str()])
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        if inserted.is_none() {
            let row = find()
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .ok_or_else(|| PgStoreError::Corrupt("direct conversation lost its key".into()))?;
            return Ok((record_from_row(&row)?, false));
        }
        let mut record = ConversationRecord {
            conversation: Conversation {
                id,
                tenant: new.tenant,
                kind: ConversationKind::Direct,
                title: None,
                tag: new.tag,
                created_by: new.creator.clone(),
                created_at: at,
                updated_at: at,
                last_message: None,
                last_seq: 0,
                last_activity_at: at,
                metadata: new.metadata,
            },
            participants: vec![
                new_participant(new.creator, Role::Member, at, 0),
                new_participant(new.counterpart, Role::Member, at, 0),
            ],
        };
        record.sort_participants();
        Ok((record, true))
    }

    async fn create_group(&self, new: NewGroup) -> ChatResult<ConversationRecord> {
        refuse_nul("title", &new.title)?;
        refuse_nul_in_tag(new.tag.as_ref())?;
        refuse_nul_in_metadata(&new.metadata)?;
        let at = now();
        let id = ConversationId::new_v7();
        let (tag_type, tag_id, tag_is_int) = tag_columns(new.tag.as_ref());
        let mut participants = vec![new_participant(new.creator.clone(), Role::Owner, at, 0)];
        participants.extend(
            new.members
                .into_iter()
                .map(|user| new_participant(user, Role::Member, at, 0)),
        );
        let users: Vec<&str> = participants.iter().map(|p| p.user.as_str()).collect();
        let roles: Vec<&str> = participants.iter().map(|p| role_text(p.role)).collect();
        sqlx::query(&self.sql.insert_group)
            .bind(id.as_uuid())
            .bind(new.tenant.as_str())
            .bind(&new.title)
            .bind(new.title.to_lowercase())
            .bind(&tag_type)
            .bind(&tag_id)
            .bind(tag_is_int)
            .bind(new.creator.as_str())
            .bind(at)
            .bind(Json(&new.metadata))
            .bind(&users)
            .bind(&roles)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let mut record = ConversationRecord {
            conversation: Conversation {
                id,
                tenant: new.tenant,
                kind: ConversationKind::Group,
                title: Some(new.title),
                tag: new.tag,
                created_by: new.creator,
                created_at: at,
                updated_at: at,
                last_message: None,
                last_seq: 0,
                last_activity_at: at,
                metadata: new.metadata,
            },
            participants,
        };
        record.sort_participants();
        Ok(record)
    }

    async fn get_conversation(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let row = sqlx::query(&self.sql.get_record)
            .bind(id.as_uuid())
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(ChatError::conversation_not_found)?;
        let record = record_from_row(&row)?;
        if record.participant(actor).is_none() {
            return Err(ChatError::conversation_not_found());
        }
        Ok(record)
    }

    async fn append_message(&self, new: NewMessage) -> ChatResult<Appended> {
        refuse_nul("body", &new.body)?;
        if let Some(key) = &new.client_message_id {
            refuse_nul("client_message_id", key)?;
        }
        refuse_nul_in_metadata(&new.metadata)?;
        // One statement: the whole send runs in the migration's `append_message` function
        // (lock, membership, retry key, writes), one implicit transaction. Only where the
        // connections' default isolation is stricter than READ COMMITTED does the function
        // refuse; the call is then repeated, and every later one made, inside an explicit
        // READ COMMITTED transaction.
        let implicit = if self.strict_isolation.load(Ordering::Relaxed) {
            None
        } else {
            match self.append_call(&new).fetch_optional(&self.pool).await {
                Err(error) if is_invalid_transaction_state(&error) => {
                    self.strict_isolation.store(true, Ordering::Relaxed);
                    None
                }
                other => Some(other.map_err(db)?),
            }
        };
        let row = match implicit {
            Some(row) => row,
            None => {
                let mut tx = self.begin().await?;
                let row = self.append_call(&new).fetch_optional(&mut *tx).await.map_err(db)?;
                commit(tx).await?;
                row
            }
        };
        let row = row.ok_or_else(ChatError::conversation_not_found)?;
        let created: bool = row.try_get("created").map_err(db)?;
        let record = record_from_row(&row)?;
        let message = message_from_row(&row)?
            .ok_or_else(|| PgStoreError::Corrupt("append_message returned no message".into()))?;
        Ok(Appended {
            message,
            created,
            record,
        })
    }

    async fn mark_read(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let mut tx = self.begin().await?;
        let mut record = self.lock_member(&mut tx, tenant, actor, id).await?;
        let last_seq = record.conversation.last_seq;
        let target = match up_to {
            ReadUpTo::Newest => last_seq,
            ReadUpTo::Seq(seq) => seq.min(last_seq),
        };
        let participant = record
            .participants
            .iter_mut()
            .find(|p| &p.user == actor)
            .ok_or_else(ChatError::conversation_not_found)?;
        let moved = target > participant.last_read_seq;
        if moved {
            let at = now();
            let unread: i64 = sqlx::query_scalar(&self.sql.mark_read)
                .bind(id.as_uuid())
                .bind(actor.as_str())
                .bind(to_i64(target))
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            participant.last_read_seq = target;
            participant.last_read_at = Some(at);
            participant.unread_count = to_u64(unread, "unread_count")?;
        }
        commit(tx).await?;
        Ok((record, moved))
    }

    async fn set_archived(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let mut tx = self.begin().await?;
        let mut record = self.lock_member(&mut tx, tenant, actor, id).await?;
        if let Some(participant) = record.participants.iter_mut().find(|p| &p.user == actor) {
            participant.is_archived = archived;
        }
        self.save_participant(&mut tx, &record, actor).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn clear_history(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let mut tx = self.begin().await?;
        let mut record = self.lock_member(&mut tx, tenant, actor, id).await?;
        let last_seq = record.conversation.last_seq;
        if let Some(participant) = record.participants.iter_mut().find(|p| &p.user == actor) {
            participant.cleared_through_seq = last_seq;
            if last_seq > participant.last_read_seq {
                participant.last_read_seq = last_seq;
                participant.last_read_at = Some(now());
            }
            participant.unread_count = 0;
        }
        self.save_participant(&mut tx, &record, actor).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn edit_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        refuse_nul("body", &body)?;
        let mut tx = self.begin().await?;
        let (mut record, mut stored) = self
            .lock_member_message(&mut tx, tenant, actor, conversation, message)
            .await?;
        if &stored.sender != actor {
            return Err(ChatError::PermissionDenied {
                reason: "only the sender may edit a message",
            });
        }
        if stored.deleted_at.is_some() {
            return Err(ChatError::Conflict {
                reason: "a deleted message cannot be edited",
            });
        }
        let at = now();
        stored.body = body;
        stored.edited_at = Some(at);
        record.conversation.updated_at = at;
        // The newest message that is not deleted stays the same one; its text may be this.
        if record
            .conversation
            .last_message
            .as_ref()
            .is_some_and(|last| last.id == stored.id)
        {
            record.conversation.last_message = Some(LastMessage::of(&stored));
        }
        self.save_message(&mut tx, &record, &stored).await?;
        commit(tx).await?;
        Ok((stored, record))
    }

    async fn delete_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let mut tx = self.begin().await?;
        let (mut record, mut stored) = self
            .lock_member_message(&mut tx, tenant, actor, conversation, message)
            .await?;
        if &stored.sender != actor {
            return Err(ChatError::PermissionDenied {
                reason: "only the sender may delete a message",
            });
        }
        if stored.deleted_at.is_some() {
            commit(tx).await?;
            return Ok((stored, record));
        }
        let at = now();
        stored.body.clear();
        stored.deleted_at = Some(at);
        record.conversation.updated_at = at;
        if record
            .conversation
            .last_message
            .as_ref()
            .is_some_and(|last| last.id == stored.id)
        {
            // The preview was this message; every newer one is deleted already.
            let row = sqlx::query(&self.sql.newest_visible_before)
                .bind(conversation.as_uuid())
                .bind(to_i64(stored.seq))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            let newest = match row {
                Some(row) => message_from_row(&row)?,
                None => None,
            };
            record.conversation.last_message = newest.as_ref().map(LastMessage::of);
        }
        self.save_message(&mut tx, &record, &stored).await?;
        commit(tx).await?;
        Ok((stored, record))
    }

    async fn add_participants(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let mut tx = self.begin().await?;
        let mut record = self.lock_member(&mut tx, tenant, actor, id).await?;
        let added = membership::users_to_add(record.conversation.kind, &record.participants, &users, max_participants)?;
        if !added.is_empty() {
            let at = now();
            let names: Vec<&str> = added.iter().map(UserId::as_str).collect();
            let title_lower = record.conversation.title.as_deref().map(str::to_lowercase);
            sqlx::query(&self.sql.add_participants)
                .bind(id.as_uuid())
                .bind(&names)
                .bind(at)
                .bind(title_lower)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let last_seq = record.conversation.last_seq;
            record.participants.extend(
                added
                    .iter()
                    .map(|user| new_participant(user.clone(), Role::Member, at, last_seq)),
            );
            record.conversation.updated_at = at;
            record.sort_participants();
        }
        commit(tx).await?;
        Ok((record, added))
    }

    async fn remove_participant(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let mut tx = self.begin().await?;
        let mut record = self.lock_member(&mut tx, tenant, actor, id).await?;
        let (_removed, heir_id) =
            membership::remove_participant(record.conversation.kind, &mut record.participants, actor, user)?;
        let at = now();
        record.conversation.updated_at = at;
        sqlx::query(&self.sql.remove_participant)
            .bind(id.as_uuid())
            .bind(user.as_str())
            .bind(at)
            .bind(heir_id.as_ref().map(UserId::as_str))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await?;
        Ok(record)
    }

    async fn inbox_page(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: InboxQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let tag_mode = match &query.tag {
            None => TagMode::None,
            Some(filter) if filter.taggable_id.is_none() => TagMode::Type,
            Some(_) => TagMode::TypeAndId,
        };
        let sql = self
            .sql
            .inbox(query.archive, query.unread_only, tag_mode, query.after.is_some());
        let mut statement = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(user.as_str())
            .bind(to_i64(query.limit as u64));
        if let Some(filter) = &query.tag {
            statement = statement.bind(filter.taggable_type.clone());
            if let Some(id) = &filter.taggable_id {
                statement = statement.bind(id.canonical());
            }
        }
        if let Some(after) = query.after {
            statement = statement.bind(after.last_activity_at).bind(*after.id.as_uuid());
        }
        self.fetch_records(statement).await
    }

    async fn history_page(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<Vec<Message>> {
        let oldest_first = query.after.is_some();
        let sql = if oldest_first {
            &self.sql.history_oldest_first
        } else {
            &self.sql.history_newest_first
        };
        let rows = sqlx::query(sql)
            .bind(id.as_uuid())
            .bind(actor.as_str())
            .bind(tenant.as_str())
            .bind(to_i64(query.after.unwrap_or(0)))
            .bind(query.before.map_or(i64::MAX, to_i64))
            .bind(to_i64(query.limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        if rows.is_empty() {
            return Err(ChatError::conversation_not_found());
        }
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(message) = message_from_row(row)? {
                messages.push(message);
            }
        }
        if !oldest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn search(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: SearchQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let participants: Vec<&str> = query.participants.iter().map(UserId::as_str).collect();
        let statement = sqlx::query(&self.sql.search)
            .bind(tenant.as_str())
            .bind(user.as_str())
            .bind(query.title_contains.to_lowercase())
            .bind(participants)
            .bind(to_i64(query.limit as u64));
        self.fetch_records(statement).await
    }

    async fn stats(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Stats> {
        let row = sqlx::query(&self.sql.stats)
            .bind(tenant.as_str())
            .bind(user.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let get = |column: &str| -> ChatResult<u64> {
            let value: i64 = row.try_get(column).map_err(db)?;
            Ok(to_u64(value, column)?)
        };
        Ok(Stats {
            total_conversations: get("total")?,
            unread_conversations: get("unread_conversations")?,
            unread_messages: get("unread_messages")?,
        })
    }
}
