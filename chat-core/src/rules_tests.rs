//! Unit tests of every rule in [`super`]: each asserts what the rule changes and what it
//! leaves alone.

use chrono::TimeZone;

use super::*;
use crate::model::MessageRef;
use crate::store::{ArchiveFilter, InboxCursor};
use crate::tag::{Tag, TagFilter};
use crate::{Metadata, TenantId};

fn user(name: &str) -> UserId {
    UserId::new(name).expect("user id")
}

fn who(name: &str) -> Identity {
    Identity::new(TenantId::default(), user(name))
}

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + second, 0).single().expect("time")
}

fn text(body: &str) -> NewMessage {
    NewMessage {
        notify_after: None,
        attachments: Vec::new(),
        conversation_id: ConversationId::new_v7(),
        body: body.to_owned(),
        client_message_id: None,
        reply_to: None,
        metadata: Metadata::new(),
    }
}

/// A user's message without a reply: the rule's errors are all about replies.
fn send(record: &mut ConversationRecord, sender: &UserId, new: &NewMessage, now: DateTime<Utc>) -> Message {
    append(record, Some(sender), new, None, now).expect("a plain message appends")
}

fn group(members: &[&str]) -> ConversationRecord {
    let new = NewGroup {
        members: members.iter().map(|name| user(name)).collect(),
        title: "Team Ünïcode".into(),
        tag: None,
        metadata: Metadata::new(),
    };
    new_group(&who("ana"), &new, at(0))
}

fn direct() -> ConversationRecord {
    let new = NewDirect {
        counterpart: user("bruno"),
        tag: None,
        metadata: Metadata::new(),
    };
    new_direct(&who("ana"), &new, at(0))
}

fn row<'a>(record: &'a ConversationRecord, name: &str) -> &'a Participant {
    record.participant(&user(name)).expect("participant")
}

#[test]
fn new_records_start_empty_with_their_members() {
    let record = group(&["bruno", "carla"]);
    assert_eq!(record.conversation.kind, ConversationKind::Group);
    assert_eq!(record.conversation.last_seq, 0);
    assert_eq!(record.conversation.last_activity_at, at(0));
    assert_eq!(row(&record, "ana").role, Role::Owner);
    assert_eq!(row(&record, "bruno").role, Role::Member);
    assert_eq!(record.participants.len(), 3);
    let record = direct();
    assert_eq!(record.conversation.kind, ConversationKind::Direct);
    assert_eq!(record.conversation.title, None);
    assert!(record.participants.iter().all(|p| p.role == Role::Member));
    assert!(is_member(&record, &who("bruno")));
    assert!(!is_member(&record, &who("carla")));
    let other_tenant = Identity::new(TenantId::new("other").expect("tenant"), user("ana"));
    assert!(!is_member(&record, &other_tenant));
    assert!(require_member(Some(record), &other_tenant).is_err_and(|error| error.is_not_found()));
}

#[test]
fn direct_pair_is_unordered() {
    let (a, b) = (user("a"), user("b"));
    assert_eq!(direct_pair(&a, &b), direct_pair(&b, &a));
    assert_eq!(direct_pair(&b, &a), (&a, &b));
}

#[test]
fn append_assigns_the_next_seq_and_moves_counters_preview_and_archive() {
    let mut record = group(&["bruno", "carla"]);
    set_archived(&mut record, &user("carla"), true).expect("archive");
    let first = send(&mut record, &user("ana"), &text("hello"), at(10));
    assert_eq!(first.seq, 1);
    assert_eq!(first.conversation_id, record.conversation.id);
    let second = send(&mut record, &user("bruno"), &text("hi"), at(20));
    assert_eq!(second.seq, 2);
    assert_eq!(record.conversation.last_seq, 2);
    assert_eq!(record.conversation.last_activity_at, at(20));
    assert_eq!(record.conversation.updated_at, at(20));
    assert_eq!(
        record.conversation.last_message.as_ref().map(|last| last.id),
        Some(second.id)
    );
    assert_eq!(
        (row(&record, "ana").unread_count, row(&record, "ana").last_read_seq),
        (1, 1)
    );
    assert_eq!(
        (row(&record, "bruno").unread_count, row(&record, "bruno").last_read_seq),
        (0, 2)
    );
    assert_eq!(row(&record, "bruno").last_read_at, Some(at(20)));
    assert_eq!(row(&record, "carla").unread_count, 2);
    assert!(!row(&record, "carla").is_archived, "a new message un-archives");
}

#[test]
fn append_never_goes_back_in_time_and_cuts_the_preview() {
    let mut record = direct();
    send(&mut record, &user("ana"), &text("first"), at(50));
    let long = "é".repeat(crate::model::PREVIEW_MAX_CHARS + 10);
    let late = send(&mut record, &user("bruno"), &text(&long), at(40));
    assert_eq!(late.created_at, at(50), "clamped to the last activity");
    let preview = record.conversation.last_message.as_ref().expect("preview");
    assert_eq!(preview.text.chars().count(), crate::model::PREVIEW_MAX_CHARS);
    assert_eq!(late.body, long, "the message keeps its whole body");
}

#[test]
fn mark_read_moves_forward_only_and_recounts_unread() {
    let mut record = direct();
    for second in 1..=5 {
        send(&mut record, &user("ana"), &text("m"), at(second));
    }
    let bruno = user("bruno");
    assert!(mark_read(&mut record, &bruno, ReadUpTo::Seq(3), 0, at(10)).expect("read"));
    assert_eq!(
        (row(&record, "bruno").last_read_seq, row(&record, "bruno").unread_count),
        (3, 2)
    );
    assert_eq!(row(&record, "bruno").last_read_at, Some(at(10)));
    assert!(
        !mark_read(&mut record, &bruno, ReadUpTo::Seq(2), 0, at(11)).expect("read"),
        "never back"
    );
    assert_eq!(row(&record, "bruno").last_read_seq, 3);
    assert!(
        mark_read(&mut record, &bruno, ReadUpTo::Seq(99), 0, at(12)).expect("read"),
        "clamped"
    );
    assert_eq!(
        (row(&record, "bruno").last_read_seq, row(&record, "bruno").unread_count),
        (5, 0)
    );
    assert!(!mark_read(&mut record, &bruno, ReadUpTo::Newest, 0, at(13)).expect("read"));
    assert!(mark_read(&mut record, &user("zoe"), ReadUpTo::Newest, 0, at(13)).is_err());
}

#[test]
fn clear_history_hides_for_one_user_and_marks_read() {
    let mut record = direct();
    send(&mut record, &user("ana"), &text("a"), at(1));
    send(&mut record, &user("ana"), &text("b"), at(2));
    clear_history(&mut record, &user("bruno"), at(3)).expect("clear");
    let bruno = row(&record, "bruno");
    assert_eq!(
        (bruno.cleared_through_seq, bruno.last_read_seq, bruno.unread_count),
        (2, 2, 0)
    );
    assert_eq!(row(&record, "ana").cleared_through_seq, 0, "others keep their history");
}

#[test]
fn set_archived_says_whether_it_changed() {
    let mut record = direct();
    assert!(set_archived(&mut record, &user("ana"), true).expect("archive"));
    assert!(!set_archived(&mut record, &user("ana"), true).expect("archive"));
    assert!(row(&record, "ana").is_archived && !row(&record, "bruno").is_archived);
}

#[test]
fn edit_checks_the_sender_and_follows_the_preview() {
    let mut record = direct();
    let mut first = send(&mut record, &user("ana"), &text("one"), at(1));
    let mut second = send(&mut record, &user("ana"), &text("two"), at(2));
    let denied = edit(&mut record, &mut second, &user("bruno"), "x".into(), at(3));
    assert!(matches!(denied, Err(ChatError::PermissionDenied { .. })));
    edit(&mut record, &mut first, &user("ana"), "uno".into(), at(3)).expect("edit");
    assert_eq!((first.body.as_str(), first.edited_at), ("uno", Some(at(3))));
    assert_eq!(
        record.conversation.last_message.as_ref().map(|l| l.text.as_str()),
        Some("two")
    );
    edit(&mut record, &mut second, &user("ana"), "dos".into(), at(4)).expect("edit");
    assert_eq!(
        record.conversation.last_message.as_ref().map(|l| l.text.as_str()),
        Some("dos")
    );
    assert_eq!(
        record.conversation.last_activity_at,
        at(2),
        "edits do not reorder the inbox"
    );
    delete(&mut record, &mut second, &user("ana"), at(5)).expect("delete");
    let conflict = edit(&mut record, &mut second, &user("ana"), "again".into(), at(6));
    assert!(matches!(conflict, Err(ChatError::Conflict { .. })));
}

#[test]
fn delete_is_idempotent_and_hands_the_preview_back() {
    let mut record = direct();
    let mut first = send(&mut record, &user("ana"), &text("one"), at(1));
    let mut second = send(&mut record, &user("ana"), &text("two"), at(2));
    assert!(matches!(
        delete(&mut record, &mut second, &user("bruno"), at(3)),
        Err(ChatError::PermissionDenied { .. })
    ));
    let deletion = delete(&mut record, &mut second, &user("ana"), at(3)).expect("delete");
    assert_eq!(deletion, Deletion::DeletedPreview { seq: 2 });
    assert!(second.body.is_empty() && second.deleted_at == Some(at(3)));
    set_preview(&mut record, Some(&first));
    assert_eq!(record.conversation.last_message.as_ref().map(|l| l.id), Some(first.id));
    let again = delete(&mut record, &mut second, &user("ana"), at(4)).expect("delete twice");
    assert_eq!(again, Deletion::AlreadyDeleted);
    assert!(!again.changed());
    assert_eq!(second.deleted_at, Some(at(3)), "the first deletion time stays");
    let mut older = first.clone();
    older.id = MessageId::new_v7();
    assert_eq!(
        delete(&mut record, &mut older, &user("ana"), at(5)).expect("delete"),
        Deletion::Deleted
    );
    let deletion = delete(&mut record, &mut first, &user("ana"), at(6)).expect("delete");
    assert!(deletion.changed());
    set_preview(&mut record, None);
    assert_eq!(record.conversation.last_message, None);
}

#[test]
fn adding_skips_members_and_respects_the_size() {
    let mut record = group(&["bruno"]);
    send(&mut record, &user("ana"), &text("before"), at(1));
    let added = add_participants(&mut record, &[user("bruno"), user("carla"), user("carla")], 3, at(2)).expect("add");
    assert_eq!(added, vec![user("carla")]);
    let carla = row(&record, "carla");
    assert_eq!(
        (carla.last_read_seq, carla.unread_count, carla.joined_at),
        (1, 0, at(2))
    );
    assert_eq!(record.conversation.updated_at, at(2));
    let too_many = add_participants(&mut record, &[user("dora")], 3, at(3)).expect_err("too many");
    assert!(
        too_many
            .field_errors()
            .is_some_and(|e| e.fields().contains_key("participant_uuids"))
    );
    assert!(
        add_participants(&mut record, &[], 3, at(3))
            .expect("nothing")
            .is_empty()
    );
    let mut pair = direct();
    assert!(matches!(
        add_participants(&mut pair, &[user("carla")], 10, at(1)),
        Err(ChatError::Conflict { .. })
    ));
}

#[test]
fn removing_follows_ownership() {
    let mut record = group(&["bruno"]);
    add_participants(&mut record, &[user("carla")], 10, at(5)).expect("add");
    let denied = remove_participant(&mut record, &user("bruno"), &user("carla"), at(6));
    assert!(matches!(denied, Err(ChatError::PermissionDenied { .. })));
    let missing = remove_participant(&mut record, &user("ana"), &user("zoe"), at(6));
    assert!(missing.is_err_and(|error| error.is_not_found()));
    let removal = remove_participant(&mut record, &user("ana"), &user("ana"), at(7)).expect("leave");
    assert_eq!(removal.removed.user, user("ana"));
    assert_eq!(removal.new_owner, Some(user("bruno")), "the longest-standing member");
    assert_eq!(row(&record, "bruno").role, Role::Owner);
    assert_eq!(record.conversation.updated_at, at(7));
    let removal = remove_participant(&mut record, &user("bruno"), &user("carla"), at(8)).expect("remove");
    assert_eq!(removal.new_owner, None);
    let mut pair = direct();
    assert!(matches!(
        remove_participant(&mut pair, &user("ana"), &user("ana"), at(1)),
        Err(ChatError::Conflict { .. })
    ));
}

#[test]
fn inbox_matching_and_order() {
    let mut older = direct();
    let mut tagged = {
        let new = NewDirect {
            counterpart: user("bruno"),
            tag: Some(Tag::new("Order", 7).expect("tag")),
            metadata: Metadata::new(),
        };
        new_direct(&who("ana"), &new, at(0))
    };
    send(&mut older, &user("bruno"), &text("x"), at(1));
    send(&mut tagged, &user("ana"), &text("y"), at(2));
    let ana = user("ana");
    let mut query = InboxQuery {
        limit: 10,
        ..InboxQuery::default()
    };
    assert!(inbox_matches(&older, &ana, &query) && inbox_matches(&tagged, &ana, &query));
    assert!(!inbox_matches(&older, &user("zoe"), &query));
    query.unread_only = true;
    assert!(inbox_matches(&older, &ana, &query) && !inbox_matches(&tagged, &ana, &query));
    query.unread_only = false;
    query.tag = Some(TagFilter {
        taggable_type: "Order".into(),
        taggable_id: Some(crate::TaggableId::Str("7".into())),
    });
    assert!(!inbox_matches(&older, &ana, &query) && inbox_matches(&tagged, &ana, &query));
    query.tag = None;
    query.archive = ArchiveFilter::Archived;
    assert!(!inbox_matches(&older, &ana, &query));
    query.archive = ArchiveFilter::All;
    query.after = Some(InboxCursor {
        last_activity_at: tagged.conversation.last_activity_at,
        id: tagged.conversation.id,
    });
    assert!(inbox_matches(&older, &ana, &query) && !inbox_matches(&tagged, &ana, &query));
    let mut records = vec![older.clone(), tagged.clone()];
    first_in_inbox_order(&mut records, 1);
    assert_eq!(records, vec![tagged.clone()], "newest activity first");
    let mut tie = older.clone();
    tie.conversation.last_activity_at = tagged.conversation.last_activity_at;
    let expected = if tie.conversation.id > tagged.conversation.id {
        Ordering::Less
    } else {
        Ordering::Greater
    };
    assert_eq!(inbox_order(&tie, &tagged), expected, "ties by id, descending");
}

#[test]
fn search_matches_titles_without_case_and_other_participants() {
    let record = group(&["bruno"]);
    let ana = user("ana");
    let query = |title: &str, participants: Vec<UserId>| SearchQuery {
        title_contains: title.into(),
        participants,
        limit: 10,
    };
    assert!(search_matches(&record, &ana, &query("ünï", vec![])));
    assert!(search_matches(&record, &ana, &query("TEAM", vec![])));
    assert!(!search_matches(&record, &ana, &query("nobody", vec![])));
    assert!(search_matches(&record, &ana, &query("nobody", vec![user("bruno")])));
    assert!(
        !search_matches(&record, &ana, &query("nobody", vec![ana.clone()])),
        "not oneself"
    );
}

#[test]
fn history_ranges_page_back_and_forward() {
    let query = |before, after, limit| HistoryQuery { before, after, limit };
    assert_eq!(history_range(&query(None, None, 3), 0, 10), Some(8..=10));
    assert_eq!(history_range(&query(Some(8), None, 3), 0, 10), Some(5..=7));
    assert_eq!(history_range(&query(Some(3), None, 5), 0, 10), Some(1..=2));
    assert_eq!(history_range(&query(Some(1), None, 5), 0, 10), None);
    assert_eq!(history_range(&query(Some(0), None, 5), 0, 10), None);
    assert_eq!(history_range(&query(None, Some(2), 3), 0, 10), Some(3..=5));
    assert_eq!(history_range(&query(None, Some(9), 3), 0, 10), Some(10..=10));
    assert_eq!(history_range(&query(None, Some(10), 3), 0, 10), None);
    assert_eq!(
        history_range(&query(None, None, 5), 8, 10),
        Some(9..=10),
        "cleared stays hidden"
    );
    assert_eq!(history_range(&query(None, Some(1), 5), 8, 10), Some(9..=10));
    assert_eq!(history_range(&query(None, None, 0), 0, 10), None);
    assert_eq!(
        history_range(&query(Some(u64::MAX), Some(u64::MAX - 1), 5), 0, 10),
        None
    );
}

#[test]
fn history_cursors_point_at_the_next_page() {
    let back = HistoryQuery {
        before: None,
        after: None,
        limit: 3,
    };
    assert_eq!(history_next_cursor(&back, &[8, 9, 10]), Some(8));
    assert_eq!(history_next_cursor(&back, &[1, 2, 3]), None, "nothing before seq 1");
    assert_eq!(history_next_cursor(&back, &[9, 10]), None, "a short page is the last");
    let forward = HistoryQuery { after: Some(2), ..back };
    assert_eq!(history_next_cursor(&forward, &[3, 4, 5]), Some(5));
    assert_eq!(history_next_cursor(&forward, &[]), None);
}

#[test]
fn deleting_an_unread_message_takes_it_off_the_badge() {
    let mut record = group(&["bruno", "carla"]);
    let mut first = send(&mut record, &user("ana"), &text("one"), at(1));
    let mut second = send(&mut record, &user("ana"), &text("two"), at(2));
    let _third = send(&mut record, &user("ana"), &text("three"), at(3));
    mark_read(&mut record, &user("carla"), ReadUpTo::Seq(2), 0, at(4)).expect("read");
    delete(&mut record, &mut second, &user("ana"), at(5)).expect("delete");
    assert_eq!(row(&record, "bruno").unread_count, 2, "bruno had not read it");
    assert_eq!(row(&record, "carla").unread_count, 1, "carla had read it already");
    assert_eq!(row(&record, "ana").unread_count, 0, "the sender never counts it");
    delete(&mut record, &mut second, &user("ana"), at(6)).expect("delete twice");
    assert_eq!(row(&record, "bruno").unread_count, 2, "twice changes nothing");
    // Reading up to seq 1 leaves seq 3 unread, not the deleted seq 2.
    assert_eq!(
        read_target(&record, &user("bruno"), ReadUpTo::Seq(1)).ok(),
        Some(Some(1))
    );
    mark_read(&mut record, &user("bruno"), ReadUpTo::Seq(1), 1, at(7)).expect("read");
    assert_eq!(row(&record, "bruno").unread_count, 1);
    delete(&mut record, &mut first, &user("ana"), at(8)).expect("delete below the watermark");
    assert_eq!(row(&record, "bruno").unread_count, 1, "already read: no change");
    assert_eq!(read_target(&record, &user("bruno"), ReadUpTo::Seq(1)).ok(), Some(None));
}

#[test]
fn a_system_message_is_unread_for_everyone_and_unarchives() {
    let mut record = group(&["bruno", "carla"]);
    set_archived(&mut record, &user("bruno"), true).expect("archive");
    let message = append(&mut record, None, &text("Order #123 shipped"), None, at(5)).expect("system");
    assert_eq!(message.kind, MessageKind::System);
    assert_eq!(message.sender, None);
    assert_eq!(
        record.conversation.last_message.as_ref().map(|m| m.sender.clone()),
        Some(None)
    );
    for name in ["ana", "bruno", "carla"] {
        let row = row(&record, name);
        assert_eq!(row.unread_count, 1, "{name}");
        assert!(!row.is_archived, "{name}");
        assert_eq!(row.last_read_seq, 0, "{name}");
    }
}

#[test]
fn a_reply_quotes_a_visible_message_of_the_same_conversation_only() {
    let mut record = group(&["bruno"]);
    let original = send(&mut record, &user("ana"), &text("one"), at(1));
    let mut reply = text("re");
    reply.reply_to = Some(original.id);
    let quoted = append(&mut record, Some(&user("bruno")), &reply, Some(&original), at(2)).expect("reply");
    assert_eq!(
        quoted.reply_to,
        Some(MessageRef {
            id: original.id,
            seq: 1
        })
    );

    let before = record.clone();
    let refused = |record: &mut ConversationRecord, replied: Option<&Message>| {
        let error = append(record, Some(&user("bruno")), &reply, replied, at(3)).expect_err("refused");
        assert!(
            matches!(&error, ChatError::Validation(errors) if errors.fields().contains_key("reply_to")),
            "{error:?}"
        );
    };
    // Unknown, another conversation's, deleted: one error, nothing changed.
    refused(&mut record, None);
    let mut elsewhere = original.clone();
    elsewhere.conversation_id = ConversationId::new_v7();
    refused(&mut record, Some(&elsewhere));
    let mut deleted = original.clone();
    deleted.deleted_at = Some(at(2));
    refused(&mut record, Some(&deleted));
    assert_eq!(record, before);
    // Cleared by the sender: refused too.
    clear_history(&mut record, &user("bruno"), at(4)).expect("clear");
    refused(&mut record, Some(&original));
}

#[test]
fn delivery_never_moves_back_and_reading_delivers() {
    let mut record = group(&["bruno"]);
    for second in 1..=4 {
        send(&mut record, &user("ana"), &text("m"), at(second));
    }
    let bruno = user("bruno");
    assert!(mark_delivered(&mut record, &bruno, ReadUpTo::Seq(2), at(5)).expect("deliver"));
    assert_eq!(row(&record, "bruno").last_delivered_seq, 2);
    assert!(!mark_delivered(&mut record, &bruno, ReadUpTo::Seq(1), at(6)).expect("not back"));
    assert!(mark_read(&mut record, &bruno, ReadUpTo::Seq(3), 0, at(7)).expect("read"));
    assert_eq!(row(&record, "bruno").last_delivered_seq, 3, "reading delivers");
    assert!(mark_delivered(&mut record, &bruno, ReadUpTo::Seq(99), at(8)).expect("clamped"));
    assert_eq!(row(&record, "bruno").last_delivered_seq, 4);
    let ana = row(&record, "ana");
    assert_eq!(
        (ana.last_read_seq, ana.last_delivered_seq),
        (4, 4),
        "the sender has its own messages"
    );
}

#[test]
fn receipts_count_the_other_participants_watermarks() {
    let mut record = group(&["bruno", "carla"]);
    let first = send(&mut record, &user("ana"), &text("one"), at(1));
    let second = send(&mut record, &user("ana"), &text("two"), at(2));
    mark_delivered(&mut record, &user("bruno"), ReadUpTo::Seq(2), at(3)).expect("deliver");
    mark_read(&mut record, &user("carla"), ReadUpTo::Seq(1), 0, at(4)).expect("read");
    assert_eq!(
        receipts(&record, &first),
        Receipts {
            delivered: 2,
            read: 1,
            of: 2
        }
    );
    assert_eq!(
        receipts(&record, &second),
        Receipts {
            delivered: 1,
            read: 0,
            of: 2
        }
    );
}

#[test]
fn reactions_are_idempotent_bounded_and_dropped_with_the_message() {
    let mut record = group(&["bruno"]);
    let mut message = send(&mut record, &user("ana"), &text("one"), at(1));
    let (ana, bruno) = (user("ana"), user("bruno"));
    assert!(set_reaction(&mut message, &bruno, "👍", true, 2).expect("react"));
    assert!(
        !set_reaction(&mut message, &bruno, "👍", true, 2).expect("again"),
        "held once"
    );
    assert!(set_reaction(&mut message, &ana, "👍", true, 2).expect("ana too"));
    assert!(set_reaction(&mut message, &ana, "❤️", true, 2).expect("second emoji"));
    let limit = set_reaction(&mut message, &ana, "🎉", true, 2);
    assert!(matches!(limit, Err(ChatError::Validation(errors)) if errors.fields().contains_key("emoji")));
    assert!(set_reaction(&mut message, &bruno, "❤️", true, 2).expect("an emoji already there is no new one"));
    let summary: Vec<(&str, usize)> = message
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.users.len()))
        .collect();
    assert_eq!(summary, [("❤️", 2), ("👍", 2)], "by emoji, each user once");
    assert!(!set_reaction(&mut message, &bruno, "🎉", false, 2).expect("not held"));
    assert!(set_reaction(&mut message, &bruno, "👍", false, 2).expect("unreact"));
    assert!(set_reaction(&mut message, &ana, "👍", false, 2).expect("unreact"));
    assert_eq!(message.reactions.len(), 1, "an emoji nobody holds is gone");
    delete(&mut record, &mut message, &ana, at(2)).expect("delete");
    assert!(message.reactions.is_empty());
    assert!(matches!(
        set_reaction(&mut message, &bruno, "👍", true, 2),
        Err(ChatError::Conflict { .. })
    ));
}

#[test]
fn a_claim_settled_through_the_last_possible_seq_removes_the_row_without_overflow() {
    use crate::notification::{DueNotification, NotificationOutcome, SettledNotification};
    let mut record = direct();
    let mut new = text("still there?");
    new.notify_after = Some(chrono::TimeDelta::zero());
    send(&mut record, &user("ana"), &new, at(1));
    let bruno = record
        .participants
        .iter_mut()
        .find(|participant| participant.user == user("bruno"))
        .expect("bruno");
    let pending = claim_notification(bruno, at(2), at(62)).expect("due");
    let settled = SettledNotification {
        due: DueNotification {
            tenant: TenantId::default(),
            user: user("bruno"),
            conversation: record.conversation.id,
            pending,
        },
        // What the worker settles a claim with when it found nothing left to tell.
        outcome: NotificationOutcome::Delivered {
            through_seq: u64::MAX,
            rearm_at: at(3),
        },
    };
    assert!(settle_notification(&mut record, &settled));
    assert_eq!(row(&record, "bruno").pending_notification, None);
}
