//! Sending and changing messages: a retried send returns the stored message (invariant 3),
//! the preview follows the newest message (invariant 5), only the sender edits or deletes
//! (invariant 7).

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::MessageId;
use crate::service::SendMessage;
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::{all_history, assert_consistent};

/// Invariant 3: a repeated client_message_id returns the stored message and changes nothing,
/// also when the repeats race.
pub async fn repeated_client_message_id_returns_the_stored_message(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversation = fx.direct(0, 1).await;
    let messages = fx.messages();
    let first = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("first").with_client_message_id("k1"),
        )
        .await
        .expect("send");
    assert!(first.created);
    let events_after_first = fx.bus.events().len();
    let repeat = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("different body").with_client_message_id("k1"),
        )
        .await
        .expect("repeat");
    assert!(!repeat.created);
    assert_eq!(repeat.message.message, first.message.message);
    assert_eq!(fx.bus.events().len(), events_after_first, "a repeat publishes nothing");
    let view = fx.conversations().get(fx.user(1), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(view.unread_count(), 1);

    let same_key_other_sender = messages
        .send(
            fx.user(1),
            conversation,
            SendMessage::text("mine").with_client_message_id("k1"),
        )
        .await
        .expect("other sender");
    assert!(same_key_other_sender.created, "the key is per sender");
    let elsewhere = fx.direct(0, 2).await;
    let same_key_other_conversation = messages
        .send(
            fx.user(0),
            elsewhere,
            SendMessage::text("x").with_client_message_id("k1"),
        )
        .await
        .expect("other conversation");
    assert!(same_key_other_conversation.created, "the key is per conversation");

    let mut tasks = Vec::new();
    for n in 0..8 {
        let messages = messages.clone();
        let actor = fx.user(0).clone();
        tasks.push(tokio::spawn(async move {
            messages
                .send(
                    &actor,
                    conversation,
                    SendMessage::text(format!("race {n}")).with_client_message_id("race"),
                )
                .await
                .expect("racing send")
        }));
    }
    let mut ids = HashSet::new();
    let mut creations = 0;
    for task in tasks {
        let sent = task.await.expect("task");
        ids.insert(sent.message.message.id);
        creations += usize::from(sent.created);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(creations, 1);
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 3);
    assert_consistent(&fx, 0, conversation).await;
}

/// Invariant 5: preview, last_seq and last_activity_at describe the newest message; edits
/// and deletes of the newest message update the preview.
pub async fn preview_follows_the_newest_message(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let empty = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        (empty.conversation.last_seq, empty.conversation.last_message.is_none()),
        (0, true)
    );

    let first = fx.send(0, conversation, "first").await;
    let second = fx.send(1, conversation, "second").await;
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    let preview = view.conversation.last_message.clone().expect("preview");
    assert_eq!(
        (preview.id, preview.seq, preview.text.as_str()),
        (second.id, 2, "second")
    );
    assert_eq!(preview.sender.as_ref(), Some(&fx.user(1).user));
    assert_eq!(view.conversation.last_activity_at, second.created_at);
    assert!(second.created_at >= first.created_at);

    messages
        .edit(fx.user(1), conversation, second.id, "second, edited")
        .await
        .expect("edit");
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        view.conversation.last_message.map(|last| last.text),
        Some("second, edited".to_owned())
    );

    let deleted = messages
        .delete(fx.user(1), conversation, second.id)
        .await
        .expect("delete");
    assert!(deleted.message.deleted_at.is_some() && deleted.message.body.is_empty());
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert_eq!(
        view.conversation.last_message.as_ref().map(|last| last.id),
        Some(first.id)
    );
    assert_eq!(view.conversation.last_seq, 2, "a deleted message keeps its seq");
    fx.bus.take();
    let again = messages
        .delete(fx.user(1), conversation, second.id)
        .await
        .expect("delete twice");
    assert_eq!(
        again.message.deleted_at, deleted.message.deleted_at,
        "deleting twice changes nothing"
    );
    assert!(fx.bus.take().is_empty(), "deleting twice tells nobody anything");
    assert!(matches!(
        messages.edit(fx.user(1), conversation, second.id, "zombie").await,
        Err(ChatError::Conflict { .. })
    ));

    messages
        .delete(fx.user(0), conversation, first.id)
        .await
        .expect("delete first");
    let view = conversations.get(fx.user(0), conversation).await.expect("get");
    assert!(view.conversation.last_message.is_none());
    let third = fx.send(0, conversation, "third").await;
    assert_eq!(third.seq, 3);
    let view = conversations.get(fx.user(1), conversation).await.expect("get");
    assert_eq!(view.conversation.last_message.map(|last| last.id), Some(third.id));
    assert_consistent(&fx, 1, conversation).await;
}

/// Invariant 7 (messages): only the sender edits or deletes; message ids from elsewhere
/// are NotFound.
pub async fn only_the_sender_edits_or_deletes(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let other = fx.direct(0, 2).await;
    let mine = fx.send(0, conversation, "mine").await;
    let elsewhere = fx.send(0, other, "elsewhere").await;
    fx.bus.take();
    assert!(matches!(
        messages.edit(fx.user(1), conversation, mine.id, "hijack").await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(matches!(
        messages.delete(fx.user(1), conversation, mine.id).await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(matches!(
        messages
            .edit(fx.user(0), conversation, elsewhere.id, "wrong conversation")
            .await,
        Err(ChatError::NotFound { what: "message" })
    ));
    assert!(matches!(
        messages.delete(fx.user(0), conversation, MessageId::new_v7()).await,
        Err(ChatError::NotFound { what: "message" })
    ));
    assert!(fx.bus.events().is_empty());
    let history = all_history(&fx, 1, conversation).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].body.as_str(), history[0].edited_at, history[0].deleted_at),
        ("mine", None, None)
    );
    let delivered: Vec<&str> = fx.bus.take().iter().map(|event| event.payload.type_name()).collect();
    assert_eq!(delivered, ["conversation.delivered"], "reading history delivers");

    let edited = messages
        .edit(fx.user(0), conversation, mine.id, "  mine, edited ")
        .await
        .expect("edit");
    assert_eq!(edited.message.body, "mine, edited");
    assert!(edited.message.edited_at.is_some());
    let kinds: Vec<&str> = fx.bus.take().iter().map(|event| event.payload.type_name()).collect();
    assert_eq!(kinds, vec!["message.updated", "conversation.updated"]);
}
