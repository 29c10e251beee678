//! Every state transition of a conversation, as pure functions over records: one home for
//! each rule.
//!
//! Stores load a [`ConversationRecord`] (and the one message an operation needs) inside their
//! transaction, apply the rule here, and persist what changed. No function here does I/O or
//! reads the clock: the caller passes the time, taken inside its transaction. The storage
//! kernel (`chat_core::kernel`, the one implementation of the embedded stores: memory, sled,
//! redb) and PgStore call these functions; PgStore's SQL `append_message` function mirrors
//! [`append`] and says so, and the model-based test keeps them equal.

use std::cmp::Ordering;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};

use crate::error::{ChatError, ChatResult};
use crate::ids::{ConversationId, Identity, MessageId, UserId};
use crate::model::{
    Conversation, ConversationKind, ConversationRecord, LastMessage, Message, MessageKind, Participant, Role,
};
use crate::store::{HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, ReadUpTo, SearchQuery};

mod attachments;
mod blocks;
mod delivery;
mod erase;
mod notifications;
mod reactions;
mod replies;
mod reports;

pub use attachments::{
    attach, attachments_refused, begin_upload, discard_attachment, erasing_discards, finish_upload, is_readable,
    is_swept, may_abandon, may_forget,
};
pub use blocks::{
    block_that_stops, blocked_group, blocked_send, blocked_start, group_refused_by_block, joining_others,
    send_refused_by_block, set_block, start_refused_by_block,
};
use delivery::deliver_up_to;
pub use delivery::{Receipts, mark_delivered, mark_delivered_many, receipts};
pub use erase::{Erasure, erase_message};
use notifications::{cancel_when_all_read, pend};
pub use notifications::{claim_notification, settle_notification};
pub use reactions::set_reaction;
pub use replies::{quoted_seqs, reply_refused, reply_target};
pub use reports::report;

const DIRECT_KEEPS_ITS_PAIR: ChatError = ChatError::Conflict {
    reason: "a direct conversation keeps its two participants",
};

/// True when `caller` may see `record`: same tenant and a participant. Anything else is
/// answered exactly like an unknown id (invariant 7).
pub fn is_member(record: &ConversationRecord, caller: &Identity) -> bool {
    record.conversation.tenant == caller.tenant && record.participant(&caller.user).is_some()
}

/// `record` if `caller` may see it, else `NotFound` (conversation).
pub fn require_member(record: Option<ConversationRecord>, caller: &Identity) -> ChatResult<ConversationRecord> {
    match record {
        Some(record) if is_member(&record, caller) => Ok(record),
        _ => Err(ChatError::conversation_not_found()),
    }
}

/// A new participant row: nothing unread (everything up to `last_read_seq` counts as read
/// and delivered), not archived, nothing cleared.
pub fn new_participant(user: UserId, role: Role, at: DateTime<Utc>, last_read_seq: u64) -> Participant {
    Participant {
        user,
        role,
        joined_at: at,
        last_read_seq,
        last_read_at: None,
        unread_count: 0,
        last_delivered_seq: last_read_seq,
        last_delivered_at: None,
        is_archived: false,
        muted: false,
        cleared_through_seq: 0,
        pending_notification: None,
    }
}

fn new_record(
    caller: &Identity,
    kind: ConversationKind,
    title: Option<String>,
    new_tag: Option<crate::Tag>,
    metadata: crate::Metadata,
    participants: Vec<Participant>,
    at: DateTime<Utc>,
) -> ConversationRecord {
    let mut record = ConversationRecord {
        conversation: Conversation {
            id: ConversationId::new_v7(),
            tenant: caller.tenant.clone(),
            kind,
            title,
            tag: new_tag,
            created_by: caller.user.clone(),
            created_at: at,
            updated_at: at,
            last_message: None,
            last_seq: 0,
            last_activity_at: at,
            metadata,
        },
        participants,
    };
    record.sort_participants();
    record
}

/// The record of a new direct conversation between `caller` and `new.counterpart`, created
/// at `at`: both members, nothing sent.
pub fn new_direct(caller: &Identity, new: &NewDirect, at: DateTime<Utc>) -> ConversationRecord {
    let participants = vec![
        new_participant(caller.user.clone(), Role::Member, at, 0),
        new_participant(new.counterpart.clone(), Role::Member, at, 0),
    ];
    new_record(
        caller,
        ConversationKind::Direct,
        None,
        new.tag.clone(),
        new.metadata.clone(),
        participants,
        at,
    )
}

/// The record of a new group created by `caller` (its owner) with `new.members`.
pub fn new_group(caller: &Identity, new: &NewGroup, at: DateTime<Utc>) -> ConversationRecord {
    let mut participants = vec![new_participant(caller.user.clone(), Role::Owner, at, 0)];
    participants.extend(
        new.members
            .iter()
            .map(|user| new_participant(user.clone(), Role::Member, at, 0)),
    );
    new_record(
        caller,
        ConversationKind::Group,
        Some(new.title.clone()),
        new.tag.clone(),
        new.metadata.clone(),
        participants,
        at,
    )
}

/// The uniqueness key of a direct conversation: the unordered pair, smaller id first.
pub fn direct_pair<'a>(a: &'a UserId, b: &'a UserId) -> (&'a UserId, &'a UserId) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Appends a message to `record` at `now` and returns it (invariants 2, 4, 5, 8, 11): from
/// `author`, or a system message when `author` is `None`.
///
/// - its seq is `last_seq + 1`, its time `now` clamped to `last_activity_at` (never back);
/// - it quotes `replied` when `new.reply_to` names it ([`reply_target`], checked first);
/// - the preview, `last_seq`, `last_activity_at` and `updated_at` describe it;
/// - the author has read (and so received) up to it, every other participant has one more
///   unread; a system message is unread for everyone;
/// - the conversation is un-archived for everyone;
/// - with `new.notify_after`, every participant but the author gets a pending notification
///   from this message, due that long after it, unless one is pending already (invariant
///   14); the author's own goes, since it has now read everything.
///
/// PgStore's SQL function `append_message` (migration `message_features`) applies exactly
/// this rule in the database.
///
/// Errors: `Validation` on `reply_to` (see [`reply_target`]); nothing changes then.
pub fn append(
    record: &mut ConversationRecord,
    author: Option<&UserId>,
    new: &NewMessage,
    replied: Option<&Message>,
    now: DateTime<Utc>,
) -> ChatResult<Message> {
    let reply_to = reply_target(record, author, new, replied)?;
    let conversation = &mut record.conversation;
    let message = Message {
        id: MessageId::new_v7(),
        conversation_id: conversation.id,
        seq: conversation.last_seq + 1,
        kind: if author.is_some() {
            MessageKind::User
        } else {
            MessageKind::System
        },
        sender: author.cloned(),
        body: new.body.clone(),
        client_message_id: new.client_message_id.clone(),
        reply_to,
        reactions: Vec::new(),
        attachments: Vec::new(),
        metadata: new.metadata.clone(),
        created_at: now.max(conversation.last_activity_at),
        edited_at: None,
        deleted_at: None,
    };
    conversation.last_seq = message.seq;
    conversation.last_message = Some(LastMessage::of(&message));
    conversation.last_activity_at = message.created_at;
    conversation.updated_at = message.created_at;
    for participant in &mut record.participants {
        if Some(&participant.user) == author {
            participant.last_read_seq = message.seq;
            participant.last_read_at = Some(message.created_at);
            participant.last_delivered_seq = message.seq;
            participant.last_delivered_at = Some(message.created_at);
            participant.unread_count = 0;
            participant.pending_notification = None;
        } else {
            participant.unread_count += 1;
            if let Some(delay) = new.notify_after.filter(|_| !participant.muted) {
                let due_at = message
                    .created_at
                    .checked_add_signed(crate::outbox::bounded_delay(delay))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                pend(participant, message.seq, due_at);
            }
        }
        participant.is_archived = false;
    }
    Ok(message)
}

/// `user`'s own row in `record`, or `NotFound` (conversation).
fn own_row<'a>(record: &'a mut ConversationRecord, user: &UserId) -> ChatResult<&'a mut Participant> {
    record
        .participants
        .iter_mut()
        .find(|participant| &participant.user == user)
        .ok_or_else(ChatError::conversation_not_found)
}

/// Where [`mark_read`] would move `user`'s read watermark for `up_to` (clamped to the newest
/// message), or `None` when it would not move. A store that gets `Some(target)` below
/// `last_seq` counts the deleted messages in `target + 1..=last_seq` for [`mark_read`].
///
/// Errors: `NotFound` (conversation) when `user` is not a participant.
pub fn read_target(record: &ConversationRecord, user: &UserId, up_to: ReadUpTo) -> ChatResult<Option<u64>> {
    let last_seq = record.conversation.last_seq;
    let target = match up_to {
        ReadUpTo::Newest => last_seq,
        ReadUpTo::Seq(seq) => seq.min(last_seq),
    };
    let participant = record.participant(user).ok_or_else(ChatError::conversation_not_found)?;
    Ok((target > participant.last_read_seq).then_some(target))
}

/// Moves `user`'s read watermark up to `up_to` (clamped to the newest message) at `now`;
/// `true` when it moved. Watermarks never move back (invariant 4).
///
/// `deleted_above` is the number of deleted messages above the new watermark (seq in
/// `target + 1..=last_seq`, with the target of [`read_target`]; 0 when the target is the
/// newest message). The unread count after it is the messages above the watermark that are
/// not deleted (invariant 12): `last_seq - target - deleted_above`, with no scan of the
/// visible ones, since every message above a participant's watermark is from someone else
/// (sending moves the sender's own watermark to its message, new members start at the
/// newest seq, and watermarks never move back).
pub fn mark_read(
    record: &mut ConversationRecord,
    user: &UserId,
    up_to: ReadUpTo,
    deleted_above: u64,
    now: DateTime<Utc>,
) -> ChatResult<bool> {
    let last_seq = record.conversation.last_seq;
    let Some(target) = read_target(record, user, up_to)? else {
        return Ok(false);
    };
    let participant = own_row(record, user)?;
    participant.last_read_seq = target;
    participant.last_read_at = Some(now);
    participant.unread_count = (last_seq - target).saturating_sub(deleted_above);
    deliver_up_to(participant, target, now);
    cancel_when_all_read(participant);
    Ok(true)
}

/// Mutes (or unmutes) the conversation for `user`; `true` when it changed. Muting drops a
/// pending notification (none is made while muted); unread counts go on as before.
pub fn set_muted(record: &mut ConversationRecord, user: &UserId, muted: bool) -> ChatResult<bool> {
    let participant = own_row(record, user)?;
    let changed = participant.muted != muted;
    participant.muted = muted;
    if muted {
        participant.pending_notification = None;
    }
    Ok(changed)
}

/// Sets `user`'s archive flag; `true` when it changed.
pub fn set_archived(record: &mut ConversationRecord, user: &UserId, archived: bool) -> ChatResult<bool> {
    let participant = own_row(record, user)?;
    let changed = participant.is_archived != archived;
    participant.is_archived = archived;
    Ok(changed)
}

/// Hides every current message from `user`'s history and marks them read (invariant 8).
pub fn clear_history(record: &mut ConversationRecord, user: &UserId, now: DateTime<Utc>) -> ChatResult<()> {
    let last_seq = record.conversation.last_seq;
    let participant = own_row(record, user)?;
    participant.cleared_through_seq = last_seq;
    if last_seq > participant.last_read_seq {
        participant.last_read_seq = last_seq;
        participant.last_read_at = Some(now);
    }
    deliver_up_to(participant, last_seq, now);
    participant.unread_count = 0;
    cancel_when_all_read(participant);
    Ok(())
}

/// Replaces the body of `actor`'s own message at `now`. The preview follows when the edited
/// message is the newest visible one; activity order does not move.
///
/// Errors: `PermissionDenied` for another user's message, `Conflict` for a deleted one.
pub fn edit(
    record: &mut ConversationRecord,
    message: &mut Message,
    actor: &UserId,
    body: String,
    now: DateTime<Utc>,
) -> ChatResult<()> {
    if message.sender.as_ref() != Some(actor) {
        return Err(ChatError::PermissionDenied {
            reason: "only the sender may edit a message",
        });
    }
    if message.deleted_at.is_some() {
        return Err(ChatError::Conflict {
            reason: "a deleted message cannot be edited",
        });
    }
    message.body = body;
    message.edited_at = Some(now);
    record.conversation.updated_at = now;
    if record.conversation.last_message.as_ref().map(|last| last.id) == Some(message.id) {
        record.conversation.last_message = Some(LastMessage::of(message));
    }
    Ok(())
}

/// What [`delete`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// It was deleted already: nothing changed, nothing to tell anyone.
    AlreadyDeleted,
    /// Deleted; the preview is unchanged.
    Deleted,
    /// Deleted, and it was the preview: the store finds the newest visible message below
    /// `seq` and passes it to [`set_preview`].
    DeletedPreview {
        /// The deleted message's seq.
        seq: u64,
    },
}

impl Deletion {
    /// True unless the message was already deleted.
    pub fn changed(self) -> bool {
        self != Self::AlreadyDeleted
    }
}

/// Soft-deletes `actor`'s own message at `now`: the row and seq stay, the body, the
/// reactions and the attachments go (the store discards the attachments' records, whose ids
/// it read from the message before the call, by [`discard_attachment`] in the same
/// transaction: unreadable at once, their bytes removed by the sweep), and it
/// no longer counts as unread for any participant who had not read it (invariant 12): their
/// `unread_count` drops by one, so stores save every participant row that changed.
/// Deleting twice changes nothing.
///
/// Errors: `PermissionDenied` for another user's message.
pub fn delete(
    record: &mut ConversationRecord,
    message: &mut Message,
    actor: &UserId,
    now: DateTime<Utc>,
) -> ChatResult<Deletion> {
    if message.sender.as_ref() != Some(actor) {
        return Err(ChatError::PermissionDenied {
            reason: "only the sender may delete a message",
        });
    }
    if message.deleted_at.is_some() {
        return Ok(Deletion::AlreadyDeleted);
    }
    message.body.clear();
    message.reactions.clear();
    message.attachments.clear();
    message.deleted_at = Some(now);
    record.conversation.updated_at = now;
    // Invariant 12: it leaves the badge of everyone who had not read it.
    for participant in &mut record.participants {
        if &participant.user != actor && participant.last_read_seq < message.seq {
            participant.unread_count = participant.unread_count.saturating_sub(1);
            cancel_when_all_read(participant);
        }
    }
    if record.conversation.last_message.as_ref().map(|last| last.id) == Some(message.id) {
        record.conversation.last_message = None;
        return Ok(Deletion::DeletedPreview { seq: message.seq });
    }
    Ok(Deletion::Deleted)
}

/// The preview after its message was deleted: `newest_visible`, the newest message below
/// it that is not deleted (invariant 5).
pub fn set_preview(record: &mut ConversationRecord, newest_visible: Option<&Message>) {
    record.conversation.last_message = newest_visible.map(LastMessage::of);
}

/// Adds `users` to a group at `now` (members already present are skipped); returns the users
/// actually added. New members start with everything read.
///
/// Errors: `Conflict` for a direct conversation; `Validation` on `participant_uuids` when the
/// group would grow past `max_participants`.
pub fn add_participants(
    record: &mut ConversationRecord,
    users: &[UserId],
    max_participants: usize,
    now: DateTime<Utc>,
) -> ChatResult<Vec<UserId>> {
    if record.conversation.kind == ConversationKind::Direct {
        return Err(DIRECT_KEEPS_ITS_PAIR);
    }
    let mut added: Vec<UserId> = Vec::new();
    for user in users {
        if record.participant(user).is_none() && !added.contains(user) {
            added.push(user.clone());
        }
    }
    if record.participants.len() + added.len() > max_participants {
        return Err(ChatError::invalid(
            "participant_uuids",
            format!("a group has at most {max_participants} participants"),
        ));
    }
    if !added.is_empty() {
        let last_seq = record.conversation.last_seq;
        record.participants.extend(
            added
                .iter()
                .map(|user| new_participant(user.clone(), Role::Member, now, last_seq)),
        );
        record.conversation.updated_at = now;
        record.sort_participants();
    }
    Ok(added)
}

/// What [`remove_participant`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The removed row.
    pub removed: Participant,
    /// When the owner left: the member who owns the group now.
    pub new_owner: Option<UserId>,
}

/// Removes `user` from a group on behalf of `actor` (a member) at `now`: anyone may remove
/// themselves, only the owner may remove others. When the owner leaves, the longest-standing
/// member (earliest `joined_at`, then user id) owns the group.
///
/// Errors: `Conflict` for a direct conversation; `NotFound` (participant) when `user` is not
/// a member; `PermissionDenied` when a non-owner removes someone else.
pub fn remove_participant(
    record: &mut ConversationRecord,
    actor: &UserId,
    user: &UserId,
    now: DateTime<Utc>,
) -> ChatResult<Removal> {
    if record.conversation.kind == ConversationKind::Direct {
        return Err(DIRECT_KEEPS_ITS_PAIR);
    }
    let participants = &mut record.participants;
    let actor_is_owner = participants.iter().any(|p| &p.user == actor && p.role == Role::Owner);
    let Some(index) = participants.iter().position(|p| &p.user == user) else {
        return Err(ChatError::NotFound { what: "participant" });
    };
    if actor != user && !actor_is_owner {
        return Err(ChatError::PermissionDenied {
            reason: "only the owner may remove other participants",
        });
    }
    let removed = participants.remove(index);
    let mut new_owner = None;
    if removed.role == Role::Owner {
        let heir = participants
            .iter_mut()
            .min_by(|a, b| a.joined_at.cmp(&b.joined_at).then_with(|| a.user.cmp(&b.user)));
        if let Some(heir) = heir {
            heir.role = Role::Owner;
            new_owner = Some(heir.user.clone());
        }
    }
    record.conversation.updated_at = now;
    Ok(Removal { removed, new_owner })
}

/// Inbox order (invariant 6): `last_activity_at` descending, then id descending.
pub fn inbox_order(a: &ConversationRecord, b: &ConversationRecord) -> Ordering {
    (b.conversation.last_activity_at, b.conversation.id).cmp(&(a.conversation.last_activity_at, a.conversation.id))
}

/// Sorts `records` into inbox order and keeps the first `limit`.
pub fn first_in_inbox_order(records: &mut Vec<ConversationRecord>, limit: usize) {
    records.sort_by(inbox_order);
    records.truncate(limit);
}

/// True when `record` belongs on `user`'s inbox page for `query` (archive flag, tag, unread
/// only, strictly after the cursor). Not a membership check: see [`is_member`].
pub fn inbox_matches(record: &ConversationRecord, user: &UserId, query: &InboxQuery) -> bool {
    let conversation = &record.conversation;
    record
        .participant(user)
        .is_some_and(|me| query.archive.matches(me.is_archived) && (!query.unread_only || me.unread_count > 0))
        && query
            .tag
            .as_ref()
            .is_none_or(|filter| filter.matches(conversation.tag.as_ref()))
        && query
            .after
            .is_none_or(|after| after.is_before(conversation.last_activity_at, conversation.id))
}

/// Text folded for search, so that `ines` finds `Inés` and `JOSE` finds `José`: lowercase,
/// then compatibility decomposition (NFKD), then without combining marks. Search folds both
/// the query and what it matches (titles, and names in [`crate::InMemoryDirectory`]).
pub fn search_fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.to_lowercase().nfkd().filter(|c| !is_combining_mark(*c)).collect()
}

/// The form of a title that search matches against: [`search_fold`] (PgStore keeps it in
/// `title_lower`).
pub fn title_search_key(title: &str) -> String {
    search_fold(title)
}

/// True when `record` is a search hit for `user`: its title contains the query text (by
/// [`title_search_key`]), or another participant is one of the matched users.
pub fn search_matches(record: &ConversationRecord, user: &UserId, query: &SearchQuery) -> bool {
    let needle = title_search_key(&query.title_contains);
    let by_title = record
        .conversation
        .title
        .as_deref()
        .is_some_and(|title| title_search_key(title).contains(&needle));
    by_title
        || record
            .participants
            .iter()
            .any(|p| &p.user != user && query.participants.contains(&p.user))
}

/// The seqs of a history page (dense, so a page is an exact range), or `None` for an empty
/// page: above what the reader cleared and `after`, below `before`, at most `limit`; the
/// oldest ones when following forward (`after` given), else the newest.
pub fn history_range(query: &HistoryQuery, cleared_through_seq: u64, last_seq: u64) -> Option<RangeInclusive<u64>> {
    let lower = query.after.unwrap_or(0).max(cleared_through_seq);
    let upper = match query.before {
        Some(before) => before.checked_sub(1)?.min(last_seq),
        None => last_seq,
    };
    if query.limit == 0 || lower >= upper {
        return None;
    }
    let span = u64::try_from(query.limit).unwrap_or(u64::MAX);
    Some(if query.after.is_some() {
        lower + 1..=upper.min(lower.saturating_add(span))
    } else {
        (lower + 1).max(upper.saturating_sub(span - 1))..=upper
    })
}

/// The cursor of the next history page after `page` (ascending seqs) for `query`, if there
/// may be more: the last seq when following forward (pass as `after`), else the first (pass
/// as `before`).
pub fn history_next_cursor(query: &HistoryQuery, page: &[u64]) -> Option<u64> {
    if page.len() < query.limit {
        return None;
    }
    if query.after.is_some() {
        page.last().copied()
    } else {
        page.first().copied().filter(|&first| first > 1)
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
