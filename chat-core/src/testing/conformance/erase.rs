//! Erasing a user (invariant 15): nothing of theirs stays (bodies, attachments, reactions,
//! blocks, reports, group memberships, outbox rows), everyone else's counters stay
//! consistent, the other side keeps their own messages, and an erase stopped half-way
//! resumes and finishes.

use std::sync::Arc;

use crate::events::EventPayload;
use crate::model::{ReportReason, Role};
use crate::service::SendMessage;
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::{all_history, assert_consistent};

/// Everything of user 0's goes; users 1..3 keep theirs and consistent counters; a second
/// erase changes nothing.
pub async fn erasing_a_user_leaves_nothing_of_theirs(store: Arc<dyn Store>) {
    let mut fx = Fixture::new(store, 4);
    fx.services = fx
        .services
        .clone()
        .with_notifications(std::time::Duration::from_secs(3600));
    let (erased, tenant) = (fx.user(0).user.clone(), fx.tenant.clone());
    let direct = fx.direct(0, 1).await;
    let photo = fx.upload(0, direct, "me.txt", b"my face").await.expect("upload");
    fx.messages()
        .send(
            fx.user(0),
            direct,
            SendMessage::text("my photo").with_attachments([photo.id]),
        )
        .await
        .expect("send with attachment");
    fx.send(0, direct, "my phone is 600 000 000").await;
    let answer = fx.send(1, direct, "thanks").await;
    fx.send(1, direct, "unread by u0").await;
    fx.messages()
        .react(fx.user(0), direct, answer.id, "👍")
        .await
        .expect("react");
    fx.messages()
        .react(fx.user(1), direct, answer.id, "🎉")
        .await
        .expect("react");
    let theirs = fx.group(1, &[0, 2]).await;
    fx.send(0, theirs, "hi all").await;
    fx.send(2, theirs, "hello").await;
    let owned = fx.group(0, &[2, 3]).await;
    fx.send(0, owned, "welcome").await;
    fx.send(3, owned, "thanks for the group").await;
    let unsent = fx
        .upload(0, direct, "draft.txt", b"not sent yet")
        .await
        .expect("upload");
    fx.services
        .blocks()
        .block(fx.user(0), fx.user(3).user.clone())
        .await
        .expect("block");
    fx.services
        .reports()
        .report(fx.user(0), direct, answer.id, ReportReason::Other, None)
        .await
        .expect("report");

    fx.bus.take();
    let report = fx.services.erase_user(&tenant, &erased).await.expect("erase");
    assert!(report.done);
    // Live clients hear of it: each deleted message, the reaction that left, the groups.
    let events = fx.bus.take();
    let deleted_for_u1 = events
        .iter()
        .filter(|event| event.conversation_id == direct && event.recipients.contains(&fx.user(1).user))
        .filter(|event| matches!(event.payload, EventPayload::MessageDeleted(_)))
        .count();
    assert_eq!(deleted_for_u1, 2, "both of u0's direct messages are deleted live");
    assert!(
        events
            .iter()
            .any(|event| event.conversation_id == direct
                && matches!(event.payload, EventPayload::MessageReactions { .. }))
    );
    assert!(events.iter().any(|event| event.conversation_id == owned
        && event.recipients.contains(&fx.user(2).user)
        && matches!(event.payload, EventPayload::ConversationUpdated(_))));
    assert_eq!((report.messages_deleted, report.groups_left), (4, 2), "{report:?}");

    for (conversation, viewer) in [(direct, 1), (theirs, 2), (owned, 2)] {
        let history = all_history(&fx, viewer, conversation).await;
        for message in &history {
            if message.sender.as_ref() == Some(&erased) {
                assert!(message.deleted_at.is_some() && message.body.is_empty(), "{message:?}");
                assert!(message.attachments.is_empty());
            }
            assert!(
                message
                    .reactions
                    .iter()
                    .all(|reaction| !reaction.users.contains(&erased)),
                "{message:?}"
            );
        }
        let others: Vec<&str> = history
            .iter()
            .filter(|message| message.sender.as_ref() != Some(&erased))
            .map(|message| message.body.as_str())
            .collect();
        assert!(
            others.iter().all(|body| !body.is_empty()),
            "others keep their words: {others:?}"
        );
        assert_consistent(&fx, viewer, conversation).await;
    }
    let reaction_left = all_history(&fx, 1, direct).await;
    let thanks = reaction_left
        .iter()
        .find(|message| message.id == answer.id)
        .expect("thanks");
    assert_eq!(thanks.reactions.len(), 1, "only u1's own reaction stays: {thanks:?}");
    assert!(
        fx.services
            .attachments()
            .download(fx.user(1), direct, photo.id, crate::service::DownloadRequest::default())
            .await
            .is_err(),
        "the attachment is unreadable"
    );
    assert!(
        fx.services
            .attachments()
            .download(
                fx.user(0),
                direct,
                unsent.id,
                crate::service::DownloadRequest::default()
            )
            .await
            .is_err(),
        "the upload not sent is discarded"
    );
    for group in [theirs, owned] {
        assert!(
            fx.conversations()
                .get(fx.user(0), group)
                .await
                .is_err_and(|e| e.is_not_found())
        );
    }
    let owned_view = fx.conversations().get(fx.user(2), owned).await.expect("get");
    assert!(
        owned_view
            .participants
            .iter()
            .any(|p| p.participant.role == Role::Owner && p.participant.user != erased),
        "ownership passed on"
    );
    let direct_view = fx
        .conversations()
        .get(fx.user(0), direct)
        .await
        .expect("the direct conversation stays");
    let me = direct_view.me().expect("u0's row");
    assert_eq!(
        (me.unread_count, me.pending_notification),
        (0, None),
        "no outbox row stays"
    );
    assert!(fx.services.blocks().list(fx.user(0)).await.expect("blocks").is_empty());
    assert!(
        fx.services
            .reports()
            .list(fx.user(0))
            .await
            .expect("reports")
            .is_empty()
    );
    let stats = fx.conversations().stats(fx.user(0)).await.expect("stats");
    assert_eq!((stats.total_conversations, stats.unread_messages), (1, 0));

    let again = fx.services.erase_user(&tenant, &erased).await.expect("erase again");
    assert!(again.done);
    assert_eq!(
        (again.messages_deleted, again.messages_unreacted, again.groups_left),
        (0, 0, 0)
    );
}

/// An erase of a user with more messages than three batches, stopped after one batch and
/// again after another, leaves consistent counters at each stop and finishes when resumed.
pub async fn an_interrupted_erase_resumes_and_finishes(store: Arc<dyn Store>) {
    const MINE: usize = 2 * crate::service::ERASE_BATCH + 50;
    let fx = Fixture::new(store, 2);
    let (erased, tenant) = (fx.user(0).user.clone(), fx.tenant.clone());
    let direct = fx.direct(0, 1).await;
    for n in 0..MINE {
        fx.send(0, direct, &format!("mine {n}")).await;
        if n % 50 == 0 {
            fx.send(1, direct, &format!("theirs {n}")).await;
        }
    }
    let mut deleted = 0;
    for stop in 1..=2 {
        let partial = fx
            .services
            .erase_user_in_batches(&tenant, &erased, 1)
            .await
            .expect("one batch");
        assert!(!partial.done, "stop {stop}");
        deleted += partial.messages_deleted;
        assert_consistent(&fx, 1, direct).await;
        let left = all_history(&fx, 1, direct)
            .await
            .iter()
            .filter(|message| message.sender.as_ref() == Some(&erased) && message.deleted_at.is_none())
            .count();
        assert_eq!(
            left,
            MINE - deleted,
            "stop {stop}: batches are bounded and resumed where they stopped"
        );
    }
    let rest = fx.services.erase_user(&tenant, &erased).await.expect("resume");
    assert!(rest.done);
    assert_eq!(
        deleted + rest.messages_deleted,
        MINE,
        "every message of theirs is deleted once"
    );
    let history = all_history(&fx, 1, direct).await;
    assert!(
        history
            .iter()
            .all(|message| (message.sender.as_ref() == Some(&erased)) == message.body.is_empty())
    );
    assert_consistent(&fx, 1, direct).await;
    assert_consistent(&fx, 0, direct).await;
}
