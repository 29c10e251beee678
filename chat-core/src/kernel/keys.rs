//! The keyspace: one byte names the record kind, then that kind's key (see the module docs
//! of [`crate::kernel`] for the layout).
//!
//! Host ids (tenant, user) never contain control characters, so a NUL byte separates them
//! unambiguously and `tenant \0 user \0` is a prefix owned by exactly one (tenant, user).
//! Numbers are big-endian so that byte order is numeric order; inbox keys store the
//! activity time and the conversation id bit-inverted so that ascending key order is the
//! inbox order (newest activity first, then id descending).

use chrono::{DateTime, Utc};

use crate::ids::{AttachmentId, ConversationId, MessageId, TenantId, UserId};
use crate::store::InboxCursor;
use crate::tag::Tag;

/// The separator between variable-length host ids.
const SEP: u8 = 0;

/// The first byte of every key: which kind of record it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// `format` -> the layout version.
    Meta = 0,
    /// id(16) -> the JSON conversation record (conversation and participants).
    Conversation = 1,
    /// `tenant \0 user \0 archived` + !activity(8) + !id(16) -> unread(8) + tag match key.
    Inbox = 2,
    /// conversation(16) + seq(8) -> the JSON message.
    Message = 3,
    /// conversation(16) + message id(16) -> seq(8).
    MessageId = 4,
    /// conversation(16) + `sender \0 client_message_id` -> seq(8).
    ClientId = 5,
    /// `tenant \0 low \0 high \0` + (0 | 1 + tag match key) -> conversation id(16).
    Direct = 6,
    /// `tenant \0 user` -> total, unread conversations, unread messages (3 x 8).
    UserStats = 7,
    /// `tenant \0 user \0` + id(16) -> nothing: the groups a user is in.
    GroupMember = 8,
    /// attachment id(16) -> the JSON attachment.
    Attachment = 9,
    /// attachment id(16) -> nothing: every attachment not sent, oldest first.
    AttachmentSweep = 10,
    /// due(8) + conversation(16) + user -> nothing: pending notifications by due time.
    NotificationDue = 11,
    /// `tenant \0 blocker \0 blocked` -> the JSON block.
    Block = 12,
    /// `tenant \0 reporter \0` + message id(16) -> the JSON report.
    Report = 13,
}

/// The key of the layout version.
pub(crate) const FORMAT: &[u8] = &[Kind::Meta as u8, b'f'];

/// The layout version [`FORMAT`] holds.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Length of an inbox key's sort suffix: inverted activity (8) and inverted id (16).
pub(crate) const INBOX_SUFFIX_LEN: usize = 8 + 16;

fn key(kind: Kind, capacity: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + capacity);
    key.push(kind as u8);
    key
}

/// The first key after every key that starts with `prefix` (`None`: no such key, the
/// prefix is all `0xff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The kind byte alone: the prefix of every key of that kind.
pub(crate) fn kind_prefix(kind: Kind) -> Vec<u8> {
    vec![kind as u8]
}

/// A conversation record's key.
pub(crate) fn conversation(id: ConversationId) -> Vec<u8> {
    let mut key = key(Kind::Conversation, 16);
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// `conversation | seq`: a message's key.
pub(crate) fn message(conversation_id: ConversationId, seq: u64) -> Vec<u8> {
    let mut key = key(Kind::Message, 24);
    key.extend_from_slice(conversation_id.as_uuid().as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `conversation | message id`: the key of a message's seq by its id.
pub(crate) fn message_id(conversation_id: ConversationId, id: MessageId) -> Vec<u8> {
    let mut key = key(Kind::MessageId, 32);
    key.extend_from_slice(conversation_id.as_uuid().as_bytes());
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// `conversation | sender \0 client_message_id`: the retry key of a send (value: the seq).
pub(crate) fn client_id(conversation_id: ConversationId, sender: &UserId, client_message_id: &str) -> Vec<u8> {
    let mut key = key(Kind::ClientId, 16 + sender.as_str().len() + 1 + client_message_id.len());
    key.extend_from_slice(conversation_id.as_uuid().as_bytes());
    key.extend_from_slice(sender.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(client_message_id.as_bytes());
    key
}

/// `tenant \0 low \0 high \0`: the prefix of every direct key of one pair (any tag).
pub(crate) fn direct_pair_prefix(tenant: &TenantId, a: &UserId, b: &UserId) -> Vec<u8> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut key = key(
        Kind::Direct,
        tenant.as_str().len() + low.as_str().len() + high.as_str().len() + 3,
    );
    for part in [tenant.as_str(), low.as_str(), high.as_str()] {
        key.extend_from_slice(part.as_bytes());
        key.push(SEP);
    }
    key
}

/// `tenant \0 low \0 high \0 (0 | 1 tag match key)`: the key of a direct conversation.
pub(crate) fn direct(tenant: &TenantId, a: &UserId, b: &UserId, tag: Option<&Tag>) -> Vec<u8> {
    let mut key = direct_pair_prefix(tenant, a, b);
    match tag {
        None => key.push(0),
        Some(tag) => {
            key.push(1);
            key.extend_from_slice(tag.match_key().as_bytes());
        }
    }
    key
}

fn user_part(key: &mut Vec<u8>, tenant: &TenantId, user: &UserId) {
    key.extend_from_slice(tenant.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(user.as_str().as_bytes());
}

/// `tenant \0 user`: the key of a user's counters.
pub(crate) fn user_stats(tenant: &TenantId, user: &UserId) -> Vec<u8> {
    let mut key = key(Kind::UserStats, tenant.as_str().len() + 1 + user.as_str().len());
    user_part(&mut key, tenant, user);
    key
}

/// `kind | tenant \0 user \0`: the prefix owned by one (tenant, user) among the keys of
/// `kind` (group memberships, blocks as blocker, reports as reporter).
pub(crate) fn user_prefix(kind: Kind, tenant: &TenantId, user: &UserId) -> Vec<u8> {
    let mut key = key(kind, tenant.as_str().len() + user.as_str().len() + 2 + 16);
    user_part(&mut key, tenant, user);
    key.push(SEP);
    key
}

/// `tenant \0 user \0 id`: the user is in that group.
pub(crate) fn group_member(tenant: &TenantId, member: &UserId, id: ConversationId) -> Vec<u8> {
    let mut key = user_prefix(Kind::GroupMember, tenant, member);
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// `tenant \0 blocker \0 blocked`: a block's key.
pub(crate) fn block(tenant: &TenantId, blocker: &UserId, blocked: &UserId) -> Vec<u8> {
    let mut key = user_prefix(Kind::Block, tenant, blocker);
    key.extend_from_slice(blocked.as_str().as_bytes());
    key
}

/// `tenant \0 reporter \0 message id`: a report's key.
pub(crate) fn report(tenant: &TenantId, reporter: &UserId, message: MessageId) -> Vec<u8> {
    let mut key = user_prefix(Kind::Report, tenant, reporter);
    key.extend_from_slice(message.as_uuid().as_bytes());
    key
}

/// An attachment record's key (`Kind::Attachment`) or its sweep entry's
/// (`Kind::AttachmentSweep`).
pub(crate) fn attachment(kind: Kind, id: AttachmentId) -> Vec<u8> {
    let mut key = key(kind, 16);
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// The 16 bytes after the kind byte, as a uuid (attachment and sweep keys).
pub(crate) fn uuid_after_kind(key: &[u8]) -> Option<uuid::Uuid> {
    uuid::Uuid::from_slice(key.get(1..17)?).ok()
}

/// The uuid in the last 16 bytes of a key (group memberships).
pub(crate) fn trailing_uuid(key: &[u8]) -> Option<uuid::Uuid> {
    uuid::Uuid::from_slice(key.get(key.len().checked_sub(16)?..)?).ok()
}

/// `tenant \0 user \0 archived`: the part of the user's inbox with that archive flag.
pub(crate) fn inbox_prefix(tenant: &TenantId, user: &UserId, archived: bool) -> Vec<u8> {
    let mut key = key(
        Kind::Inbox,
        tenant.as_str().len() + user.as_str().len() + 3 + INBOX_SUFFIX_LEN,
    );
    user_part(&mut key, tenant, user);
    key.push(SEP);
    key.push(u8::from(archived));
    key
}

/// `due | conversation | user`: a pending notification's entry, ascending by due time.
pub(crate) fn notification_due(due_at: DateTime<Utc>, conversation: ConversationId, user: &UserId) -> Vec<u8> {
    let mut key = key(Kind::NotificationDue, 24 + user.as_str().len());
    key.extend_from_slice(&time_bits(due_at).to_be_bytes());
    key.extend_from_slice(conversation.as_uuid().as_bytes());
    key.extend_from_slice(user.as_str().as_bytes());
    key
}

/// The bound above every notification entry due at `now` or earlier.
pub(crate) fn notifications_due_before(now: DateTime<Utc>) -> Vec<u8> {
    let mut key = key(Kind::NotificationDue, 8);
    key.extend_from_slice(&time_bits(now).saturating_add(1).to_be_bytes());
    key
}

/// The conversation and user of a notification entry's key.
pub(crate) fn split_notification_due(key: &[u8]) -> Option<(ConversationId, UserId)> {
    let id = uuid::Uuid::from_slice(key.get(9..25)?).ok()?;
    let user = std::str::from_utf8(key.get(25..)?).ok()?;
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
    fn notification_keys_round_trip_and_sort_by_due_time() {
        let early = Utc.timestamp_micros(1_000).single().expect("time");
        let late = Utc.timestamp_micros(2_000).single().expect("time");
        let id = ConversationId::new_v7();
        let key = notification_due(early, id, &uid("ana"));
        assert_eq!(split_notification_due(&key), Some((id, uid("ana"))));
        assert!(key < notifications_due_before(early));
        assert!(notification_due(late, id, &uid("ana")) > notifications_due_before(early));
    }

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
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
