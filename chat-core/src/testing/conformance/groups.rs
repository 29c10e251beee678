//! Group membership: the rules for adding, removing, leaving and ownership, and a removed
//! member's in-flight sends racing the removal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::ids::MessageId;
use crate::limits::Limits;
use crate::model::Role;
use crate::service::SendMessage;
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::{all_history, assert_consistent};

/// Group rules: any member adds, the owner removes others, anyone leaves, ownership passes
/// on, the size limit holds, direct conversations keep their pair.
pub async fn group_membership_rules(store: Arc<dyn Store>) {
    let limits = Limits {
        group_max_participants: 4,
        ..Limits::default()
    };
    let fx = Fixture::with_limits(store, 6, limits);
    let conversations = fx.conversations();
    let group = fx.group(0, &[1, 2]).await;
    fx.send(0, group, "before 3 joined").await;
    let view = conversations.get(fx.user(0), group).await.expect("get");
    let roles: Vec<(String, Role)> = view
        .participants
        .iter()
        .map(|p| (p.participant.user.to_string(), p.participant.role))
        .collect();
    assert_eq!(roles[0], ("u0".to_owned(), Role::Owner));
    assert!(roles[1..].iter().all(|(_, role)| *role == Role::Member));

    fx.bus.take();
    let added = conversations
        .add_participants(fx.user(1), group, vec![fx.user(3).user.clone()])
        .await
        .expect("add");
    assert_eq!(added.participants.len(), 4);
    let joined = conversations.get(fx.user(3), group).await.expect("new member reads");
    assert_eq!(joined.unread_count(), 0, "a new member starts with everything read");
    assert_eq!(
        all_history(&fx, 3, group).await.len(),
        1,
        "a new member sees the history"
    );
    let events = fx.bus.take();
    let created_for: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.payload, EventPayload::ConversationCreated(_)))
        .flat_map(|e| e.recipients.clone())
        .collect();
    assert_eq!(created_for, vec![fx.user(3).user.clone()]);

    let too_many = conversations
        .add_participants(fx.user(0), group, vec![fx.user(4).user.clone()])
        .await;
    assert!(
        too_many
            .as_ref()
            .err()
            .and_then(ChatError::field_errors)
            .is_some_and(|e| e.fields().contains_key("participant_uuids"))
    );
    assert!(matches!(
        conversations
            .remove_participant(fx.user(1), group, &fx.user(2).user)
            .await,
        Err(ChatError::PermissionDenied { .. })
    ));
    conversations
        .remove_participant(fx.user(0), group, &fx.user(2).user)
        .await
        .expect("owner removes");
    assert!(
        conversations
            .get(fx.user(2), group)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        fx.messages()
            .send(fx.user(2), group, SendMessage::text("still here?"))
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(matches!(
        conversations
            .remove_participant(fx.user(0), group, &fx.user(5).user)
            .await,
        Err(ChatError::NotFound { .. })
    ));

    let after_leave = conversations.leave(fx.user(0), group).await.expect("owner leaves");
    assert!(after_leave.me().is_none());
    let view = conversations.get(fx.user(1), group).await.expect("get");
    let owner: Vec<String> = view
        .participants
        .iter()
        .filter(|p| p.participant.role == Role::Owner)
        .map(|p| p.participant.user.to_string())
        .collect();
    assert_eq!(
        owner,
        vec!["u1".to_owned()],
        "the longest-standing member inherits the group"
    );
    conversations
        .remove_participant(fx.user(1), group, &fx.user(3).user)
        .await
        .expect("new owner removes");

    let direct = fx.direct(0, 1).await;
    assert!(matches!(
        conversations
            .add_participants(fx.user(0), direct, vec![fx.user(2).user.clone()])
            .await,
        Err(ChatError::Conflict { .. })
    ));
    assert!(matches!(
        conversations.leave(fx.user(0), direct).await,
        Err(ChatError::Conflict { .. })
    ));
}

/// Invariant 7 (atomic membership): once a removal has returned, the removed member's sends
/// fail, every send acknowledged before it is in the history exactly once, and none of the
/// removed member's messages comes after the removal.
///
/// The removal races the sends: several senders are acknowledged before it starts, keep
/// sending while it runs and until a send they start after it returned is refused. A
/// membership check made outside the writing transaction lets one of those in-flight sends
/// land after the removal (a seq past the removal's `last_seq`). Whether a send falls into
/// that window is luck, so the race is run several times, on a fresh group each.
pub async fn removed_member_cannot_slip_a_message_in(store: Arc<dyn Store>) {
    const ROUNDS: usize = 5;
    let fx = Fixture::new(store, 3);
    for _ in 0..ROUNDS {
        race_a_removal_against_sends(&fx).await;
    }
}

/// One round of [`removed_member_cannot_slip_a_message_in`]: user 1 is removed from a new
/// group of user 0 while sending to it.
async fn race_a_removal_against_sends(fx: &Fixture) {
    const SENDERS: usize = 3;
    /// Acknowledged sends to wait for before removing, so the senders are in full flow.
    const BEFORE_REMOVAL: usize = 8;
    let group = fx.group(0, &[1, 2]).await;
    let removed = Arc::new(AtomicBool::new(false));
    let acknowledged_so_far = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let fx = fx.clone();
            let removed = Arc::clone(&removed);
            let acknowledged_so_far = Arc::clone(&acknowledged_so_far);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut refused_after_removal = 0;
                for n in 0.. {
                    let started_after_removal = removed.load(Ordering::SeqCst);
                    match fx
                        .messages()
                        .send(fx.user(1), group, SendMessage::text(format!("s{sender} m{n}")))
                        .await
                    {
                        Ok(sent) => {
                            assert!(
                                !started_after_removal,
                                "a send started after the removal returned was acknowledged"
                            );
                            acknowledged.push(sent.message.message);
                            acknowledged_so_far.fetch_add(1, Ordering::SeqCst);
                        }
                        // Refused while the removal ran: keep going until a send started
                        // after it returned is refused too.
                        Err(error) if error.is_not_found() => {
                            if started_after_removal {
                                refused_after_removal += 1;
                                break;
                            }
                        }
                        Err(error) => panic!("unexpected error {error}"),
                    }
                    tokio::task::yield_now().await;
                }
                (acknowledged, refused_after_removal)
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged_so_far.load(Ordering::SeqCst) < BEFORE_REMOVAL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the senders were not acknowledged in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let removal = fx
        .conversations()
        .remove_participant(fx.user(0), group, &fx.user(1).user)
        .await
        .expect("remove");
    removed.store(true, Ordering::SeqCst);
    let removal_seq = removal.conversation.last_seq;
    let late = fx
        .messages()
        .send(fx.user(1), group, SendMessage::text("after removal"))
        .await;
    assert!(late.is_err_and(|e| e.is_not_found()));
    let mut acknowledged = Vec::new();
    let mut refused_after_removal = 0;
    for sender in senders {
        let (sent, refused) = sender.await.expect("sender");
        acknowledged.extend(sent);
        refused_after_removal += refused;
    }
    // The sends overlapped the removal: some acknowledged before it started, some refused
    // after it returned.
    assert!(acknowledged.len() >= BEFORE_REMOVAL);
    assert_eq!(refused_after_removal, SENDERS);
    for message in &acknowledged {
        assert!(
            message.seq <= removal_seq,
            "acknowledged send seq {} after the removal at seq {removal_seq}",
            message.seq
        );
    }
    let history = all_history(fx, 0, group).await;
    let mut from_removed: Vec<(u64, MessageId)> = history
        .iter()
        .filter(|m| m.sender.as_ref() == Some(&fx.user(1).user))
        .map(|m| (m.seq, m.id))
        .collect();
    if let Some(&(seq, _)) = from_removed.iter().find(|(seq, _)| *seq > removal_seq) {
        panic!("a message of the removed member at seq {seq}, after the removal at seq {removal_seq}");
    }
    let mut expected: Vec<(u64, MessageId)> = acknowledged.iter().map(|m| (m.seq, m.id)).collect();
    from_removed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        from_removed, expected,
        "exactly the acknowledged sends are stored, once each"
    );
    assert_consistent(fx, 0, group).await;
}
