//! The in-memory reference store: one mutex over plain collections, every operation a
//! straight transcription of the rules. Obviously right rather than fast; the model the
//! other stores are compared with.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::{ChatError, ChatResult};
use crate::ids::{ConversationId, MessageId, TenantId, UserId};
use crate::membership::{self, new_participant};
use crate::model::{
    Conversation, ConversationKind, ConversationRecord, LastMessage, Message, Participant, Role, Stats, now,
};
use crate::store::{Appended, HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, ReadUpTo, SearchQuery, Store};

type DirectKey = (TenantId, UserId, UserId, Option<String>);

struct Entry {
    conversation: Conversation,
    participants: Vec<Participant>,
    messages: Vec<Message>,
}

impl Entry {
    fn record(&self) -> ConversationRecord {
        let mut record = ConversationRecord {
            conversation: self.conversation.clone(),
            participants: self.participants.clone(),
        };
        record.sort_participants();
        record
    }

    fn participant_mut(&mut self, user: &UserId) -> Option<&mut Participant> {
        self.participants
            .iter_mut()
            .find(|participant| &participant.user == user)
    }

    fn unread_for(&self, user: &UserId, after_seq: u64) -> u64 {
        self.messages
            .iter()
            .filter(|message| message.seq > after_seq && &message.sender != user)
            .count() as u64
    }

    fn message_index(&self, id: MessageId) -> ChatResult<usize> {
        self.messages
            .iter()
            .position(|message| message.id == id)
            .ok_or_else(ChatError::message_not_found)
    }

    fn refresh_preview(&mut self) {
        self.conversation.last_message = self
            .messages
            .iter()
            .rev()
            .find(|message| message.deleted_at.is_none())
            .map(LastMessage::of);
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<ConversationId, Entry>,
    directs: HashMap<DirectKey, ConversationId>,
}

impl State {
    /// The conversation if `actor` participates in it within `tenant`; NotFound otherwise.
    fn member_entry(&mut self, tenant: &TenantId, actor: &UserId, id: ConversationId) -> ChatResult<&mut Entry> {
        match self.entries.get_mut(&id) {
            Some(entry)
                if &entry.conversation.tenant == tenant && entry.participants.iter().any(|p| &p.user == actor) =>
            {
                Ok(entry)
            }
            _ => Err(ChatError::conversation_not_found()),
        }
    }

    fn user_entries<'a>(&'a self, tenant: &'a TenantId, user: &'a UserId) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.values().filter(move |entry| {
            &entry.conversation.tenant == tenant && entry.participants.iter().any(|p| &p.user == user)
        })
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
}

fn inbox_order(records: &mut [ConversationRecord]) {
    records.sort_by(|a, b| {
        (b.conversation.last_activity_at, b.conversation.id).cmp(&(a.conversation.last_activity_at, a.conversation.id))
    });
}

#[async_trait]
impl Store for MemoryStore {
    async fn find_or_create_direct(&self, new: NewDirect) -> ChatResult<(ConversationRecord, bool)> {
        let mut state = self.lock();
        let (low, high) = if new.creator <= new.counterpart {
            (new.creator.clone(), new.counterpart.clone())
        } else {
            (new.counterpart.clone(), new.creator.clone())
        };
        let key = (
            new.tenant.clone(),
            low,
            high,
            new.tag.as_ref().map(crate::Tag::match_key),
        );
        if let Some(entry) = state.directs.get(&key).and_then(|id| state.entries.get(id)) {
            return Ok((entry.record(), false));
        }
        let at = now();
        let conversation = Conversation {
            id: ConversationId::new_v7(),
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
        };
        let id = conversation.id;
        let participants = vec![
            new_participant(new.creator, Role::Member, at, 0),
            new_participant(new.counterpart, Role::Member, at, 0),
        ];
        let entry = Entry {
            conversation,
            participants,
            messages: Vec::new(),
        };
        let record = entry.record();
        state.entries.insert(id, entry);
        state.directs.insert(key, id);
        Ok((record, true))
    }

    async fn create_group(&self, new: NewGroup) -> ChatResult<ConversationRecord> {
        let at = now();
        let conversation = Conversation {
            id: ConversationId::new_v7(),
            tenant: new.tenant,
            kind: ConversationKind::Group,
            title: Some(new.title),
            tag: new.tag,
            created_by: new.creator.clone(),
            created_at: at,
            updated_at: at,
            last_message: None,
            last_seq: 0,
            last_activity_at: at,
            metadata: new.metadata,
        };
        let mut participants = vec![new_participant(new.creator, Role::Owner, at, 0)];
        participants.extend(
            new.members
                .into_iter()
                .map(|user| new_participant(user, Role::Member, at, 0)),
        );
        let entry = Entry {
            conversation,
            participants,
            messages: Vec::new(),
        };
        let record = entry.record();
        self.lock().entries.insert(record.conversation.id, entry);
        Ok(record)
    }

    async fn get_conversation(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        Ok(self.lock().member_entry(tenant, actor, id)?.record())
    }

    async fn append_message(&self, new: NewMessage) -> ChatResult<Appended> {
        let mut state = self.lock();
        let entry = state.member_entry(&new.tenant, &new.sender, new.conversation_id)?;
        if let Some(client_id) = &new.client_message_id {
            let stored = entry
                .messages
                .iter()
                .find(|message| message.sender == new.sender && message.client_message_id.as_ref() == Some(client_id));
            if let Some(stored) = stored {
                return Ok(Appended {
                    message: stored.clone(),
                    created: false,
                    record: entry.record(),
                });
            }
        }
        let message = new.next_message(&entry.conversation);
        let (seq, at) = (message.seq, message.created_at);
        entry.messages.push(message.clone());
        entry.conversation.last_seq = seq;
        entry.conversation.last_message = Some(LastMessage::of(&message));
        entry.conversation.last_activity_at = at;
        entry.conversation.updated_at = at;
        for participant in &mut entry.participants {
            if participant.user == new.sender {
                participant.last_read_seq = seq;
                participant.last_read_at = Some(at);
                participant.unread_count = 0;
            } else {
                participant.unread_count += 1;
            }
            participant.is_archived = false;
        }
        Ok(Appended {
            message,
            created: true,
            record: entry.record(),
        })
    }

    async fn mark_read(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<(ConversationRecord, bool)> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        let last_seq = entry.conversation.last_seq;
        let target = match up_to {
            ReadUpTo::Newest => last_seq,
            ReadUpTo::Seq(seq) => seq.min(last_seq),
        };
        let unread = entry.unread_for(actor, target);
        let participant = entry
            .participant_mut(actor)
            .ok_or_else(ChatError::conversation_not_found)?;
        let moved = target > participant.last_read_seq;
        if moved {
            participant.last_read_seq = target;
            participant.last_read_at = Some(now());
            participant.unread_count = unread;
        }
        Ok((entry.record(), moved))
    }

    async fn set_archived(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        archived: bool,
    ) -> ChatResult<ConversationRecord> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        if let Some(participant) = entry.participant_mut(actor) {
            participant.is_archived = archived;
        }
        Ok(entry.record())
    }

    async fn clear_history(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
    ) -> ChatResult<ConversationRecord> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        let last_seq = entry.conversation.last_seq;
        if let Some(participant) = entry.participant_mut(actor) {
            participant.cleared_through_seq = last_seq;
            if last_seq > participant.last_read_seq {
                participant.last_read_seq = last_seq;
                participant.last_read_at = Some(now());
            }
            participant.unread_count = 0;
        }
        Ok(entry.record())
    }

    async fn edit_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
        body: String,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, conversation)?;
        let index = entry.message_index(message)?;
        let stored = &mut entry.messages[index];
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
        let edited = stored.clone();
        entry.conversation.updated_at = at;
        entry.refresh_preview();
        Ok((edited, entry.record()))
    }

    async fn delete_message(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<(Message, ConversationRecord)> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, conversation)?;
        let index = entry.message_index(message)?;
        let stored = &mut entry.messages[index];
        if &stored.sender != actor {
            return Err(ChatError::PermissionDenied {
                reason: "only the sender may delete a message",
            });
        }
        if stored.deleted_at.is_none() {
            let at = now();
            stored.body.clear();
            stored.deleted_at = Some(at);
            entry.conversation.updated_at = at;
            entry.refresh_preview();
        }
        Ok((entry.messages[index].clone(), entry.record()))
    }

    async fn add_participants(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        users: Vec<UserId>,
        max_participants: usize,
    ) -> ChatResult<(ConversationRecord, Vec<UserId>)> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        let added = membership::users_to_add(entry.conversation.kind, &entry.participants, &users, max_participants)?;
        if !added.is_empty() {
            let at = now();
            let last_seq = entry.conversation.last_seq;
            entry.participants.extend(
                added
                    .iter()
                    .map(|user| new_participant(user.clone(), Role::Member, at, last_seq)),
            );
            entry.conversation.updated_at = at;
        }
        Ok((entry.record(), added))
    }

    async fn remove_participant(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        user: &UserId,
    ) -> ChatResult<ConversationRecord> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        membership::remove_participant(entry.conversation.kind, &mut entry.participants, actor, user)?;
        entry.conversation.updated_at = now();
        Ok(entry.record())
    }

    async fn inbox_page(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: InboxQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let state = self.lock();
        let mut records: Vec<ConversationRecord> = state
            .user_entries(tenant, user)
            .filter(|entry| {
                let me = entry.participants.iter().find(|p| &p.user == user);
                let conversation = &entry.conversation;
                me.is_some_and(|me| {
                    query.archive.matches(me.is_archived) && (!query.unread_only || me.unread_count > 0)
                }) && query
                    .tag
                    .as_ref()
                    .is_none_or(|filter| filter.matches(conversation.tag.as_ref()))
                    && query
                        .after
                        .is_none_or(|after| after.is_before(conversation.last_activity_at, conversation.id))
            })
            .map(Entry::record)
            .collect();
        inbox_order(&mut records);
        records.truncate(query.limit);
        Ok(records)
    }

    async fn history_page(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<Vec<Message>> {
        let mut state = self.lock();
        let entry = state.member_entry(tenant, actor, id)?;
        let cleared = entry.participant_mut(actor).map_or(0, |p| p.cleared_through_seq);
        let lower = query.after.unwrap_or(0).max(cleared);
        let visible: Vec<&Message> = entry
            .messages
            .iter()
            .filter(|message| message.seq > lower && query.before.is_none_or(|before| message.seq < before))
            .collect();
        let page = if query.after.is_some() {
            visible.into_iter().take(query.limit).cloned().collect()
        } else {
            let skip = visible.len().saturating_sub(query.limit);
            visible.into_iter().skip(skip).cloned().collect()
        };
        Ok(page)
    }

    async fn search(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: SearchQuery,
    ) -> ChatResult<Vec<ConversationRecord>> {
        let state = self.lock();
        let needle = query.title_contains.to_lowercase();
        let mut records: Vec<ConversationRecord> = state
            .user_entries(tenant, user)
            .filter(|entry| {
                let by_title = entry
                    .conversation
                    .title
                    .as_ref()
                    .is_some_and(|title| title.to_lowercase().contains(&needle));
                let by_participant = entry
                    .participants
                    .iter()
                    .any(|p| &p.user != user && query.participants.contains(&p.user));
                by_title || by_participant
            })
            .map(Entry::record)
            .collect();
        inbox_order(&mut records);
        records.truncate(query.limit);
        Ok(records)
    }

    async fn stats(&self, tenant: &TenantId, user: &UserId) -> ChatResult<Stats> {
        let state = self.lock();
        let mut stats = Stats::default();
        for entry in state.user_entries(tenant, user) {
            let unread = entry
                .participants
                .iter()
                .find(|p| &p.user == user)
                .map_or(0, |p| p.unread_count);
            stats.total_conversations += 1;
            stats.unread_messages += unread;
            if unread > 0 {
                stats.unread_conversations += 1;
            }
        }
        Ok(stats)
    }
}
