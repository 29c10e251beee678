//! The reading operations, each over one consistent view: the inbox from the user's own
//! index, history as an exact key range, search from the group and direct indexes, stats
//! from the user's counters.

use std::collections::HashSet;

use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity, MessageId, UserId};
use crate::model::{ConversationRecord, LastMessage, Message, Quote, Stats};
use crate::rules;
use crate::store::{ArchiveFilter, HistoryPage, HistoryQuery, InboxQuery, SearchQuery};
use crate::tag::TagFilter;

use super::engine::Direction;
use super::error::KernelError;
use super::keys::{self, Kind};
use super::records::{decode, uuid_value};
use super::tx::{Merged, Tx};

pub(crate) fn get_conversation(tx: &Tx<'_>, caller: &Identity, id: ConversationId) -> ChatResult<ConversationRecord> {
    tx.member_record(caller, id)
}

/// A range read of the caller's own index from the cursor, one record read per row. The
/// archive filter is part of the key (`All` merges two ranges); the tag and unread-only
/// filters skip entries by their value, without loading the conversation.
pub(crate) fn inbox_page(tx: &Tx<'_>, caller: &Identity, query: &InboxQuery) -> ChatResult<Vec<ConversationRecord>> {
    let mut page = Vec::new();
    if query.limit == 0 {
        return Ok(page);
    }
    let flags: &[bool] = match query.archive {
        ArchiveFilter::Active => &[false],
        ArchiveFilter::Archived => &[true],
        ArchiveFilter::All => &[false, true],
    };
    let parts: Vec<_> = flags
        .iter()
        .map(|&archived| {
            let prefix = keys::inbox_prefix(&caller.tenant, &caller.user, archived);
            let end = keys::prefix_end(&prefix);
            let start = match &query.after {
                Some(cursor) => {
                    // The first key after the cursor's own.
                    let mut start = prefix;
                    start.extend_from_slice(&keys::cursor_suffix(cursor));
                    start.push(0);
                    start
                }
                None => prefix,
            };
            tx.scan(&start, end.as_deref(), Direction::Forward).peekable()
        })
        .collect();
    for entry in (InboxMerge { parts }) {
        let (key, value) = entry?;
        let (unread, tag_key) =
            keys::split_inbox_value(&value).ok_or_else(|| KernelError::corrupt("inbox entry", "short value"))?;
        if query.unread_only && unread == 0 {
            continue;
        }
        if query
            .tag
            .as_ref()
            .is_some_and(|filter| !tag_key_may_match(filter, tag_key))
        {
            continue;
        }
        let id = keys::inbox_key_conversation(&key).ok_or_else(|| KernelError::corrupt("inbox entry", "short key"))?;
        let Some(record) = tx.record(id)? else {
            return Err(KernelError::corrupt("inbox entry", format!("{id} has no record")).into());
        };
        if rules::is_member(&record, caller) && rules::inbox_matches(&record, &caller.user, query) {
            page.push(record);
            if page.len() >= query.limit {
                break;
            }
        }
    }
    Ok(page)
}

/// Prefix filter on an inbox entry's tag match key (the record is checked again).
fn tag_key_may_match(filter: &TagFilter, tag_key: &[u8]) -> bool {
    let mut wanted = filter.taggable_type.clone().into_bytes();
    wanted.push(0);
    match &filter.taggable_id {
        None => tag_key.starts_with(&wanted),
        Some(id) => {
            wanted.extend_from_slice(id.canonical().as_bytes());
            tag_key == wanted.as_slice()
        }
    }
}

/// One or two parts (archived or not) of a user's inbox, merged in inbox order (ascending
/// sort suffix).
struct InboxMerge<'a> {
    parts: Vec<std::iter::Peekable<Merged<'a>>>,
}

impl Iterator for InboxMerge<'_> {
    type Item = ChatResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let suffix = |entry: &ChatResult<(Vec<u8>, Vec<u8>)>| -> Vec<u8> {
            match entry {
                // An error sorts first, so it is reported at once.
                Err(_) => Vec::new(),
                Ok((key, _)) => key[key.len().saturating_sub(keys::INBOX_SUFFIX_LEN)..].to_vec(),
            }
        };
        let mut best: Option<(usize, Vec<u8>)> = None;
        for (index, part) in self.parts.iter_mut().enumerate() {
            if let Some(head) = part.peek() {
                let head = suffix(head);
                if best.as_ref().is_none_or(|(_, best)| head < *best) {
                    best = Some((index, head));
                }
            }
        }
        let (index, _) = best?;
        self.parts[index].next()
    }
}

pub(crate) fn history_page(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    query: HistoryQuery,
) -> ChatResult<HistoryPage> {
    let record = tx.member_record(caller, id)?;
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
    let page = tx.messages_between(id, first, last)?;
    if page.iter().map(|message| message.seq).ne(seqs) {
        return Err(KernelError::corrupt("messages", format!("seqs {first}..={last} of {id} are not dense")).into());
    }
    let quoted = quotes_at(tx, &record, &rules::quoted_seqs(&page))?;
    Ok(HistoryPage {
        messages: page,
        quoted,
        record,
    })
}

/// The quotes of the messages of `record`'s conversation with these seqs (ascending, once
/// each), decoding only what a quote shows. Consecutive seqs are read as one key range.
fn quotes_at(tx: &Tx<'_>, record: &ConversationRecord, seqs: &[u64]) -> ChatResult<Vec<Quote>> {
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
        let scan = tx.scan(
            &keys::message(id, first),
            Some(&keys::message(id, last + 1)),
            Direction::Forward,
        );
        for entry in scan {
            quotes.push(decode::<QuotedFields>("message", &entry?.1)?.into_quote());
        }
    }
    Ok(quotes)
}

/// The messages with these seqs of a conversation the caller is in (ascending, once each),
/// skipping seqs it does not have.
pub(crate) fn messages_by_seq(
    tx: &Tx<'_>,
    caller: &Identity,
    id: ConversationId,
    seqs: &[u64],
) -> ChatResult<Vec<Message>> {
    let record = tx.member_record(caller, id)?;
    let mut seqs: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|seq| (1..=record.conversation.last_seq).contains(seq))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut found = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if let Some(bytes) = tx.get(&keys::message(id, seq))? {
            found.push(decode::<Message>("message", &bytes)?);
        }
    }
    Ok(found)
}

/// Search from indexes, never the caller's whole inbox: the caller's groups (titles, and
/// groups with a matched user) and, per matched user, the direct conversations of that
/// pair (one prefix per pair). The cost grows with the caller's groups and the matches,
/// not with the caller's direct conversations.
pub(crate) fn search(tx: &Tx<'_>, caller: &Identity, query: &SearchQuery) -> ChatResult<Vec<ConversationRecord>> {
    let mut ids: Vec<ConversationId> = Vec::new();
    let mut seen: HashSet<ConversationId> = HashSet::new();
    for entry in tx.scan_prefix(&keys::user_prefix(Kind::GroupMember, &caller.tenant, &caller.user)) {
        let (key, _) = entry?;
        let id = keys::trailing_uuid(&key).ok_or_else(|| KernelError::corrupt("group membership", "short key"))?;
        let id = ConversationId::from_uuid(id);
        if seen.insert(id) {
            ids.push(id);
        }
    }
    for other in query.participants.iter().filter(|other| **other != caller.user) {
        for entry in tx.scan_prefix(&keys::direct_pair_prefix(&caller.tenant, &caller.user, other)) {
            let id = ConversationId::from_uuid(uuid_value("direct index", &entry?.1)?);
            if seen.insert(id) {
                ids.push(id);
            }
        }
    }
    let mut records = Vec::new();
    for id in ids {
        let Some(record) = tx.record(id)? else { continue };
        if rules::is_member(&record, caller) && rules::search_matches(&record, &caller.user, query) {
            records.push(record);
        }
    }
    rules::first_in_inbox_order(&mut records, query.limit);
    Ok(records)
}

pub(crate) fn stats(tx: &Tx<'_>, caller: &Identity) -> ChatResult<Stats> {
    Ok(tx.counters(&caller.tenant, &caller.user)?.stats())
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
