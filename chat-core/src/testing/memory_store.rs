//! The in-memory reference store: one mutex over plain collections. Every state change is a
//! call of [`crate::rules`]; what is left here is finding records, which is what a store is
//! for. Obviously right rather than fast; the model the other stores are compared with.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, UploadedFile};
use crate::error::{ChatError, ChatResult};
use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, TenantId, UserId};
use crate::model::{Block, ConversationRecord, Message, Report, Stats, now};
use crate::notification::{DueNotification, SettledNotification};
use crate::rules::{self, Deletion};
use crate::store::{
    Appended, Deleted, ErasedBatch, HistoryPage, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, NewReport,
    Reacted, ReactionChange, ReadUpTo, Reported, SearchQuery, Store,
};
use crate::tag::Tag;

type DirectKey = (TenantId, UserId, UserId, Option<String>);

struct Entry {
    record: ConversationRecord,
    /// Index `seq - 1` holds the message with that seq.
    messages: Vec<Message>,
}

impl Entry {
    /// Appends `new` from `author` (`None`: a system message) by [`rules::append`], with
    /// the attachments `found` for `new.attachments` bound to it by [`rules::attach`].
    fn append(&mut self, author: Option<&UserId>, new: &NewMessage, found: &mut [Attachment]) -> ChatResult<Appended> {
        let replied = new
            .reply_to
            .and_then(|id| self.messages.iter().find(|message| message.id == id));
        let mut record = self.record.clone();
        let mut message = rules::append(&mut record, author, new, replied, now())?;
        if let Some(author) = author {
            rules::attach(&record, author, &mut message, &new.attachments, found)?;
        }
        self.record = record.clone();
        self.messages.push(message.clone());
        Ok(Appended {
            message,
            created: true,
            record,
        })
    }

    /// The newest message below `seq` that is not deleted: the preview after a delete.
    fn newest_visible_below(&self, seq: u64) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|message| message.seq < seq && message.deleted_at.is_none())
    }

    fn message_mut(&mut self, id: MessageId) -> ChatResult<&mut Message> {
        self.messages
            .iter_mut()
            .find(|message| message.id == id)
            .ok_or_else(ChatError::message_not_found)
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<ConversationId, Entry>,
    directs: HashMap<DirectKey, ConversationId>,
    attachments: std::collections::BTreeMap<AttachmentId, Attachment>,
    /// By (tenant, blocker, blocked).
    blocks: std::collections::BTreeMap<(TenantId, UserId, UserId), Block>,
    /// By (tenant, reporter, message).
    reports: std::collections::BTreeMap<(TenantId, UserId, MessageId), Report>,
}

impl State {
    /// The conversation if the caller participates in it; NotFound otherwise.
    fn member_entry(&mut self, caller: &Identity, id: ConversationId) -> ChatResult<&mut Entry> {
        match self.entries.get_mut(&id) {
            Some(entry) if rules::is_member(&entry.record, caller) => Ok(entry),
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    /// [`rules::send_refused_by_block`] for the caller's new words in `record` (a send, an
    /// edit, a reaction).
    fn refuse_if_blocked(&self, caller: &Identity, record: &ConversationRecord) -> ChatResult<()> {
        let blocked = rules::block_that_stops(record, &caller.user)
            .is_some_and(|blocker| self.is_blocked(&caller.tenant, blocker, &caller.user));
        rules::send_refused_by_block(blocked)
    }

    /// Discards the records of a deleted message's `files`.
    fn discard_attachments(&mut self, files: &[crate::attachment::AttachedFile]) {
        for file in files {
            if let Some(attachment) = self.attachments.get_mut(&file.id) {
                rules::discard_attachment(attachment);
            }
        }
    }

    /// True when `blocker` of `tenant` has blocked `blocked`.
    fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> bool {
        self.blocks
            .contains_key(&(tenant.clone(), blocker.clone(), blocked.clone()))
    }

    /// Every conversation the caller is in.
    fn caller_records<'a>(&'a self, caller: &'a Identity) -> impl Iterator<Item = &'a ConversationRecord> + 'a {
        self.entries
            .values()
            .map(|entry| &entry.record)
            .filter(move |record| rules::is_member(record, caller))
    }
}

/// The in-memory reference store. Keeps nothing across restarts.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `change` to the record of a conversation the caller is in.
    fn update<T>(
        &self,
        caller: &Identity,
        id: ConversationId,
        change: impl FnOnce(&mut ConversationRecord) -> ChatResult<T>,
    ) -> ChatResult<(ConversationRecord, T)> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, id)?;
        let mut record = entry.record.clone();
        let answer = change(&mut record)?;
        entry.record = record.clone();
        Ok((record, answer))
    }

    /// The records of the caller matching `keep`, in inbox order, at most `limit`.
    fn list(
        &self,
        caller: &Identity,
        limit: usize,
        keep: impl Fn(&ConversationRecord) -> bool,
    ) -> Vec<ConversationRecord> {
        let state = self.lock();
        let mut records: Vec<ConversationRecord> = state.caller_records(caller).filter(|r| keep(r)).cloned().collect();
        rules::first_in_inbox_order(&mut records, limit);
        records
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn find_direct(
        &self,
        caller: &Identity,
        counterpart: &UserId,
        tag: Option<&Tag>,
    ) -> ChatResult<Option<ConversationRecord>> {
        let state = self.lock();
        let (low, high) = rules::direct_pair(&caller.user, counterpart);
        let key = (
            caller.tenant.clone(),
            low.clone(),
            high.clone(),
            tag.map(Tag::match_key),
        );
        Ok(state
            .directs
            .get(&key)
            .and_then(|id| state.entries.get(id))
            .map(|entry| entry.record.clone()))
    }

    async fn find_or_create_direct(&self, caller: &Identity, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let mut state = self.lock();
        let (low, high) = rules::direct_pair(&caller.user, &new.counterpart);
        let key = (
            caller.tenant.clone(),
            low.clone(),
            high.clone(),
            new.tag.as_ref().map(crate::Tag::match_key),
        );
        if let Some(entry) = state.directs.get(&key).and_then(|id| state.entries.get(id)) {
            return Ok((entry.record.clone(), false));
        }
        rules::start_refused_by_block(state.is_blocked(&caller.tenant, &new.counterpart, &caller.user))?;
        let record = rules::new_direct(caller, &new, now());
        let id = record.conversation.id;
        let entry = Entry {
            record: record.clone(),
            messages: Vec::new(),
        };
        state.entries.insert(id, entry);
        state.directs.insert(key, id);
        Ok((record, true))
    }

    async fn set_block(&self, caller: &Identity, user: &UserId, block: bool) -> ChatResult<(Option<Block>, bool)> {
        let mut state = self.lock();
        let key = (caller.tenant.clone(), caller.user.clone(), user.clone());
        let (after, changed) = rules::set_block(state.blocks.get(&key), &caller.user, user, block, now());
        if changed {
            match &after {
                Some(stored) => state.blocks.insert(key, stored.clone()),
                None => state.blocks.remove(&key),
            };
        }
        Ok((after, changed))
    }

    async fn blocks(&self, caller: &Identity) -> ChatResult<Vec<Block>> {
        let state = self.lock();
        Ok(state
            .blocks
            .iter()
            .filter(|((tenant, blocker, _), _)| tenant == &caller.tenant && blocker == &caller.user)
            .map(|(_, block)| block.clone())
            .collect())
    }

    async fn is_blocked(&self, tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> ChatResult<bool> {
        Ok(self.lock().is_blocked(tenant, blocker, blocked))
    }

    async fn report_message(&self, caller: &Identity, new: NewReport) -> ChatResult<Reported> {
        let mut state = self.lock();
        let message = state
            .member_entry(caller, new.conversation)?
            .message_mut(new.message)?
            .clone();
        let key = (caller.tenant.clone(), caller.user.clone(), new.message);
        let (report, created) = rules::report(
            &message,
            &caller.user,
            state.reports.get(&key),
            (new.reason, new.note.as_deref()),
            now(),
        )?;
        if created {
            state.reports.insert(key, report.clone());
        }
        Ok(Reported {
            report,
            message,
            created,
        })
    }

    async fn reports_by(&self, caller: &Identity) -> ChatResult<Vec<Report>> {
        let state = self.lock();
        Ok(state
            .reports
            .iter()
            .filter(|((tenant, reporter, _), _)| tenant == &caller.tenant && reporter == &caller.user)
            .map(|(_, report)| report.clone())
            .collect())
    }

    async fn create_group(&self, caller: &Identity, new: NewGroup) -> ChatResult<ConversationRecord> {
        let record = rules::new_group(caller, &new, now());
        let entry = Entry {
            record: record.clone(),
            messages: Vec::new(),
        };
        self.lock().entries.insert(record.conversation.id, entry);
        Ok(record)
    }

    async fn get_conversation(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        Ok(self.lock().member_entry(caller, id)?.record.clone())
    }

    async fn append_message(&self, caller: &Identity, new: NewMessage) -> ChatResult<Appended> {
        let mut state = self.lock();
        let record = state.member_entry(caller, new.conversation_id)?.record.clone();
        state.refuse_if_blocked(caller, &record)?;
        let entry = state.member_entry(caller, new.conversation_id)?;
        let retry = new.client_message_id.as_ref().and_then(|key| {
            entry.messages.iter().find(|message| {
                message.sender.as_ref() == Some(&caller.user) && message.client_message_id.as_ref() == Some(key)
            })
        });
        if let Some(stored) = retry {
            return Ok(Appended {
                message: stored.clone(),
                created: false,
                record: entry.record.clone(),
            });
        }
        let mut found: Vec<Attachment> = new
            .attachments
            .iter()
            .filter_map(|id| state.attachments.get(id).cloned())
            .collect();
        let appended = state
            .member_entry(caller, new.conversation_id)?
            .append(Some(&caller.user), &new, &mut found)?;
        for attachment in found {
            state.attachments.insert(attachment.id, attachment);
        }
        Ok(appended)
    }

    async fn append_system_message(&self, tenant: &TenantId, new: NewMessage) -> ChatResult<Appended> {
        let mut state = self.lock();
        match state.entries.get_mut(&new.conversation_id) {
            Some(entry) if &entry.record.conversation.tenant == tenant => entry.append(None, &new, &mut []),
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    async fn mark_delivered(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        self.update(caller, id, |record| {
            rules::mark_delivered(record, &caller.user, up_to, now())
        })
    }

    async fn mark_delivered_many(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        up_to: &[(UserId, u64)],
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let mut state = self.lock();
        match state.entries.get_mut(&id) {
            Some(entry) if &entry.record.conversation.tenant == tenant => {
                let moved = rules::mark_delivered_many(&mut entry.record, up_to, now());
                Ok((entry.record.clone(), moved))
            }
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    async fn set_reaction(&self, caller: &Identity, change: ReactionChange) -> ChatResult<Reacted> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, change.conversation)?;
        let record = entry.record.clone();
        entry.message_mut(change.message)?;
        state.refuse_if_blocked(caller, &record)?;
        let stored = state
            .member_entry(caller, change.conversation)?
            .message_mut(change.message)?;
        let changed = rules::set_reaction(stored, &caller.user, &change.emoji, change.present, change.max_distinct)?;
        Ok(Reacted {
            message: stored.clone(),
            record,
            changed,
        })
    }

    async fn messages_by_seq(&self, caller: &Identity, id: ConversationId, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, id)?;
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs
            .into_iter()
            .filter_map(|seq| {
                let index = usize::try_from(seq.checked_sub(1)?).ok()?;
                entry.messages.get(index).cloned()
            })
            .collect())
    }

    async fn mark_read(
        &self,
        caller: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, id)?;
        let mut record = entry.record.clone();
        let deleted_above = match rules::read_target(&record, &caller.user, up_to)? {
            Some(target) => entry
                .messages
                .iter()
                .filter(|message| message.seq > target && message.deleted_at.is_some())
                .count() as u64,
            None => 0,
        };
        let moved = rules::mark_read(&mut record, &caller.user, up_to, deleted_above, now())?;
        entry.record = record.clone();
        Ok((record, moved))
    }

    async fn set_archived(
        &self,
        caller: &Identity,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let (record, _) = self.update(caller, id, |record| rules::set_archived(record, &caller.user, archived))?;
        Ok(record)
    }

    async fn clear_history(&self, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
        let (record, ()) = self.update(caller, id, |record| rules::clear_history(record, &caller.user, now()))?;
        Ok(record)
    }

    async fn edit_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, conversation)?;
        let mut record = entry.record.clone();
        entry.message_mut(message)?;
        state.refuse_if_blocked(caller, &record)?;
        let entry = state.member_entry(caller, conversation)?;
        let stored = entry.message_mut(message)?;
        rules::edit(&mut record, stored, &caller.user, body, now())?;
        let edited = stored.clone();
        entry.record = record.clone();
        Ok((edited, record))
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<Deleted> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, conversation)?;
        let mut record = entry.record.clone();
        let stored = entry.message_mut(message)?;
        let files = stored.attachments.clone();
        let deletion = rules::delete(&mut record, stored, &caller.user, now())?;
        let deleted = stored.clone();
        if let Deletion::DeletedPreview { seq } = deletion {
            rules::set_preview(&mut record, entry.newest_visible_below(seq));
        }
        entry.record = record.clone();
        state.discard_attachments(&files);
        Ok(Deleted {
            message: deleted,
            record,
            changed: deletion.changed(),
        })
    }

    async fn erase_messages(
        &self,
        caller: &Identity,
        id: ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> ChatResult<ErasedBatch> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, id)?;
        let mut record = entry.record.clone();
        let last = after_seq.saturating_add(limit as u64).min(record.conversation.last_seq);
        let (mut deleted, mut unreacted, mut files, mut preview_of) = (Vec::new(), Vec::new(), Vec::new(), None);
        for seq in after_seq.saturating_add(1)..=last {
            let Some(message) = usize::try_from(seq - 1)
                .ok()
                .and_then(|index| entry.messages.get_mut(index))
            else {
                continue;
            };
            let attached = message.attachments.clone();
            match rules::erase_message(&mut record, message, &caller.user, now())? {
                rules::Erasure::Unchanged => {}
                rules::Erasure::Unreacted => unreacted.push(message.clone()),
                rules::Erasure::Deleted(deletion) => {
                    if let Deletion::DeletedPreview { seq } = deletion {
                        preview_of = Some(seq);
                    }
                    files.extend(attached);
                    deleted.push(message.clone());
                }
            }
        }
        if let Some(seq) = preview_of {
            rules::set_preview(&mut record, entry.newest_visible_below(seq));
        }
        entry.record = record.clone();
        state.discard_attachments(&files);
        Ok(ErasedBatch {
            next_after: (last < record.conversation.last_seq).then_some(last),
            record,
            deleted,
            unreacted,
        })
    }

    async fn erase_user_records(&self, caller: &Identity) -> ChatResult<()> {
        let mut state = self.lock();
        let theirs = |tenant: &TenantId, user: &UserId| tenant == &caller.tenant && user == &caller.user;
        state.blocks.retain(|(tenant, blocker, _), _| !theirs(tenant, blocker));
        state
            .reports
            .retain(|(tenant, reporter, _), _| !theirs(tenant, reporter));
        for attachment in state.attachments.values_mut() {
            if rules::erasing_discards(attachment, &caller.tenant, &caller.user) {
                rules::discard_attachment(attachment);
            }
        }
        Ok(())
    }

    async fn add_participants(
        &self,
        caller: &Identity,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        self.update(caller, id, |record| {
            rules::add_participants(record, &users, max_participants, now())
        })
    }

    async fn remove_participant(
        &self,
        caller: &Identity,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let (record, _) = self.update(caller, id, |record| {
            rules::remove_participant(record, &caller.user, user, now())
        })?;
        Ok(record)
    }

    async fn inbox_page(&self, caller: &Identity, query: InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        Ok(self.list(caller, query.limit, |record| {
            rules::inbox_matches(record, &caller.user, &query)
        }))
    }

    async fn history_page(
        &self,
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        let mut state = self.lock();
        let entry = state.member_entry(caller, id)?;
        let record = entry.record.clone();
        let cleared = record.participant(&caller.user).map_or(0, |p| p.cleared_through_seq);
        let Some(seqs) = rules::history_range(&query, cleared, record.conversation.last_seq) else {
            return Ok(HistoryPage {
                messages: Vec::new(),
                quoted: Vec::new(),
                record,
            });
        };
        let range = usize::try_from(*seqs.start() - 1).unwrap_or(usize::MAX)
            ..usize::try_from(*seqs.end()).unwrap_or(usize::MAX);
        let messages = entry.messages.get(range).map(<[Message]>::to_vec).unwrap_or_default();
        let quoted = rules::quoted_seqs(&messages)
            .into_iter()
            .filter_map(|seq| entry.messages.get(usize::try_from(seq.checked_sub(1)?).ok()?))
            .map(crate::model::Quote::of)
            .collect();
        Ok(HistoryPage {
            messages,
            quoted,
            record,
        })
    }

    async fn search(&self, caller: &Identity, query: SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        Ok(self.list(caller, query.limit, |record| {
            rules::search_matches(record, &caller.user, &query)
        }))
    }

    async fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        let state = self.lock();
        let mut stats = Stats::default();
        for record in state.caller_records(caller) {
            let unread = record.participant(&caller.user).map_or(0, |p| p.unread_count);
            stats.total_conversations += 1;
            stats.unread_messages += unread;
            stats.unread_conversations += u64::from(unread > 0);
        }
        Ok(stats)
    }

    async fn begin_upload(&self, caller: &Identity, id: ConversationId, name: &str) -> ChatResult<Attachment> {
        let mut state = self.lock();
        let record = &state.member_entry(caller, id)?.record;
        let attachment = rules::begin_upload(record, caller, name, now())?;
        state.attachments.insert(attachment.id, attachment.clone());
        Ok(attachment)
    }

    async fn finish_upload(
        &self,
        caller: &Identity,
        attachment: AttachmentId,
        uploaded: UploadedFile,
    ) -> ChatResult<Attachment> {
        let mut state = self.lock();
        let stored = state
            .attachments
            .get_mut(&attachment)
            .ok_or_else(ChatError::attachment_not_found)?;
        let mut finished = stored.clone();
        rules::finish_upload(&mut finished, caller, uploaded)?;
        *stored = finished.clone();
        Ok(finished)
    }

    async fn abandon_upload(&self, caller: &Identity, attachment: AttachmentId) -> ChatResult<()> {
        let mut state = self.lock();
        if state
            .attachments
            .get(&attachment)
            .is_some_and(|stored| rules::may_abandon(stored, caller))
        {
            state.attachments.remove(&attachment);
        }
        Ok(())
    }

    async fn attachment(
        &self,
        caller: &Identity,
        id: ConversationId,
        attachment: AttachmentId,
    ) -> ChatResult<Attachment> {
        let mut state = self.lock();
        state.member_entry(caller, id)?;
        state
            .attachments
            .get(&attachment)
            .filter(|stored| stored.conversation_id == id && rules::is_readable(stored, caller))
            .cloned()
            .ok_or_else(ChatError::attachment_not_found)
    }

    async fn discard_stale_attachments(
        &self,
        tenant: Option<&TenantId>,
        unsent_before: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<Attachment>> {
        let mut state = self.lock();
        let mut swept = Vec::new();
        for attachment in state.attachments.values_mut() {
            if tenant.is_none_or(|tenant| &attachment.tenant == tenant) && rules::is_swept(attachment, unsent_before) {
                rules::discard_attachment(attachment);
                if swept.len() < limit {
                    swept.push(attachment.clone());
                }
            }
        }
        Ok(swept)
    }

    async fn forget_attachments(&self, attachments: &[AttachmentId]) -> ChatResult<()> {
        let mut state = self.lock();
        for id in attachments {
            if state.attachments.get(id).is_some_and(rules::may_forget) {
                state.attachments.remove(id);
            }
        }
        Ok(())
    }

    async fn claim_notifications(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> ChatResult<Vec<DueNotification>> {
        let mut state = self.lock();
        let mut due: Vec<(DateTime<Utc>, ConversationId, UserId)> = state
            .entries
            .values()
            .filter(|entry| tenant.is_none_or(|tenant| &entry.record.conversation.tenant == tenant))
            .flat_map(|entry| {
                entry.record.participants.iter().filter_map(|participant| {
                    let pending = participant.pending_notification?;
                    (pending.due_at <= now)
                        .then(|| (pending.due_at, entry.record.conversation.id, participant.user.clone()))
                })
            })
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id, user) in due {
            let Some(entry) = state.entries.get_mut(&id) else {
                continue;
            };
            let tenant = entry.record.conversation.tenant.clone();
            let Some(participant) = entry.record.participants.iter_mut().find(|p| p.user == user) else {
                continue;
            };
            if let Some(pending) = rules::claim_notification(participant, now, lease_until) {
                claimed.push(DueNotification {
                    tenant,
                    user,
                    conversation: id,
                    pending,
                });
            }
        }
        Ok(claimed)
    }

    async fn settle_notifications(&self, settled: &[SettledNotification]) -> ChatResult<()> {
        let mut state = self.lock();
        for one in settled {
            if let Some(entry) = state.entries.get_mut(&one.due.conversation) {
                rules::settle_notification(&mut entry.record, one);
            }
        }
        Ok(())
    }
}
