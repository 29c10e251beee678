//! The core store operations of [`PgStore`] ([`ConversationStore`]; the capabilities are in
//! `capabilities.rs`): each locks what it changes (see
//! [`PgStore`]'s docs for the protocol), applies the rule of [`chat_core::rules`] to the
//! record it read, and writes the rows that changed; reads are single statements.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chat_core::backend::{
    Appended, ConversationStore, Deleted, HistoryPage, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage,
    Reacted, ReactionChange, ReadUpTo, SearchQuery, now, rules,
};
use chat_core::rules::Deletion;
use chat_core::{
    ChatError, ChatResult, ConversationId, ConversationRecord, Identity, Message, MessageId, Quote, Stats, Tag,
    TenantId, UserId,
};
use sqlx::Row;
use sqlx::types::Json;

use crate::error::{PgStoreError, append_error, db, is_invalid_transaction_state};
use crate::rows::{message_from_row, quote_from_row, record_from_row, role_text, tag_columns, to_i64, to_u64};
use crate::sql::TagMode;
use crate::store::{PgStore, finish};

#[async_trait]
impl ConversationStore for PgStore {
    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let (low, high) = rules::direct_pair(&caller.user, &new.counterpart);
        let (tag_type, tag_id, tag_is_int) = tag_columns(new.tag.as_ref());
        let key_type = tag_type.clone().unwrap_or_default();
        let key_id = tag_id.clone().unwrap_or_default();
        let find = || {
            sqlx::query(&self.sql.find_direct)
                .bind(caller.tenant.as_str())
                .bind(low.as_str())
                .bind(high.as_str())
                .bind(&key_type)
                .bind(&key_id)
                .bind(new.tag.is_some())
        };
        if let Some(row) = find().fetch_optional(&self.pool).await.map_err(db)? {
            return Ok((record_from_row(&row)?, false));
        }
        let record = rules::new_direct(caller, &new, now());
        let conversation = &record.conversation;
        // Under the pair's advisory lock, which a block takes too: a block stored before the
        // lock was granted is seen, one stored after waits for this transaction.
        let mut tx = self.begin().await?;
        let checked = match self
            .lock_pair(&mut tx, &caller.tenant, &caller.user, &new.counterpart)
            .await
        {
            Ok(()) => self
                .read_block(&mut tx, &caller.tenant, &new.counterpart, &caller.user)
                .await
                .map(|block| block.is_some()),
            Err(error) => Err(error),
        };
        let blocked = match checked {
            Ok(blocked) => blocked,
            Err(error) => return finish(tx, Err(error)).await,
        };
        if blocked {
            // An existing conversation (created meanwhile) is still found; a new one is refused.
            let existing = find().fetch_optional(&mut *tx).await.map_err(db);
            let row = finish(tx, existing).await?;
            return match row {
                Some(row) => Ok((record_from_row(&row)?, false)),
                None => Err(rules::blocked_start()),
            };
        }
        // One statement: the conversation and both participants, or nothing when another
        // caller's insert of the same key won (ON CONFLICT waits for that one to commit).
        let inserted = sqlx::query(&self.sql.insert_direct)
            .bind(conversation.id.as_uuid())
            .bind(caller.tenant.as_str())
            .bind(&tag_type)
            .bind(&tag_id)
            .bind(tag_is_int)
            .bind(low.as_str())
            .bind(high.as_str())
            .bind(caller.user.as_str())
            .bind(conversation.created_at)
            .bind(Json(&conversation.metadata))
            .bind(vec![caller.user.as_str(), new.counterpart.as_str()])
            .fetch_optional(&mut *tx)
            .await
            .map_err(db);
        let inserted = finish(tx, inserted).await?;
        if inserted.is_none() {
            let row = find()
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .ok_or_else(|| PgStoreError::Corrupt("direct conversation lost its key".into()))?;
            return Ok((record_from_row(&row)?, false));
        }
        Ok((record, true))
    }

    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>> {
        let (low, high) = rules::direct_pair(&caller.user, counterpart);
        let (tag_type, tag_id, _) = tag_columns(tag);
        let row = sqlx::query(&self.sql.find_direct)
            .bind(caller.tenant.as_str())
            .bind(low.as_str())
            .bind(high.as_str())
            .bind(tag_type.unwrap_or_default())
            .bind(tag_id.unwrap_or_default())
            .bind(tag.is_some())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
        let record = rules::new_group(caller, &new, now());
        let conversation = &record.conversation;
        let (tag_type, tag_id, tag_is_int) = tag_columns(conversation.tag.as_ref());
        let members: Vec<UserId> = record.participants.iter().map(|p| p.user.clone()).collect();
        let users: Vec<&str> = members.iter().map(UserId::as_str).collect();
        let roles: Vec<&str> = record.participants.iter().map(|p| role_text(p.role)).collect();
        let mut tx = self.begin().await?;
        if let Err(refused) = self.refuse_group_if_blocked(&mut tx, caller, &members).await {
            return finish(tx, Err(refused)).await;
        }
        let inserted = sqlx::query(&self.sql.insert_group)
            .bind(conversation.id.as_uuid())
            .bind(caller.tenant.as_str())
            .bind(&new.title)
            .bind(rules::title_search_key(&new.title))
            .bind(&tag_type)
            .bind(&tag_id)
            .bind(tag_is_int)
            .bind(caller.user.as_str())
            .bind(conversation.created_at)
            .bind(Json(&conversation.metadata))
            .bind(&users)
            .bind(&roles)
            .execute(&mut *tx)
            .await
            .map_err(db)
            .map(|_| record);
        finish(tx, inserted).await
    }

    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let row = sqlx::query(&self.sql.get_record)
            .bind(id.as_uuid())
            .bind(caller.tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let record = row.as_ref().map(record_from_row).transpose()?;
        rules::require_member(record, caller)
    }

    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
        self.append(&caller.tenant, Some(&caller.user), &new).await
    }

    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
        self.append(tenant, None, &new).await
    }

    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.update_own_row(caller, id, |record| {
            rules::mark_delivered(record, &caller.user, up_to, now())
        })
        .await
    }

    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut record = self.lock_in_tenant(&mut tx, tenant, id).await?;
            let moved = rules::mark_delivered_many(&mut record, up_to, now());
            self.save_deliveries(&mut tx, &record, &moved).await?;
            Ok((record, moved))
        }
        .await;
        finish(tx, result).await
    }

    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
        let mut tx = self.begin().await?;
        let result = async {
            let (record, mut stored) = self
                .lock_member_message(&mut tx, caller, change.conversation, change.message)
                .await?;
            self.refuse_if_blocked(&mut tx, caller, &record).await?;
            let changed = rules::set_reaction(
                &mut stored,
                &caller.user,
                &change.emoji,
                change.present,
                change.max_distinct,
            )?;
            if changed {
                self.save_reactions(&mut tx, &stored).await?;
            }
            Ok(Reacted {
                message: stored,
                record,
                changed,
            })
        }
        .await;
        finish(tx, result).await
    }

    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        let seqs: Vec<i64> = seqs.iter().map(|&seq| to_i64(seq)).collect();
        let rows = sqlx::query(&self.sql.messages_by_seq)
            .bind(id.as_uuid())
            .bind(caller.user.as_str())
            .bind(caller.tenant.as_str())
            .bind(&seqs)
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
        Ok(messages)
    }

    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut record = self.lock_member(&mut tx, caller, id).await?;
            let deleted_above = match rules::read_target(&record, &caller.user, up_to)? {
                Some(target) if target < record.conversation.last_seq => {
                    let row = sqlx::query(&self.sql.count_deleted_above)
                        .bind(id.as_uuid())
                        .bind(to_i64(target))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
                    to_u64(row.try_get("deleted").map_err(db)?, "deleted")?
                }
                _ => 0,
            };
            let moved = rules::mark_read(&mut record, &caller.user, up_to, deleted_above, now())?;
            if moved {
                self.save_participant(&mut tx, &record, &caller.user).await?;
            }
            Ok((record, moved))
        }
        .await;
        finish(tx, result).await
    }

    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let (record, _) = self
            .update_own_row(caller, id, |record| rules::set_archived(record, &caller.user, archived))
            .await?;
        Ok(record)
    }

    async fn set_muted(&self, caller: &Identity, id: ConversationId, muted: bool) -> ChatResult<ConversationRecord> {
        let (record, _) = self
            .update_own_row(caller, id, |record| rules::set_muted(record, &caller.user, muted))
            .await?;
        Ok(record)
    }

    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let (record, ()) = self
            .update_own_row(caller, id, |record| rules::clear_history(record, &caller.user, now()))
            .await?;
        Ok(record)
    }

    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let mut tx = self.begin().await?;
        let result = async {
            let (mut record, mut stored) = self.lock_member_message(&mut tx, caller, conversation, message).await?;
            self.refuse_if_blocked(&mut tx, caller, &record).await?;
            rules::edit(&mut record, &mut stored, &caller.user, body, now())?;
            self.save_message(&mut tx, &record, &stored).await?;
            Ok((stored, record))
        }
        .await;
        finish(tx, result).await
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        let mut tx = self.begin().await?;
        let result = async {
            let (before, mut stored) = self.lock_member_message(&mut tx, caller, conversation, message).await?;
            let mut record = before.clone();
            let files = stored.attachments.clone();
            let deletion = rules::delete(&mut record, &mut stored, &caller.user, now())?;
            if let Deletion::DeletedPreview { seq } = deletion {
                // Every message newer than the preview is deleted already.
                let row = sqlx::query(&self.sql.newest_visible_before)
                    .bind(conversation.as_uuid())
                    .bind(to_i64(seq))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                let newest = row.as_ref().map(message_from_row).transpose()?.flatten();
                rules::set_preview(&mut record, newest.as_ref());
            }
            if deletion.changed() {
                self.save_message(&mut tx, &record, &stored).await?;
                self.save_unread_counts(&mut tx, &before, &record).await?;
                self.discard_attachments_of(&mut tx, &files).await?;
            }
            Ok(Deleted {
                message: stored,
                record,
                changed: deletion.changed(),
            })
        }
        .await;
        finish(tx, result).await
    }

    async fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut record = self.lock_member(&mut tx, caller, id).await?;
            let at = now();
            let added = rules::add_participants(&mut record, &users, max_participants, at)?;
            self.refuse_group_if_blocked(&mut tx, caller, &added).await?;
            if !added.is_empty() {
                let names: Vec<&str> = added.iter().map(UserId::as_str).collect();
                let title_key = record.conversation.title.as_deref().map(rules::title_search_key);
                sqlx::query(&self.sql.add_participants)
                    .bind(id.as_uuid())
                    .bind(&names)
                    .bind(at)
                    .bind(title_key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Ok((record, added))
        }
        .await;
        finish(tx, result).await
    }

    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut record = self.lock_member(&mut tx, caller, id).await?;
            let removal = rules::remove_participant(&mut record, &caller.user, user, now())?;
            sqlx::query(&self.sql.remove_participant)
                .bind(id.as_uuid())
                .bind(user.as_str())
                .bind(record.conversation.updated_at)
                .bind(removal.new_owner.as_ref().map(UserId::as_str))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            Ok(record)
        }
        .await;
        finish(tx, result).await
    }

    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        let tag_mode = match &query.tag {
            None => TagMode::None,
            Some(filter) if filter.taggable_id.is_none() => TagMode::Type,
            Some(_) => TagMode::TypeAndId,
        };
        let sql = self
            .sql
            .inbox(query.archive, query.unread_only, tag_mode, query.after.is_some());
        let mut statement = sqlx::query(&sql)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
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
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        let oldest_first = query.after.is_some();
        let sql = if oldest_first {
            &self.sql.history_oldest_first
        } else {
            &self.sql.history_newest_first
        };
        let page = sqlx::query(sql)
            .bind(id.as_uuid())
            .bind(caller.user.as_str())
            .bind(caller.tenant.as_str())
            .bind(to_i64(query.after.unwrap_or(0)))
            .bind(query.before.map_or(i64::MAX, to_i64))
            .bind(to_i64(query.limit as u64))
            .fetch_all(&self.pool);
        // The record and the page on two pooled connections at once: one round trip of
        // latency. Each statement checks membership; the record may be a moment newer than
        // the page (never older than what the page shows of the reader).
        let (record, rows) = tokio::try_join!(self.get_conversation(caller, id), async { page.await.map_err(db) })?;
        if rows.is_empty() {
            return Err(ChatError::conversation_not_found());
        }
        let mut messages = Vec::with_capacity(rows.len());
        let mut quoted: Vec<Quote> = Vec::new();
        for row in &rows {
            if let Some(message) = message_from_row(row)? {
                messages.push(message);
            }
            if let Some(quote) = quote_from_row(row)? {
                quoted.push(quote);
            }
        }
        if !oldest_first {
            messages.reverse();
        }
        // Only the quotes of messages off the page, as the other stores give them.
        quoted.retain(|quote| {
            messages
                .binary_search_by_key(&quote.seq, |message| message.seq)
                .is_err()
        });
        quoted.sort_unstable_by_key(|quote| quote.seq);
        quoted.dedup_by_key(|quote| quote.seq);
        Ok(HistoryPage {
            messages,
            quoted,
            record,
        })
    }

    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        let participants: Vec<&str> = query.participants.iter().map(UserId::as_str).collect();
        let statement = sqlx::query(&self.sql.search)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
            .bind(rules::title_search_key(&query.title_contains))
            .bind(participants)
            .bind(to_i64(query.limit as u64));
        self.fetch_records(statement).await
    }

    async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        let row = sqlx::query(&self.sql.stats)
            .bind(caller.tenant.as_str())
            .bind(caller.user.as_str())
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

impl PgStore {
    /// A send in one statement: the whole append runs in the migration's `append_message`
    /// function (lock, membership unless a system message, retry key, reply check, and
    /// `rules::append` in SQL), one implicit transaction. A send with attachments takes
    /// [`PgStore::append_with_attachments`] instead. Only where the connections'
    /// default isolation is stricter than READ COMMITTED does the function refuse; the call
    /// is then repeated, and every later one made, inside an explicit READ COMMITTED
    /// transaction.
    async fn append(&self, tenant: &TenantId, author: Option<&UserId>, new: &NewMessage) -> ChatResult<Appended> {
        if let Some(author) = author.filter(|_| !new.attachments.is_empty()) {
            return self.append_with_attachments(tenant, author, new).await;
        }
        let implicit = if self.strict_isolation.load(Ordering::Relaxed) {
            None
        } else {
            match self.append_call(tenant, author, new).fetch_optional(&self.pool).await {
                Err(error) if is_invalid_transaction_state(&error) => {
                    self.strict_isolation.store(true, Ordering::Relaxed);
                    None
                }
                other => Some(other.map_err(append_error)?),
            }
        };
        let row = match implicit {
            Some(row) => row,
            None => {
                let mut tx = self.begin().await?;
                let result = self
                    .append_call(tenant, author, new)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(append_error);
                finish(tx, result).await?
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
}
