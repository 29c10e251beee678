//! What the parent learned from the children (`Acknowledged`) and the check of every
//! invariant on the reopened store (`verify`).

use super::*;
use crate::store::{AttachmentStore, ConversationStore, OutboxStore};

/// What the parent learned from the children's acknowledgements.
#[derive(Default)]
pub(super) struct Acknowledged {
    /// Message id -> (conversation, seq, sender, client_message_id).
    pub(super) messages: HashMap<MessageId, (ConversationId, u64, usize, String)>,
    /// Highest acknowledged read watermark per (conversation, user).
    pub(super) reads: HashMap<(ConversationId, usize), u64>,
    /// Acknowledged mark-read calls.
    pub(super) read_calls: usize,
    /// Acknowledged deletions.
    pub(super) deleted: HashSet<MessageId>,
    /// Acknowledged reactions: (message, user, emoji).
    pub(super) reactions: HashSet<(MessageId, usize, String)>,
    /// Highest acknowledged delivery watermark per (conversation, user).
    pub(super) deliveries: HashMap<(ConversationId, usize), u64>,
    /// Acknowledged mark-delivered calls.
    pub(super) delivery_calls: usize,
    /// Direct key -> the conversation id every child was given.
    pub(super) directs: BTreeMap<String, ConversationId>,
    /// Acknowledged sends with an attachment: message -> attachment.
    pub(super) attached: HashMap<MessageId, AttachmentId>,
}

impl Acknowledged {
    /// Parses one line of child output; `false` for lines that are not complete reports.
    pub(super) fn take(&mut self, line: &str) -> bool {
        let Some(line) = line.strip_suffix(" .") else {
            return false;
        };
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["ATT", conversation, seq, id, sender, cmid, attachment] => {
                let message: MessageId = id.parse().expect("message id");
                self.attached
                    .insert(message, attachment.parse().expect("attachment id"));
                return self.take(&format!("ACK {conversation} {seq} {id} {sender} {cmid} ."));
            }
            ["ACK", conversation, seq, id, sender, cmid] => {
                let entry = (
                    conversation.parse().expect("conversation id"),
                    seq.parse().expect("seq"),
                    sender.parse().expect("sender"),
                    (*cmid).to_owned(),
                );
                let id: MessageId = id.parse().expect("message id");
                assert!(
                    self.messages.insert(id, entry).is_none(),
                    "message {id} acknowledged twice"
                );
            }
            ["READ", conversation, reader, seq] => {
                let key = (
                    conversation.parse().expect("conversation"),
                    reader.parse().expect("reader"),
                );
                let seq: u64 = seq.parse().expect("seq");
                self.read_calls += 1;
                let entry = self.reads.entry(key).or_default();
                *entry = (*entry).max(seq);
            }
            ["DEL", _conversation, id] => {
                self.deleted.insert(id.parse().expect("message id"));
            }
            ["REACT", _conversation, id, reactor, emoji] => {
                let key = (
                    id.parse().expect("message id"),
                    reactor.parse().expect("reactor"),
                    (*emoji).to_owned(),
                );
                self.reactions.insert(key);
            }
            ["DELIV", conversation, recipient, seq] => {
                let key = (
                    conversation.parse().expect("conversation"),
                    recipient.parse().expect("recipient"),
                );
                self.delivery_calls += 1;
                let entry = self.deliveries.entry(key).or_default();
                *entry = (*entry).max(seq.parse().expect("seq"));
            }
            ["CONV", key, id, _created] => {
                let id: ConversationId = id.parse().expect("conversation id");
                let known = self.directs.entry((*key).to_owned()).or_insert(id);
                assert_eq!(*known, id, "direct conversation {key} was duplicated across a crash");
            }
            ["OPEN"] => {}
            _ => return false,
        }
        true
    }
}

async fn full_history<E: KvEngine>(store: &KvStore<E>, viewer: &Identity, id: ConversationId) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let after = messages.last().map_or(0, |m: &Message| m.seq);
        let page = store
            .history_page(
                viewer,
                id,
                HistoryQuery {
                    after: Some(after),
                    before: None,
                    limit: 500,
                },
            )
            .await
            .expect("history page");
        if page.is_empty() {
            return messages;
        }
        messages.extend(page);
    }
}

async fn full_inbox<E: KvEngine>(store: &KvStore<E>, viewer: &Identity) -> Vec<ConversationRecord> {
    let mut rows: Vec<ConversationRecord> = Vec::new();
    loop {
        let after = rows.last().map(|row| InboxCursor {
            last_activity_at: row.conversation.last_activity_at,
            id: row.conversation.id,
        });
        let page = store
            .inbox_page(
                viewer,
                InboxQuery {
                    archive: ArchiveFilter::All,
                    after,
                    limit: 3,
                    ..InboxQuery::default()
                },
            )
            .await
            .expect("inbox page");
        if page.is_empty() {
            return rows;
        }
        rows.extend(page);
    }
}

/// Checks every invariant on the reopened store; returns the number of messages stored.
pub(super) async fn verify<E: KvEngine>(
    store: &KvStore<E>,
    dir: &std::path::Path,
    group: ConversationId,
    acked: &Acknowledged,
) -> usize {
    let objects = objects(dir);
    let mut attached_files: HashSet<AttachmentId> = HashSet::new();
    let mut conversations: Vec<(ConversationId, Vec<usize>)> = vec![(group, (0..USERS).collect())];
    for key in direct_keys() {
        let id = match acked.directs.get(&direct_key_name(&key)) {
            Some(id) => Some(*id),
            // Created and flushed, then killed before the child reported it: an unacknowledged
            // write may be stored, and then it must be whole like any other.
            None => {
                let tag = key.2.map(|id| Tag::new("Order", id).expect("tag"));
                store
                    .find_direct(&caller(key.0), &user(key.1), tag.as_ref())
                    .await
                    .expect("find direct")
                    .map(|record| record.conversation.id)
            }
        };
        if let Some(id) = id {
            conversations.push((id, vec![key.0, key.1]));
        }
    }
    let mut stored = 0;
    let mut records: HashMap<ConversationId, ConversationRecord> = HashMap::new();
    for (id, members) in &conversations {
        let viewer = caller(members[0]);
        let record = store.get_conversation(&viewer, *id).await.expect("get");
        let mut member_ids: Vec<UserId> = record.member_ids();
        member_ids.sort();
        let mut expected: Vec<UserId> = members.iter().map(|&m| user(m)).collect();
        expected.sort();
        assert_eq!(member_ids, expected, "members of {id}");
        let messages = full_history(store, &viewer, *id).await;
        stored += messages.len();
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=record.conversation.last_seq).collect::<Vec<_>>(),
            "seq dense in {id}"
        );
        let mut retry_keys = HashSet::new();
        for message in &messages {
            if let Some(cmid) = &message.client_message_id {
                assert!(
                    retry_keys.insert((message.sender.clone(), cmid.clone())),
                    "client_message_id {cmid} stored twice in {id}"
                );
            }
        }
        for participant in &record.participants {
            assert_eq!(
                participant.pending_notification.is_some(),
                participant.unread_count > 0,
                "a pending notification for {} in {id} exactly when something is unread",
                participant.user
            );
            let unread = messages
                .iter()
                .filter(|m| {
                    m.seq > participant.last_read_seq
                        && m.sender.as_ref() != Some(&participant.user)
                        && m.deleted_at.is_none()
                })
                .count() as u64;
            assert_eq!(
                participant.unread_count, unread,
                "unread of {} in {id}",
                participant.user
            );
        }
        let newest_visible = messages.iter().rev().find(|m| m.deleted_at.is_none());
        assert_eq!(
            record.conversation.last_message,
            newest_visible.map(LastMessage::of),
            "preview of {id}"
        );
        if let Some(newest) = messages.last() {
            assert_eq!(
                record.conversation.last_activity_at, newest.created_at,
                "activity of {id}"
            );
        }
        for (message_id, (conversation, seq, sender, cmid)) in &acked.messages {
            if conversation != id {
                continue;
            }
            let stored = messages
                .get((*seq as usize).wrapping_sub(1))
                .unwrap_or_else(|| panic!("acknowledged message {message_id} (seq {seq}) of {id} is lost"));
            assert_eq!(stored.id, *message_id, "acknowledged message at seq {seq} of {id}");
            assert_eq!(stored.sender, Some(user(*sender)));
            assert_eq!(stored.client_message_id.as_deref(), Some(cmid.as_str()));
            if acked.deleted.contains(message_id) {
                assert!(
                    stored.deleted_at.is_some(),
                    "acknowledged deletion of {message_id} is lost"
                );
            } else if stored.deleted_at.is_none() {
                assert_eq!(stored.body, format!("body {cmid}"));
            }
        }
        for ((conversation, reader), seq) in &acked.reads {
            if conversation == id {
                let watermark = record.participant(&user(*reader)).map_or(0, |p| p.last_read_seq);
                assert!(watermark >= *seq, "acknowledged read of u{reader} in {id} went back");
            }
        }
        for ((conversation, recipient), seq) in &acked.deliveries {
            if conversation == id {
                let watermark = record
                    .participant(&user(*recipient))
                    .map_or(0, |p| p.last_delivered_seq);
                assert!(
                    watermark >= *seq,
                    "acknowledged delivery to u{recipient} in {id} went back"
                );
            }
        }
        for participant in &record.participants {
            assert!(
                participant.last_delivered_seq >= participant.last_read_seq,
                "delivered below read for {} in {id}",
                participant.user
            );
        }
        for message in &messages {
            for file in &message.attachments {
                let meta = objects
                    .head(&Attachment::object_path(file.id))
                    .await
                    .unwrap_or_else(|error| {
                        panic!("message {} points at missing bytes of {}: {error}", message.id, file.id)
                    });
                assert_eq!(meta.size, file.size, "bytes of {}", file.id);
                attached_files.insert(file.id);
            }
            if let Some(attachment) = acked.attached.get(&message.id) {
                if message.deleted_at.is_none() {
                    assert_eq!(
                        message.attachments.iter().map(|file| file.id).collect::<Vec<_>>(),
                        [*attachment],
                        "acknowledged attachment of {}",
                        message.id
                    );
                }
            }
            if message.deleted_at.is_some() {
                assert!(
                    message.attachments.is_empty(),
                    "deleted message {} keeps attachments",
                    message.id
                );
                assert!(
                    message.reactions.is_empty(),
                    "deleted message {} keeps reactions",
                    message.id
                );
            }
            for reaction in &message.reactions {
                assert!(
                    !reaction.users.is_empty() && reaction.users.windows(2).all(|pair| pair[0] < pair[1]),
                    "reaction {} of {} holds each user once",
                    reaction.emoji,
                    message.id
                );
            }
            for (acked_message, reactor, emoji) in &acked.reactions {
                if *acked_message == message.id && message.deleted_at.is_none() {
                    let held = message
                        .reactions
                        .iter()
                        .any(|r| &r.emoji == emoji && r.users.contains(&user(*reactor)));
                    assert!(
                        held,
                        "acknowledged reaction {emoji} of u{reactor} on {acked_message} is lost"
                    );
                }
            }
        }
        records.insert(*id, record);
    }
    for n in 0..USERS {
        let me = user(n);
        let inbox = full_inbox(store, &caller(n)).await;
        let ids: Vec<ConversationId> = inbox.iter().map(|row| row.conversation.id).collect();
        let unique: HashSet<ConversationId> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "inbox of {me} lists a conversation twice");
        let expected: HashSet<ConversationId> = conversations
            .iter()
            .filter(|(_, members)| members.contains(&n))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(unique, expected, "inbox of {me}");
        let order: Vec<_> = inbox
            .iter()
            .map(|row| (row.conversation.last_activity_at, row.conversation.id))
            .collect();
        assert!(order.windows(2).all(|pair| pair[0] > pair[1]), "inbox order of {me}");
        for row in &inbox {
            assert_eq!(Some(row), records.get(&row.conversation.id), "inbox row of {me}");
        }
        let directs = inbox
            .iter()
            .filter(|row| row.conversation.kind == ConversationKind::Direct)
            .count();
        let expected_directs = direct_keys().iter().filter(|k| k.0 == n || k.1 == n).count();
        assert!(directs <= expected_directs, "{me} has duplicated direct conversations");
        let stats = store.stats(&caller(n)).await.expect("stats");
        let unread: Vec<u64> = inbox
            .iter()
            .map(|row| row.participant(&me).map_or(0, |p| p.unread_count))
            .collect();
        assert_eq!(stats.total_conversations, inbox.len() as u64, "total of {me}");
        assert_eq!(
            stats.unread_messages,
            unread.iter().sum::<u64>(),
            "unread messages of {me}"
        );
        assert_eq!(
            stats.unread_conversations,
            unread.iter().filter(|&&u| u > 0).count() as u64,
            "unread conversations of {me}"
        );
    }
    for key in direct_keys() {
        let Some(known) = acked.directs.get(&direct_key_name(&key)) else {
            continue;
        };
        let (record, created) = store
            .find_or_create_direct(
                &caller(key.1),
                NewDirect {
                    counterpart: user(key.0),
                    tag: key.2.map(|id| Tag::new("Order", id).expect("tag")),
                    metadata: Default::default(),
                },
            )
            .await
            .expect("find direct");
        assert!(!created, "direct {key:?} was lost");
        assert_eq!(record.conversation.id, *known, "direct {key:?}");
    }
    // Uploads cut short, never sent, or of deleted messages: a sweep that treats every
    // unsent upload as stale leaves exactly the bytes of the messages that show them.
    let limits = Limits {
        unsent_upload_ttl: Duration::ZERO,
        ..Limits::default()
    };
    tokio::time::sleep(Duration::from_millis(2)).await;
    services(store, dir, limits).attachments().sweep().await.expect("sweep");
    let left = store
        .discard_stale_attachments(None, crate::model::now(), 1000)
        .await
        .expect("records left");
    assert!(left.is_empty(), "records left after the sweep: {left:?}");
    let listed: Vec<object_store::ObjectMeta> =
        futures_util::TryStreamExt::try_collect(object_store::ObjectStore::list(objects.as_ref(), None))
            .await
            .expect("list objects");
    let on_disk: HashSet<String> = listed.iter().map(|meta| meta.location.to_string()).collect();
    let expected: HashSet<String> = attached_files
        .iter()
        .map(|id| Attachment::object_path(*id).to_string())
        .collect();
    assert_eq!(on_disk, expected, "the object store holds exactly the attached files");
    verify_outbox(store, &records).await;
    stored
}

/// The due index agrees with the rows: claiming everything due by a far future yields
/// exactly the pending notifications of `records` (leased to that future: still pending, and
/// due by the next cycle's far future). Run after every other check: it changes the rows.
async fn verify_outbox<E: KvEngine>(store: &KvStore<E>, records: &HashMap<ConversationId, ConversationRecord>) {
    let far = chrono::Utc::now() + chrono::TimeDelta::days(200 * 365);
    let claimed: Vec<(ConversationId, UserId)> = store
        .claim_notifications(Some(&tenant()), far, far, 100_000)
        .await
        .expect("claim the outbox")
        .into_iter()
        .map(|due| (due.conversation, due.user))
        .collect();
    let claimed_once: HashSet<(ConversationId, UserId)> = claimed.iter().cloned().collect();
    assert_eq!(claimed_once.len(), claimed.len(), "no row claimed twice");
    let pending: HashSet<(ConversationId, UserId)> = records
        .values()
        .flat_map(|record| {
            record
                .participants
                .iter()
                .filter(|participant| participant.pending_notification.is_some())
                .map(|participant| (record.conversation.id, participant.user.clone()))
        })
        .collect();
    assert_eq!(
        claimed_once, pending,
        "the outbox index yields exactly the pending notifications"
    );
    assert_eq!(
        store.notification_index_len().expect("the due-time index"),
        pending.len(),
        "one index key per pending notification, none stale"
    );
}
