//! Invalid input: a validation error naming the field, with nothing stored or published.

use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::MessageId;
use crate::service::{InboxFilter, NewGroupInput, SendMessage, StartDirect};
use crate::store::Store;
use crate::testing::fixtures::Fixture;

use super::tag;

/// Invalid input is a validation error naming the field; nothing is stored or published.
pub async fn invalid_input_is_a_validation_error_that_changes_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let hello = fx.send(0, conversation, "hello").await;
    fx.bus.take();
    let field_of = |result: Result<(), ChatError>| -> Vec<String> {
        match result {
            Err(ChatError::Validation(errors)) => errors.fields().keys().cloned().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    };
    let u0 = fx.user(0);
    let long = "x".repeat(4001);
    let stranger = crate::ids::UserId::new("not-in-directory").expect("id");
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("   "))
                .await
                .map(drop)
        ),
        ["body"]
    );
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text(long.clone()))
                .await
                .map(drop)
        ),
        ["body"]
    );
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("x").with_client_message_id(""))
                .await
                .map(drop)
        ),
        ["client_message_id"]
    );
    assert_eq!(
        field_of(
            messages
                .send(
                    u0,
                    conversation,
                    SendMessage::text("x").with_client_message_id("caf\u{e9}")
                )
                .await
                .map(drop)
        ),
        ["client_message_id"],
        "a retry key is printable ASCII for a host calling the services too"
    );
    let nul_tag = crate::service::InboxFilter {
        tag: Some(crate::tag::TagFilter {
            taggable_type: "Order\0".into(),
            taggable_id: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        field_of(conversations.inbox(u0, nul_tag).await.map(drop)),
        ["taggable_type"],
        "an inbox tag filter follows the tag rules"
    );
    // NUL characters, which no database text column holds, are refused before any store.
    assert_eq!(
        field_of(
            messages
                .send(u0, conversation, SendMessage::text("a\0b"))
                .await
                .map(drop)
        ),
        ["body"]
    );
    let mut nul_metadata = SendMessage::text("ok");
    nul_metadata
        .metadata
        .insert("k".into(), serde_json::json!({"nested": ["x\u{0}"]}));
    assert_eq!(
        field_of(messages.send(u0, conversation, nul_metadata).await.map(drop)),
        ["metadata"]
    );
    assert_eq!(
        field_of(messages.edit(u0, conversation, hello.id, "b\0").await.map(drop)),
        ["body"],
        "an edit of a real message"
    );
    let mut big = SendMessage::text("x");
    big.metadata
        .insert("blob".into(), serde_json::Value::String("y".repeat(5000)));
    assert_eq!(
        field_of(messages.send(u0, conversation, big).await.map(drop)),
        ["metadata"]
    );
    assert_eq!(
        field_of(messages.edit(u0, conversation, MessageId::new_v7(), "").await.map(drop)),
        ["body"]
    );
    assert_eq!(
        field_of(messages.history(u0, conversation, None, None, Some(0)).await.map(drop)),
        ["limit"]
    );
    assert_eq!(
        field_of(
            messages
                .history(u0, conversation, None, None, Some(101))
                .await
                .map(drop)
        ),
        ["limit"]
    );
    assert_eq!(
        field_of(
            conversations
                .start_direct(u0, StartDirect::with(u0.user.clone()))
                .await
                .map(drop)
        ),
        ["participant_uuid"]
    );
    assert_eq!(
        field_of(
            conversations
                .start_direct(u0, StartDirect::with(stranger.clone()))
                .await
                .map(drop)
        ),
        ["participant_uuid"]
    );
    let long_type = StartDirect::with(fx.user(1).user.clone()).tagged(tag(&"T".repeat(256), 1));
    assert_eq!(
        field_of(conversations.start_direct(u0, long_type).await.map(drop)),
        ["taggable_type"]
    );
    let group = |participants: Vec<crate::ids::UserId>, title: &str| NewGroupInput {
        participants,
        title: title.to_owned(),
        tag: None,
        metadata: Default::default(),
    };
    assert_eq!(
        field_of(conversations.create_group(u0, group(vec![], "t")).await.map(drop)),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![u0.user.clone()], "t"))
                .await
                .map(drop)
        ),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![stranger.clone()], "t"))
                .await
                .map(drop)
        ),
        ["participant_uuids"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![fx.user(1).user.clone()], " "))
                .await
                .map(drop)
        ),
        ["title"]
    );
    assert_eq!(
        field_of(
            conversations
                .create_group(u0, group(vec![fx.user(1).user.clone()], &"t".repeat(201)))
                .await
                .map(drop)
        ),
        ["title"]
    );
    let bad_cursor = InboxFilter {
        cursor: Some("not-a-cursor".into()),
        ..InboxFilter::default()
    };
    assert_eq!(
        field_of(conversations.inbox(u0, bad_cursor).await.map(drop)),
        ["cursor"]
    );
    let bad_limit = InboxFilter {
        limit: Some(0),
        ..InboxFilter::default()
    };
    assert_eq!(field_of(conversations.inbox(u0, bad_limit).await.map(drop)), ["limit"]);
    assert_eq!(field_of(conversations.search(u0, "  ", None).await.map(drop)), ["q"]);
    assert_eq!(field_of(conversations.search(u0, "a\0b", None).await.map(drop)), ["q"]);

    assert!(fx.bus.events().is_empty(), "a refused operation publishes nothing");
    let view = conversations.get(u0, conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(
        view.conversation.last_message.map(|last| last.text),
        Some("hello".to_owned()),
        "the preview is the untouched message"
    );
    assert_eq!(
        conversations
            .inbox(u0, InboxFilter::default())
            .await
            .expect("inbox")
            .items
            .len(),
        1
    );
}
