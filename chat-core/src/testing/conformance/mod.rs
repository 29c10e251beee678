//! The store conformance suite: plain `async fn`s over a store, each proving one part of
//! the invariants of the design document through the services. Every backend runs all of
//! them with [`crate::conformance_tests!`]; none is ever copied per backend.
//!
//! Each case builds its own [`Fixture`] (a fresh tenant), so cases may share one store.
//! The cases live by concern and are all re-exported here:
//!
//! - [`direct`]: find-or-create of direct conversations (invariant 1);
//! - [`messages`]: send retries, previews, who edits and deletes (invariants 3, 5, 7);
//! - [`history`]: dense seqs, history pages, following with `after` (invariant 2);
//! - [`participant_state`]: unread counts, archive, clear history (invariants 4, 8);
//! - [`inbox`]: inbox listing and cursor pages, search (invariant 6);
//! - [`authorization`]: non-participants and other tenants see nothing (invariant 7);
//! - [`groups`]: membership rules and removal racing sends;
//! - [`validation`]: invalid input changes nothing;
//! - [`replies`]: quoted replies;
//! - [`reactions`]: reactions (invariant 10);
//! - [`reports`]: reports of messages;
//! - [`receipts`]: delivery watermarks and receipts (invariant 11);
//! - [`system_messages`]: messages the host posts;
//! - [`attachments`]: uploads, binding them to messages, and the sweep;
//! - [`blocks`]: blocking (invariant 13);
//! - [`erase`]: erasing a user (invariant 15);
//! - [`notifications`]: the outbox and its worker (invariant 14);
//! - [`mute`]: muting a conversation.
//!
//! The helpers below check what several cases share.

pub mod attachments;
pub mod authorization;
pub mod blocks;
pub mod direct;
pub mod erase;
pub mod groups;
pub mod history;
pub mod inbox;
pub mod messages;
pub mod mute;
pub mod notifications;
pub mod participant_state;
pub mod reactions;
pub mod receipts;
pub mod replies;
pub mod reports;
pub mod system_messages;
pub mod validation;

pub use attachments::{
    a_cleared_history_hides_its_attachments_from_that_member_only,
    attachments_bind_only_the_senders_own_unsent_uploads, deleted_and_never_sent_attachments_are_swept,
    refused_uploads_leave_nothing_behind,
};
pub use authorization::{non_participants_get_not_found_and_no_events, tenants_never_see_each_other};
pub use blocks::{
    a_block_keeps_the_blocked_user_from_bringing_the_blocker_into_groups,
    a_block_racing_16_senders_lets_no_send_in_after_it, a_block_stops_direct_messages_from_the_blocked_user_only,
    blocks_are_validated_and_capped,
};
pub use direct::{
    adding_people_to_groups_is_rate_limited_per_user,
    direct_find_or_create_gives_one_conversation_under_64_racing_tasks,
    direct_find_or_create_is_idempotent_and_symmetric, starting_conversations_is_rate_limited_per_user,
};
pub use erase::{an_interrupted_erase_resumes_and_finishes, erasing_a_user_leaves_nothing_of_theirs};
pub use groups::{group_membership_rules, removed_member_cannot_slip_a_message_in};
pub use history::{
    a_reader_following_with_after_sees_every_message_once_in_order, history_pages_by_seq,
    seq_is_dense_under_16_concurrent_senders,
};
pub use inbox::{
    inbox_cursor_pages_neither_skip_nor_repeat_while_messages_arrive,
    inbox_lists_exactly_the_users_conversations_in_activity_order, search_finds_by_title_and_participant_name,
};
pub use messages::{
    only_the_sender_edits_or_deletes, preview_follows_the_newest_message,
    repeated_client_message_id_returns_the_stored_message,
};
pub use mute::a_muted_conversation_counts_unread_but_notifies_no_one_who_muted_it;
pub use notifications::{
    a_burst_is_one_notification_and_reading_first_cancels_it, claims_are_leased_and_settle_by_the_rules,
    leaving_removal_clearing_and_replying_cancel_pending_notifications,
    system_messages_notify_everyone_and_deleting_the_unread_cancels,
    the_worker_delivers_every_notification_through_a_failing_notifier,
};
pub use participant_state::{
    clearing_history_hides_it_for_that_user_only, deleting_an_unread_message_takes_it_off_the_badge,
    new_message_unarchives_for_recipients, unread_counts_follow_sends_and_reads,
    unread_counts_stay_exact_under_16_racing_senders_deleters_and_readers,
};
pub use reactions::{
    reactions_are_per_user_idempotent_and_leave_inbox_and_badges_alone,
    sixteen_tasks_toggling_one_reaction_end_consistent,
};
pub use receipts::{
    batched_receipts_of_a_group_are_one_event_for_every_member,
    delivered_never_below_read_under_concurrent_reads_and_deliveries, delivery_receipts_follow_the_watermarks,
};
pub use replies::replies_quote_a_visible_message_of_the_same_conversation;
pub use reports::{
    members_report_others_messages_once_and_the_sink_is_told, sixteen_racing_reports_of_one_message_store_one,
};
pub use system_messages::system_messages_are_unread_for_everyone_and_unarchive;
pub use validation::invalid_input_is_a_validation_error_that_changes_nothing;

use crate::ids::ConversationId;
use crate::model::Message;
use crate::tag::{Tag, TaggableId};

use super::fixtures::Fixture;

fn tag(kind: &str, id: impl Into<TaggableId>) -> Tag {
    Tag::new(kind, id).expect("valid tag")
}

async fn all_history(fx: &Fixture, user: usize, conversation: ConversationId) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let page = fx
            .messages()
            .history(fx.user(user), conversation, None, Some(after), Some(100))
            .await
            .expect("history page");
        let Some(last) = page.last() else { break };
        after = last.message.seq;
        messages.extend(page.into_iter().map(|view| view.message));
    }
    messages
}

/// Asserts invariants 2, 4, 5 and 12 on one conversation as seen by `viewer`, who has cleared
/// nothing: dense seqs, unread counts recomputed from the messages, preview of the newest.
async fn assert_consistent(fx: &Fixture, viewer: usize, conversation: ConversationId) {
    let messages = all_history(fx, viewer, conversation).await;
    let view = fx
        .conversations()
        .get(fx.user(viewer), conversation)
        .await
        .expect("get conversation");
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
    let expected: Vec<u64> = (1..=view.conversation.last_seq).collect();
    assert_eq!(seqs, expected, "seq must be dense 1..=last_seq");
    for participant in view.participants.iter().map(|p| &p.participant) {
        let unread = messages
            .iter()
            .filter(|message| {
                message.seq > participant.last_read_seq
                    && message.sender.as_ref() != Some(&participant.user)
                    && message.deleted_at.is_none()
            })
            .count() as u64;
        assert_eq!(participant.unread_count, unread, "unread count of {}", participant.user);
    }
    let newest_visible = messages.iter().rev().find(|message| message.deleted_at.is_none());
    assert_eq!(
        view.conversation.last_message.as_ref().map(|last| last.id),
        newest_visible.map(|message| message.id)
    );
    if let Some(newest) = messages.last() {
        assert_eq!(view.conversation.last_activity_at, newest.created_at);
    }
}
