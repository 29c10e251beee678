//! The reading operations: plain reads of single keys and index ranges, outside any
//! transaction (each record is one key, so always a committed whole), filtered and ordered
//! by the rules of [`chat_core::rules`].

use std::collections::HashSet;

use chat_core::rules;
use chat_core::store::{HistoryPage, HistoryQuery, InboxQuery, SearchQuery};
use chat_core::{
    ChatResult, ConversationId, ConversationRecord, Identity, LastMessage, Message, MessageId, Quote, Stats, UserId,
};

use crate::counters::Counters;
use crate::error::SledStoreError;
use crate::inbox_scan::{InboxScan, tag_key_may_match};
use crate::keys;
use crate::trees::Trees;
use crate::tx::decode;

impl Trees {
    pub(crate) fn inbox_page(&self, caller: &Identity, query: &InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
        let (tenant, user) = (&caller.tenant, &caller.user);
        let mut page: Vec<ConversationRecord> = Vec::new();
        let mut listed: HashSet<ConversationId> = HashSet::new();
        if query.limit == 0 {
            return Ok(page);
        }
        for entry in InboxScan::new(&self.inbox, tenant, user, query.archive, query.after.as_ref()) {
            let (key, value) = entry?;
            let Some((unread, tag_key)) = keys::split_inbox_value(&value) else {
                return Err(SledStoreError::corrupt("inbox entry", "short value").into());
            };
            if query.unread_only && unread == 0 {
                continue;
            }
            if let Some(filter) = &query.tag {
                if !tag_key_may_match(filter, tag_key) {
                    continue;
                }
            }
            let Some(id) = keys::inbox_key_conversation(&key) else {
                return Err(SledStoreError::corrupt("inbox entry", "short key").into());
            };
            if listed.contains(&id) {
                continue;
            }
            let Some(record) = self.record(id)? else { continue };
            if !entry_is_current(&record, caller, &key) || !rules::inbox_matches(&record, user, query) {
                // The conversation changed since the entry was read (it moved up with a
                // new message, or was archived): its current entry is elsewhere.
                continue;
            }
            listed.insert(id);
            page.push(record);
            if page.len() >= query.limit {
                break;
            }
        }
        Ok(page)
    }

    pub(crate) fn history_page(
        &self,
        caller: &Identity,
        id: ConversationId,
        query: HistoryQuery,
    ) -> ChatResult<HistoryPage> {
        let record = self.member_record(caller, id)?;
        let cleared = record.participant(&caller.user).map_or(0, |p| p.cleared_through_seq);
        // Seqs are dense, so the page is an exact key range: no scan beyond the page.
        let Some(seqs) = rules::history_range(&query, cleared, record.conversation.last_seq) else {
            return Ok(HistoryPage {
                messages: Vec::new(),
                quoted: Vec::new(),
                record,
            });
        };
        let (first, last) = (*seqs.start(), *seqs.end());
        let mut page = Vec::new();
        for entry in self.messages.range(keys::message(id, first)..=keys::message(id, last)) {
            let (_, bytes) = entry.map_err(SledStoreError::from)?;
            page.push(decode::<Message>("message", &bytes)?);
        }
        if page.iter().map(|message| message.seq).ne(seqs) {
            return Err(
                SledStoreError::corrupt("messages", format!("seqs {first}..={last} of {id} are not dense")).into(),
            );
        }
        let quoted = self.quotes_at(&record, &rules::quoted_seqs(&page))?;
        Ok(HistoryPage {
            messages: page,
            quoted,
            record,
        })
    }

    /// The quotes of the messages of `record`'s conversation with these seqs (ascending,
    /// once each), decoding only what a quote shows of each stored message. Consecutive
    /// seqs (a thread quoting what came just before the page) are read as one key range.
    fn quotes_at(&self, record: &ConversationRecord, seqs: &[u64]) -> ChatResult<Vec<Quote>> {
        let id = record.conversation.id;
        let mut quotes = Vec::with_capacity(seqs.len());
        let mut wanted = seqs
            .iter()
            .copied()
            .filter(|seq| (1..=record.conversation.last_seq).contains(seq))
            .peekable();
        while let Some(first) = wanted.next() {
            let mut last = first;
            while wanted.next_if(|&next| next == last + 1).is_some() {
                last += 1;
            }
            for entry in self.messages.range(keys::message(id, first)..=keys::message(id, last)) {
                let (_, bytes) = entry.map_err(SledStoreError::from)?;
                quotes.push(decode::<QuotedFields>("message", &bytes)?.into_quote());
            }
        }
        Ok(quotes)
    }

    /// The messages of `record`'s conversation with these seqs (ascending, once each),
    /// skipping seqs it does not have.
    fn messages_at(&self, record: &ConversationRecord, seqs: &[u64]) -> ChatResult<Vec<Message>> {
        let id = record.conversation.id;
        let mut seqs: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|seq| (1..=record.conversation.last_seq).contains(seq))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let mut found = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(bytes) = self
                .messages
                .get(keys::message(id, seq))
                .map_err(SledStoreError::from)?
            {
                found.push(decode::<Message>("message", &bytes)?);
            }
        }
        Ok(found)
    }

    pub(crate) fn messages_by_seq(
        &self,
        caller: &Identity,
        id: ConversationId,
        seqs: &[u64],
    ) -> ChatResult<Vec<Message>> {
        let record = self.member_record(caller, id)?;
        self.messages_at(&record, seqs)
    }

    /// Search from indexes, never the caller's whole inbox: the caller's groups (`groups`:
    /// titles, and groups with a matched user) and, per matched user, the direct
    /// conversations of that pair (`directs`, one prefix per pair). The cost grows with the
    /// caller's groups and the matches, not with the caller's direct conversations.
    pub(crate) fn search(&self, caller: &Identity, query: &SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
        let mut ids: Vec<ConversationId> = Vec::new();
        let mut seen: HashSet<ConversationId> = HashSet::new();
        for entry in self.groups.scan_prefix(keys::user_prefix(&caller.tenant, &caller.user)) {
            let (key, _) = entry.map_err(SledStoreError::from)?;
            let id = key
                .len()
                .checked_sub(16)
                .and_then(|start| uuid::Uuid::from_slice(&key[start..]).ok())
                .ok_or_else(|| SledStoreError::corrupt("groups entry", "short key"))?;
            let id = ConversationId::from_uuid(id);
            if seen.insert(id) {
                ids.push(id);
            }
        }
        for other in query.participants.iter().filter(|other| **other != caller.user) {
            for entry in self
                .directs
                .scan_prefix(keys::direct_pair_prefix(&caller.tenant, &caller.user, other))
            {
                let (_, value) = entry.map_err(SledStoreError::from)?;
                let id =
                    uuid::Uuid::from_slice(&value).map_err(|error| SledStoreError::corrupt("direct index", error))?;
                let id = ConversationId::from_uuid(id);
                if seen.insert(id) {
                    ids.push(id);
                }
            }
        }
        let mut records = Vec::new();
        for id in ids {
            let Some(record) = self.record(id)? else { continue };
            if rules::is_member(&record, caller) && rules::search_matches(&record, &caller.user, query) {
                records.push(record);
            }
        }
        rules::first_in_inbox_order(&mut records, query.limit);
        Ok(records)
    }

    pub(crate) fn stats(&self, caller: &Identity) -> ChatResult<Stats> {
        match self
            .user_stats
            .get(keys::user(&caller.tenant, &caller.user))
            .map_err(SledStoreError::from)?
        {
            Some(bytes) => Ok(Counters::decode(&bytes)?.stats()),
            None => Ok(Stats::default()),
        }
    }
}

/// The fields of a stored message that a quote shows (the rest of the JSON is skipped, not
/// built).
#[derive(serde::Deserialize)]
struct QuotedFields {
    id: MessageId,
    seq: u64,
    sender: Option<UserId>,
    body: String,
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl QuotedFields {
    fn into_quote(self) -> Quote {
        Quote {
            id: self.id,
            seq: self.seq,
            sender: self.sender,
            text: LastMessage::preview_text(&self.body),
            deleted: self.deleted_at.is_some(),
        }
    }
}

/// True when `key` is the inbox entry `record` gives the caller now.
fn entry_is_current(record: &ConversationRecord, caller: &Identity, key: &[u8]) -> bool {
    let conversation = &record.conversation;
    rules::is_member(record, caller)
        && record.participant(&caller.user).is_some_and(|me| {
            key == keys::inbox(
                &caller.tenant,
                &caller.user,
                me.is_archived,
                conversation.last_activity_at,
                conversation.id,
            )
        })
}
