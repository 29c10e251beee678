//! Byte encodings of the keys of every tree (see the crate docs for the layout).
//!
//! Host ids (tenant, user) never contain control characters, so a NUL byte separates them
//! unambiguously and `tenant \0 user \0` is a prefix owned by exactly one (tenant, user).
//! Numbers are big-endian so that byte order is numeric order; inbox keys store the
//! activity time and the conversation id bit-inverted so that ascending key order is the
//! inbox order (newest activity first, then id descending).

use chat_core::{ConversationId, InboxCursor, MessageId, Tag, TenantId, UserId};
use chrono::{DateTime, Utc};

/// The separator between variable-length host ids.
const SEP: u8 = 0;

/// Length of an inbox key's sort suffix: inverted activity (8) and inverted id (16).
pub(crate) const INBOX_SUFFIX_LEN: usize = 8 + 16;

/// A conversation id as 16 bytes: the key of `conversations`.
pub(crate) fn conversation(id: ConversationId) -> [u8; 16] {
    *id.as_uuid().as_bytes()
}

/// `conversation(16) | seq(8, big-endian)`: the key of `messages`.
pub(crate) fn message(conversation_id: ConversationId, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(conversation_id.as_uuid().as_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// `conversation(16) | message id(16)`: the key of `message_ids` (value: the seq).
pub(crate) fn message_id(conversation_id: ConversationId, id: MessageId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(conversation_id.as_uuid().as_bytes());
    key[16..].copy_from_slice(id.as_uuid().as_bytes());
    key
}

/// `conversation(16) | sender \0 client_message_id`: the key of `client_ids` (value: the seq).
pub(crate) fn client_id(conversation_id: ConversationId, sender: &UserId, client_message_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + sender.as_str().len() + 1 + client_message_id.len());
    key.extend_from_slice(conversation_id.as_uuid().as_bytes());
    key.extend_from_slice(sender.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(client_message_id.as_bytes());
    key
}

/// `tenant \0 low \0 high \0 (0 | 1 tag match key)`: the key of `directs` (value: the id).
pub(crate) fn direct(tenant: &TenantId, a: &UserId, b: &UserId, tag: Option<&Tag>) -> Vec<u8> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut key = Vec::new();
    for part in [tenant.as_str(), low.as_str(), high.as_str()] {
        key.extend_from_slice(part.as_bytes());
        key.push(SEP);
    }
    match tag {
        None => key.push(0),
        Some(tag) => {
            key.push(1);
            key.extend_from_slice(tag.match_key().as_bytes());
        }
    }
    key
}

/// `tenant \0 low \0 high \0`: the prefix of every `directs` key of one pair (any tag).
pub(crate) fn direct_pair_prefix(tenant: &TenantId, a: &UserId, b: &UserId) -> Vec<u8> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut key = Vec::new();
    for part in [tenant.as_str(), low.as_str(), high.as_str()] {
        key.extend_from_slice(part.as_bytes());
        key.push(SEP);
    }
    key
}

/// `tenant \0 user \0`: the prefix owned by one (tenant, user), under which the user's
/// `groups`, `blocks` (as blocker) and `reports` (as reporter) entries lie.
pub(crate) fn user_prefix(tenant: &TenantId, user_id: &UserId) -> Vec<u8> {
    let mut key = user(tenant, user_id);
    key.push(SEP);
    key
}

/// `tenant \0 user \0 id(16)`: a `groups` entry (the user is in that group).
pub(crate) fn group_member(tenant: &TenantId, member: &UserId, id: ConversationId) -> Vec<u8> {
    let mut key = user_prefix(tenant, member);
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// `tenant \0 user`: the key of `user_stats`.
pub(crate) fn user(tenant: &TenantId, user: &UserId) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.as_str().len() + 1 + user.as_str().len());
    key.extend_from_slice(tenant.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(user.as_str().as_bytes());
    key
}

/// `tenant \0 blocker \0 blocked`: the key of `blocks`.
pub(crate) fn block(tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> Vec<u8> {
    let mut key = user_prefix(tenant, blocker);
    key.extend_from_slice(blocked.as_str().as_bytes());
    key
}

/// `tenant \0 reporter \0 message id(16)`: the key of `reports`.
pub(crate) fn report(tenant: &TenantId, reporter: &UserId, message: MessageId) -> Vec<u8> {
    let mut key = user_prefix(tenant, reporter);
    key.extend_from_slice(message.as_uuid().as_bytes());
    key
}

/// `tenant \0 user \0 archived(1)`: the part of the user's inbox with that archive flag.
pub(crate) fn inbox_prefix(tenant: &TenantId, user: &UserId, archived: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.as_str().len() + user.as_str().len() + 3 + INBOX_SUFFIX_LEN);
    key.extend_from_slice(tenant.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(user.as_str().as_bytes());
    key.push(SEP);
    key.push(u8::from(archived));
    key
}

/// `due(8) | conversation(16) | user`: the key of `notifications_due`, ascending by due time.
pub(crate) fn notification_due(due_at: DateTime<Utc>, conversation: ConversationId, user: &UserId) -> Vec<u8> {
    let mut key = Vec::with_capacity(24 + user.as_str().len());
    key.extend_from_slice(&time_bits(due_at).to_be_bytes());
    key.extend_from_slice(conversation.as_uuid().as_bytes());
    key.extend_from_slice(user.as_str().as_bytes());
    key
}

/// The keys of `notifications_due` up to `now`: every one due then sorts below this bound.
pub(crate) fn notifications_due_before(now: DateTime<Utc>) -> [u8; 8] {
    time_bits(now).saturating_add(1).to_be_bytes()
}

/// The conversation and user of a `notifications_due` key.
pub(crate) fn split_notification_due(key: &[u8]) -> Option<(ConversationId, UserId)> {
    let id = uuid::Uuid::from_slice(key.get(8..24)?).ok()?;
    let user = std::str::from_utf8(key.get(24..)?).ok()?;
    Some((ConversationId::from_uuid(id), UserId::new(user).ok()?))
}

/// The order-preserving encoding of a timestamp (microseconds, sign bit flipped).
fn time_bits(at: DateTime<Utc>) -> u64 {
    (at.timestamp_micros() as u64) ^ (1 << 63)
}

/// The inverted sort suffix of an inbox key: ascending bytes = (activity, id) descending.
pub(crate) fn inbox_suffix(last_activity_at: DateTime<Utc>, id: ConversationId) -> [u8; INBOX_SUFFIX_LEN] {
    let mut suffix = [0u8; INBOX_SUFFIX_LEN];
    suffix[..8].copy_from_slice(&(!time_bits(last_activity_at)).to_be_bytes());
    for (out, byte) in suffix[8..].iter_mut().zip(id.as_uuid().as_bytes()) {
        *out = !byte;
    }
    suffix
}

/// The sort suffix of a cursor position.
pub(crate) fn cursor_suffix(cursor: &InboxCursor) -> [u8; INBOX_SUFFIX_LEN] {
    inbox_suffix(cursor.last_activity_at, cursor.id)
}

/// The full key of one inbox entry.
pub(crate) fn inbox(
    tenant: &TenantId,
    user: &UserId,
    archived: bool,
    last_activity_at: DateTime<Utc>,
    id: ConversationId,
) -> Vec<u8> {
    let mut key = inbox_prefix(tenant, user, archived);
    key.extend_from_slice(&inbox_suffix(last_activity_at, id));
    key
}

/// The conversation id at the end of an inbox key.
pub(crate) fn inbox_key_conversation(key: &[u8]) -> Option<ConversationId> {
    let start = key.len().checked_sub(16)?;
    let mut bytes = [0u8; 16];
    for (out, byte) in bytes.iter_mut().zip(&key[start..]) {
        *out = !byte;
    }
    Some(ConversationId::from_uuid(uuid::Uuid::from_bytes(bytes)))
}

/// The value of an inbox entry: the user's unread count (8 bytes) then the conversation's
/// tag match key (empty without a tag), so the unread and tag filters skip entries
/// without loading their conversation.
pub(crate) fn inbox_value(unread: u64, tag: Option<&Tag>) -> Vec<u8> {
    let mut value = unread.to_be_bytes().to_vec();
    if let Some(tag) = tag {
        value.extend_from_slice(tag.match_key().as_bytes());
    }
    value
}

/// The unread count and tag match key of an inbox value.
pub(crate) fn split_inbox_value(value: &[u8]) -> Option<(u64, &[u8])> {
    let (unread, tag) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*unread), tag))
}

/// A big-endian u64 value.
pub(crate) fn u64_value(value: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = value.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn uid(s: &str) -> UserId {
        UserId::new(s).expect("user")
    }

    #[test]
    fn inbox_suffix_orders_newest_first_then_id_descending() {
        let early = Utc.timestamp_micros(1_000).single().expect("time");
        let late = Utc.timestamp_micros(2_000).single().expect("time");
        let before_epoch = Utc.timestamp_micros(-5).single().expect("time");
        let a = ConversationId::new_v7();
        let b = ConversationId::new_v7();
        assert!(a < b);
        assert!(inbox_suffix(late, a) < inbox_suffix(early, b));
        assert!(inbox_suffix(early, b) < inbox_suffix(early, a));
        assert!(inbox_suffix(early, a) < inbox_suffix(before_epoch, a));
        let key = inbox(&TenantId::default(), &uid("u"), false, early, b);
        assert_eq!(inbox_key_conversation(&key), Some(b));
    }

    #[test]
    fn direct_keys_are_symmetric_and_tag_aware() {
        let t = TenantId::default();
        let tag = Tag::new("Order", 7).expect("tag");
        let text = Tag::new("Order", "7").expect("tag");
        assert_eq!(
            direct(&t, &uid("a"), &uid("b"), None),
            direct(&t, &uid("b"), &uid("a"), None)
        );
        assert_eq!(
            direct(&t, &uid("a"), &uid("b"), Some(&tag)),
            direct(&t, &uid("b"), &uid("a"), Some(&text))
        );
        assert_ne!(
            direct(&t, &uid("a"), &uid("b"), None),
            direct(&t, &uid("a"), &uid("b"), Some(&tag))
        );
        assert_ne!(
            direct(&t, &uid("a"), &uid("bc"), None),
            direct(&t, &uid("ab"), &uid("c"), None)
        );
    }

    #[test]
    fn inbox_values_round_trip() {
        let tag = Tag::new("Order", 7).expect("tag");
        let value = inbox_value(3, Some(&tag));
        assert_eq!(split_inbox_value(&value), Some((3, tag.match_key().as_bytes())));
        assert_eq!(split_inbox_value(&inbox_value(0, None)), Some((0, &[][..])));
        assert_eq!(split_inbox_value(&[1, 2]), None);
    }
}
