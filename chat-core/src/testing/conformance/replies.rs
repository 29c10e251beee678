//! Quoted replies: a reply names an earlier visible message of the same conversation, and
//! readers see the original as it is when they read (invariant 7 for replies).

use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::{ConversationId, MessageId};
use crate::service::SendMessage;
use crate::store::Store;
use crate::view::MessageView;

use super::super::fixtures::Fixture;

fn is_reply_to_error(result: Result<crate::service::Sent, ChatError>) -> bool {
    matches!(&result, Err(ChatError::Validation(errors))
        if errors.fields().keys().collect::<Vec<_>>() == ["reply_to"]
        && errors.fields()["reply_to"] == ["no such message in this conversation"])
}

async fn history_of(fx: &Fixture, user: usize, conversation: ConversationId) -> Vec<MessageView> {
    fx.messages()
        .history(fx.user(user), conversation, None, None, Some(100))
        .await
        .expect("history")
        .items
}

/// A reply quotes a message of its conversation; another conversation's message, an unknown
/// id, a deleted message and one the sender cleared are one and the same 422 on `reply_to`
/// that stores nothing; a resend keeps the first reply's quote; readers see edits and
/// deletes of the original, and a reader who cleared it sees it as gone.
pub async fn replies_quote_a_visible_message_of_the_same_conversation(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let messages = fx.messages();
    let conversation = fx.group(0, &[1, 2]).await;
    let elsewhere = fx.direct(0, 1).await;
    let original = fx.send(0, conversation, "Is the bike still for sale?").await;
    let second = fx.send(2, conversation, "second").await;
    let foreign = fx.send(0, elsewhere, "in another conversation").await;

    let reply = messages
        .send(
            fx.user(1),
            conversation,
            SendMessage::text("Yes, it is")
                .replying_to(original.id)
                .with_client_message_id("r1"),
        )
        .await
        .expect("reply");
    let quoted = reply.message.reply_to.clone().expect("the answer carries the quote");
    assert_eq!((quoted.id, quoted.seq), (original.id, original.seq));
    assert_eq!(quoted.body.as_deref(), Some("Is the bike still for sale?"));
    assert_eq!(quoted.sender.as_ref().map(|p| &p.id), Some(&fx.user(0).user));
    assert!(!quoted.is_deleted);
    let created = fx.bus.events().into_iter().rev().find_map(|event| match event.payload {
        crate::events::EventPayload::MessageCreated(view) => Some(view),
        _ => None,
    });
    assert_eq!(
        created.and_then(|view| view.reply_to),
        Some(quoted.clone()),
        "the event carries it too"
    );

    // The resend keeps the first quote, whatever it names now.
    let again = messages
        .send(
            fx.user(1),
            conversation,
            SendMessage::text("Yes, it is")
                .replying_to(second.id)
                .with_client_message_id("r1"),
        )
        .await
        .expect("resend");
    assert!(!again.created);
    assert_eq!(again.message.message.reply_to.map(|r| r.id), Some(original.id));

    let before = fx.conversations().get(fx.user(1), conversation).await.expect("get");
    for wanted in [foreign.id, MessageId::new_v7()] {
        let refused = messages
            .send(fx.user(1), conversation, SendMessage::text("x").replying_to(wanted))
            .await;
        assert!(
            is_reply_to_error(refused),
            "{wanted} is not a message of this conversation"
        );
    }
    messages
        .delete(fx.user(2), conversation, second.id)
        .await
        .expect("delete");
    let deleted = messages
        .send(fx.user(1), conversation, SendMessage::text("x").replying_to(second.id))
        .await;
    assert!(is_reply_to_error(deleted), "a deleted message takes no replies");
    let after = fx.conversations().get(fx.user(1), conversation).await.expect("get");
    assert_eq!(
        after.conversation.last_seq, before.conversation.last_seq,
        "nothing stored"
    );

    // The original is read as it is now.
    messages
        .edit(fx.user(0), conversation, original.id, "Is the red bike still for sale?")
        .await
        .expect("edit");
    let page = history_of(&fx, 2, conversation).await;
    let shown = page
        .iter()
        .find(|view| view.message.id == reply.message.message.id)
        .expect("reply listed");
    let preview = shown.reply_to.as_ref().expect("quote");
    assert_eq!(
        preview.body.as_deref(),
        Some("Is the red bike still for sale?"),
        "the edit shows"
    );

    // Cleared by a reader: gone for that reader only; a quote of it is refused to them.
    fx.conversations()
        .clear_history(fx.user(2), conversation)
        .await
        .expect("clear");
    let reply_after_clear = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("still here?").replying_to(original.id),
        )
        .await
        .expect("u0 has not cleared it");
    let page = history_of(&fx, 2, conversation).await;
    let shown = page
        .iter()
        .find(|view| view.message.id == reply_after_clear.message.message.id)
        .expect("new reply listed");
    let preview = shown.reply_to.as_ref().expect("quote");
    assert!(
        preview.is_deleted && preview.body.is_none() && preview.sender.is_none(),
        "{preview:?}"
    );
    let refused = messages
        .send(
            fx.user(2),
            conversation,
            SendMessage::text("x").replying_to(original.id),
        )
        .await;
    assert!(
        is_reply_to_error(refused),
        "a message the sender cleared takes no replies from them"
    );

    messages
        .delete(fx.user(0), conversation, original.id)
        .await
        .expect("delete original");
    let page = history_of(&fx, 1, conversation).await;
    let shown = page
        .iter()
        .find(|view| view.message.id == reply.message.message.id)
        .expect("reply listed");
    let preview = shown.reply_to.as_ref().expect("quote");
    assert!(
        preview.is_deleted && preview.body.is_none(),
        "a deleted original shows as deleted"
    );
    assert_eq!(preview.id, original.id);
}
