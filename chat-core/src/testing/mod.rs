//! Test support for stores (feature `testing`): the in-memory reference store, a test host
//! fixture, the conformance suite and the model-based property test.
//!
//! A backend proves itself with one line in its tests:
//!
//! ```ignore
//! chat_core::conformance_tests!(async { Arc::new(MyStore::open_temporary().await) as Arc<dyn Store> });
//! ```
//!
//! The expression is evaluated once per test and may also yield a [`TestStore`] (a store
//! with something that must outlive it, such as its temporary directory) or either in an
//! `Option`: `None` skips the test (say why on stderr), e.g. when no database is configured.
//! The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.

pub mod bus_suite;
pub mod conformance;
#[cfg(unix)]
pub mod crash;
pub mod fixtures;
pub mod kernel_suite;
pub mod memory_store;
pub mod model_based;
pub mod module_graph;
pub mod test_store;

pub use fixtures::{Fixture, RecordingEventBus};
pub use memory_store::MemoryStore;
pub use test_store::{IntoTestStore, TestStore};

/// Writes `line` in a banner straight to the process's stderr, where the test harness does
/// not capture it (it captures `eprintln!` and shows it only for a failed test), so a test
/// that skipped says so in every run, `cargo test` without `--nocapture` included.
pub fn say_loudly(line: &str) {
    use std::io::Write;
    let rule = "=".repeat(70);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{rule}\n{line}\n{rule}\n");
    let _ = err.flush();
}

/// Generates one `#[tokio::test]` per case of the [event bus suite](crate::testing::bus_suite)
/// over the two nodes the given expression makes (an `Option<TwoNodes>`: `None` skips the
/// test, say why on stderr).
#[macro_export]
macro_rules! bus_tests {
    ($make_nodes:expr) => {
        $crate::bus_tests!(@cases $make_nodes;
            a_message_on_a_reaches_a_subscriber_on_b_once,
            events_arrive_in_publish_order_per_user,
            a_failed_write_sends_nothing,
        );
    };
    (@cases $make_nodes:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let nodes: ::std::option::Option<$crate::testing::bus_suite::TwoNodes> = ($make_nodes).await;
                let Some(nodes) = nodes else { return };
                $crate::testing::bus_suite::$case(nodes).await;
            }
        )*
    };
}

/// Generates one `#[tokio::test]` per conformance case plus the model-based property test,
/// over the stores the given expression makes (see the [module docs](crate::testing)).
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr) => {
        $crate::conformance_tests!(@cases $make_store;
            direct_find_or_create_is_idempotent_and_symmetric,
            direct_find_or_create_gives_one_conversation_under_64_racing_tasks,
            starting_conversations_is_rate_limited_per_user,
            adding_people_to_groups_is_rate_limited_per_user,
            seq_is_dense_under_16_concurrent_senders,
            repeated_client_message_id_returns_the_stored_message,
            unread_counts_follow_sends_and_reads,
            unread_counts_stay_exact_under_16_racing_senders_deleters_and_readers,
            deleting_an_unread_message_takes_it_off_the_badge,
            preview_follows_the_newest_message,
            inbox_lists_exactly_the_users_conversations_in_activity_order,
            inbox_cursor_pages_neither_skip_nor_repeat_while_messages_arrive,
            non_participants_get_not_found_and_no_events,
            only_the_sender_edits_or_deletes,
            new_message_unarchives_for_recipients,
            clearing_history_hides_it_for_that_user_only,
            group_membership_rules,
            removed_member_cannot_slip_a_message_in,
            history_pages_by_seq,
            tenants_never_see_each_other,
            search_finds_by_title_and_participant_name,
            invalid_input_is_a_validation_error_that_changes_nothing,
            a_reader_following_with_after_sees_every_message_once_in_order,
            replies_quote_a_visible_message_of_the_same_conversation,
            reactions_are_per_user_idempotent_and_leave_inbox_and_badges_alone,
            sixteen_tasks_toggling_one_reaction_end_consistent,
            delivery_receipts_follow_the_watermarks,
            delivered_never_below_read_under_concurrent_reads_and_deliveries,
            batched_receipts_of_a_group_are_one_event_for_every_member,
            system_messages_are_unread_for_everyone_and_unarchive,
            attachments_bind_only_the_senders_own_unsent_uploads,
            deleted_and_never_sent_attachments_are_swept,
            refused_uploads_leave_nothing_behind,
            a_cleared_history_hides_its_attachments_from_that_member_only,
            a_burst_is_one_notification_and_reading_first_cancels_it,
            leaving_removal_clearing_and_replying_cancel_pending_notifications,
            system_messages_notify_everyone_and_deleting_the_unread_cancels,
            claims_are_leased_and_settle_by_the_rules,
            the_worker_delivers_every_notification_through_a_failing_notifier,
            a_block_stops_direct_messages_from_the_blocked_user_only,
            blocks_are_validated_and_capped,
            a_block_racing_16_senders_lets_no_send_in_after_it,
            a_block_keeps_the_blocked_user_from_bringing_the_blocker_into_groups,
            members_report_others_messages_once_and_the_sink_is_told,
            sixteen_racing_reports_of_one_message_store_one,
            erasing_a_user_leaves_nothing_of_theirs,
            an_interrupted_erase_resumes_and_finishes,
            a_muted_conversation_counts_unread_but_notifies_no_one_who_muted_it,
        );

        #[test]
        fn model_based_operations_match_the_reference_model() {
            $crate::testing::model_based::run(|| async {
                $crate::testing::IntoTestStore::into_test_store(($make_store).await)
            });
        }
    };
    (@cases $make_store:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $crate::testing::IntoTestStore::into_test_store(($make_store).await);
                let Some(store) = store else { return };
                $crate::testing::conformance::$case(::std::sync::Arc::clone(&store.store)).await;
                drop(store);
            }
        )*
    };
}
