//! System messages: posted by the host with no sender, unread for every member.

use std::sync::Arc;

use crate::error::ChatError;
use crate::events::EventPayload;
use crate::ids::ConversationId;
use crate::model::MessageKind;
use crate::service::SystemMessage;
use crate::store::Store;

use super::super::fixtures::{Fixture, fresh_tenant};

/// A system message lands in the conversation with no sender, counts as unread for every
/// member (the creator too), moves the conversation to the top of every inbox and
/// un-archives it; `message.created` goes to every member. Another tenant's host cannot
/// post into it, and nobody can edit or delete it.
pub async fn system_messages_are_unread_for_everyone_and_unarchive(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let order = fx.group(0, &[1, 2]).await;
    fx.send(1, order, "When will it ship?").await;
    let newer = fx.direct(1, 2).await;
    fx.send(2, newer, "newer").await;
    conversations.archive(fx.user(2), order).await.expect("archive");
    conversations.mark_read(fx.user(0), order, None).await.expect("read");
    fx.bus.take();

    let view = messages
        .send_system(&fx.tenant, order, SystemMessage::text("Order #123 shipped"))
        .await
        .expect("system message");
    assert_eq!(view.message.kind, MessageKind::System);
    assert_eq!(view.message.sender, None);
    assert!(view.sender.is_none());
    assert_eq!(view.message.seq, 2);
    let events = fx.bus.take();
    let created = events
        .iter()
        .find(|event| matches!(event.payload, EventPayload::MessageCreated(_)))
        .expect("message.created");
    assert_eq!(created.recipients.len(), 3, "every member hears of it");

    for (user, unread) in [(0, 1), (1, 1), (2, 2)] {
        let view = conversations.get(fx.user(user), order).await.expect("get");
        assert_eq!(view.unread_count(), unread, "u{user}");
        assert!(!view.is_archived(), "u{user}: un-archived");
        let inbox = conversations
            .inbox(fx.user(user), Default::default())
            .await
            .expect("inbox");
        assert_eq!(
            inbox.first().map(|row| row.conversation.id),
            Some(order),
            "u{user}: on top"
        );
    }
    let preview = conversations
        .get(fx.user(1), order)
        .await
        .expect("get")
        .conversation
        .last_message
        .expect("preview");
    assert_eq!((preview.text.as_str(), preview.sender), ("Order #123 shipped", None));
    let read = conversations.mark_read(fx.user(1), order, None).await.expect("read");
    assert_eq!(read.unread_count(), 0);

    assert!(matches!(
        messages.edit(fx.user(0), order, view.message.id, "forged").await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(matches!(
        messages.delete(fx.user(0), order, view.message.id).await,
        Err(ChatError::PermissionDenied { .. })
    ));
    assert!(
        matches!(
            messages
                .send_system(&fresh_tenant(), order, SystemMessage::text("x"))
                .await,
            Err(ChatError::NotFound { what: "conversation" })
        ),
        "another tenant's host cannot post into it"
    );
    assert!(matches!(
        messages
            .send_system(&fx.tenant, ConversationId::new_v7(), SystemMessage::text("x"))
            .await,
        Err(ChatError::NotFound { what: "conversation" })
    ));
    assert!(matches!(
        messages.send_system(&fx.tenant, order, SystemMessage::text("   ")).await,
        Err(ChatError::Validation(errors)) if errors.fields().contains_key("body")
    ));
    let stored = conversations.get(fx.user(1), order).await.expect("get");
    assert_eq!(stored.conversation.last_seq, 2, "refused system messages store nothing");
}
