//! Postgres text cannot hold NUL, which the services let through in bodies and metadata:
//! PgStore answers with a validation error naming the field (like a limit), never a 500, and
//! stores and publishes nothing.

mod common;

use chat_core::testing::Fixture;
use chat_core::{ChatError, SendMessage};

fn fields(error: ChatError) -> Vec<String> {
    match error {
        ChatError::Validation(errors) => errors.fields().keys().cloned().collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_invalid_input() {
    let Some(store) = common::conformance_store().await else {
        return;
    };
    let fx = Fixture::new(store, 2);
    let conversation = fx.direct(0, 1).await;
    let sent = fx.send(0, conversation, "fine").await;
    fx.bus.take();
    let messages = fx.messages();
    let error = messages
        .send(fx.user(0), conversation, SendMessage::text("a\0b"))
        .await
        .expect_err("NUL in a body");
    assert_eq!(fields(error), ["body"]);
    let mut input = SendMessage::text("ok");
    input
        .metadata
        .insert("k".into(), serde_json::json!({"nested": ["x\u{0}"]}));
    let error = messages
        .send(fx.user(0), conversation, input)
        .await
        .expect_err("NUL in metadata");
    assert_eq!(fields(error), ["metadata"]);
    let error = messages
        .edit(fx.user(0), conversation, sent.id, "b\0")
        .await
        .expect_err("NUL in an edit");
    assert_eq!(fields(error), ["body"]);
    assert!(fx.bus.events().is_empty(), "nothing published");
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(view.conversation.last_message.map(|m| m.text), Some("fine".to_owned()));
}
