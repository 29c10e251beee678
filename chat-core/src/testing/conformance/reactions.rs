//! Reactions (invariant 10): each user holds an emoji on a message at most once, the count
//! is the number of holders, only members react, and reactions move neither the inbox
//! order nor any unread count.

use std::sync::Arc;

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::ids::MessageId;
use crate::limits::Limits;
use crate::store::Store;

use super::super::fixtures::Fixture;

/// Reacting is idempotent and per user, tells every member once per change, needs
/// membership, stops at deleted messages and at the distinct-emoji limit, and leaves the
/// inbox and badges alone; deleting a message drops its reactions.
pub async fn reactions_are_per_user_idempotent_and_leave_inbox_and_badges_alone(store: Arc<dyn Store>) {
    let limits = Limits {
        reactions_per_message: 3,
        ..Limits::default()
    };
    let fx = Fixture::with_limits(store, 3, limits);
    let messages = fx.messages();
    let conversations = fx.conversations();
    let conversation = fx.direct(0, 1).await;
    let message = fx.send(0, conversation, "Photo of the bike attached").await;
    let newer = fx.direct(0, 2).await;
    fx.send(2, newer, "newer activity").await;
    let inbox_before: Vec<_> = conversations
        .inbox(fx.user(0), Default::default())
        .await
        .expect("inbox")
        .iter()
        .map(|view| view.conversation.id)
        .collect();
    let stats_before = (
        conversations.stats(fx.user(0)).await.expect("stats"),
        conversations.stats(fx.user(1)).await.expect("stats"),
    );
    let record_before = conversations.get(fx.user(1), conversation).await.expect("get");
    fx.bus.take();

    let view = messages
        .react(fx.user(1), conversation, message.id, "👍")
        .await
        .expect("react");
    assert_eq!(view.message.reactions.len(), 1);
    assert_eq!(view.message.reactions[0].users, [fx.user(1).user.clone()]);
    let events = fx.bus.take();
    assert_eq!(events.len(), 1, "one event per change");
    assert!(
        matches!(&events[0].payload, EventPayload::MessageReactions { message: id, reactions, .. }
        if *id == message.id && reactions.len() == 1)
    );
    assert_eq!(events[0].recipients.len(), 2, "every member hears of it");

    let again = messages
        .react(fx.user(1), conversation, message.id, "👍")
        .await
        .expect("again");
    assert_eq!(again.message.reactions, view.message.reactions, "held once");
    assert!(fx.bus.take().is_empty(), "no change, no event");
    messages
        .react(fx.user(0), conversation, message.id, "👍")
        .await
        .expect("u0");
    let both = messages
        .react(fx.user(0), conversation, message.id, "❤️")
        .await
        .expect("u0 heart");
    let counts: Vec<(&str, usize)> = both
        .message
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.users.len()))
        .collect();
    assert_eq!(counts, [("❤️", 1), ("👍", 2)]);

    assert!(
        matches!(
            messages.react(fx.user(2), conversation, message.id, "👍").await,
            Err(ChatError::NotFound { what: "conversation" })
        ),
        "a non-member gets the answer of a missing conversation"
    );
    assert!(matches!(
        messages
            .react(fx.user(1), conversation, MessageId::new_v7(), "👍")
            .await,
        Err(ChatError::NotFound { what: "message" })
    ));
    assert!(matches!(
        messages.react(fx.user(1), conversation, message.id, "thumbs").await,
        Err(ChatError::Validation(errors)) if errors.fields().contains_key("emoji")
    ));
    messages
        .react(fx.user(1), conversation, message.id, "🎉")
        .await
        .expect("third emoji");
    assert!(
        matches!(
            messages.react(fx.user(1), conversation, message.id, "🚲").await,
            Err(ChatError::Validation(errors)) if errors.fields().contains_key("emoji")
        ),
        "a fourth distinct emoji is past the limit"
    );
    let last = messages
        .react(fx.user(1), conversation, message.id, "❤️")
        .await
        .expect("an existing emoji always works");
    let unheld = messages
        .unreact(fx.user(1), conversation, message.id, "🚲")
        .await
        .expect("dropping an emoji one does not hold changes nothing");
    assert_eq!(unheld.message.reactions, last.message.reactions);
    let history = messages
        .history(fx.user(1), conversation, None, None, None)
        .await
        .expect("history");
    assert_eq!(
        history[0].message.reactions, last.message.reactions,
        "history reads them back"
    );
    let inbox_after: Vec<_> = conversations
        .inbox(fx.user(0), Default::default())
        .await
        .expect("inbox")
        .iter()
        .map(|view| view.conversation.id)
        .collect();
    assert_eq!(inbox_after, inbox_before, "reactions do not move the inbox");
    let record_after = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(
        record_after.conversation.last_activity_at,
        record_before.conversation.last_activity_at
    );
    assert_eq!(
        record_after.conversation.updated_at,
        record_before.conversation.updated_at
    );
    let stats_after = (
        conversations.stats(fx.user(0)).await.expect("stats"),
        conversations.stats(fx.user(1)).await.expect("stats"),
    );
    assert_eq!(stats_after, stats_before, "reactions leave every badge alone");

    messages
        .unreact(fx.user(0), conversation, message.id, "❤️")
        .await
        .expect("unreact");
    let deleted = messages
        .delete(fx.user(0), conversation, message.id)
        .await
        .expect("delete");
    assert!(deleted.message.reactions.is_empty(), "deleting drops the reactions");
    assert!(matches!(
        messages.react(fx.user(1), conversation, message.id, "👍").await,
        Err(ChatError::Conflict { .. })
    ));
    let history = messages
        .history(fx.user(1), conversation, None, None, None)
        .await
        .expect("history");
    assert!(history[0].message.reactions.is_empty());
}

/// 16 tasks of 16 users toggle the same emoji on one message many times, each ending held
/// or dropped: the stored holders are exactly the users whose last toggle held it, each once.
pub async fn sixteen_tasks_toggling_one_reaction_end_consistent(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 16);
    let members: Vec<usize> = (1..16).collect();
    let conversation = fx.group(0, &members).await;
    let message = fx.send(0, conversation, "vote with 👍").await;
    let tasks: Vec<_> = (0..16)
        .map(|user| {
            let fx = fx.clone();
            tokio::spawn(async move {
                let messages = fx.messages();
                for round in 0..6 {
                    let result = if round % 2 == 0 {
                        messages.react(fx.user(user), conversation, message.id, "👍").await
                    } else {
                        messages.unreact(fx.user(user), conversation, message.id, "👍").await
                    };
                    result.expect("toggle");
                }
                if user % 2 == 0 {
                    messages
                        .react(fx.user(user), conversation, message.id, "👍")
                        .await
                        .expect("final react");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let history = fx
        .messages()
        .history(fx.user(3), conversation, None, None, None)
        .await
        .expect("history");
    let reactions = &history[0].message.reactions;
    assert_eq!(reactions.len(), 1);
    let mut expected: Vec<_> = (0..16)
        .filter(|user| user % 2 == 0)
        .map(|user| fx.user(user).user.clone())
        .collect();
    expected.sort();
    assert_eq!(
        reactions[0].users, expected,
        "exactly the users whose last toggle held it"
    );
}
