//! Live events reach exactly their recipients through the in-process bus, and a subscriber
//! that stops reading is told it lagged instead of buffering without bound.

use std::sync::Arc;

use chat_core::testing::{Fixture, MemoryStore};
use chat_core::{
    ChatServices, EventBus, EventPayload, InMemoryDirectory, InProcessEventBus, Profile, Store, StreamError,
};

fn fixture() -> Fixture {
    Fixture::new(Arc::new(MemoryStore::new()) as Arc<dyn Store>, 3)
}

#[tokio::test]
async fn messages_and_typing_reach_participants_only() {
    let fx = fixture();
    let bus = fx.services.event_bus();
    let mut sender_stream = bus.subscribe(&fx.tenant, &fx.user(0).user);
    let mut recipient_stream = bus.subscribe(&fx.tenant, &fx.user(1).user);
    let mut stranger_stream = bus.subscribe(&fx.tenant, &fx.user(2).user);
    let conversation = fx.direct(0, 1).await;
    let sent = fx.send(0, conversation, "hello").await;

    let created = recipient_stream.recv().await.expect("conversation.created");
    assert_eq!(created.payload.type_name(), "conversation.created");
    let message = recipient_stream.recv().await.expect("message.created");
    match &message.payload {
        EventPayload::MessageCreated(received) => assert_eq!(received.message, sent),
        other => panic!("expected message.created, got {other:?}"),
    }
    let updated = recipient_stream.recv().await.expect("conversation.updated");
    match &updated.payload {
        EventPayload::ConversationUpdated(view) => {
            assert_eq!(view.participant(&fx.user(1).user).map(|p| p.unread_count), Some(1));
        }
        other => panic!("expected conversation.updated, got {other:?}"),
    }

    fx.messages().typing(fx.user(0), conversation).await.expect("typing");
    let typing = recipient_stream.recv().await.expect("typing");
    assert!(matches!(&typing.payload, EventPayload::Typing { user, .. } if user == &fx.user(0).user));
    // The typist hears their own message events but not their own typing.
    let own: Vec<&str> = std::iter::from_fn(|| sender_stream.try_recv())
        .map(|event| event.expect("event").payload.type_name())
        .collect();
    assert_eq!(
        own,
        vec!["conversation.created", "message.created", "conversation.updated"]
    );
    assert!(stranger_stream.try_recv().is_none(), "a stranger receives nothing");

    let serialized = serde_json::to_value(&message.payload).expect("json");
    assert_eq!(serialized["type"], "message.created");
    assert_eq!(serialized["data"]["message"]["seq"], 1);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_lags_instead_of_growing() {
    let tenant = chat_core::testing::fixtures::fresh_tenant();
    let (a, b) = (
        chat_core::testing::fixtures::user_id(0),
        chat_core::testing::fixtures::user_id(1),
    );
    let directory = InMemoryDirectory::new()
        .with_profile(&tenant, Profile::new(a.clone(), "A"))
        .with_profile(&tenant, Profile::new(b.clone(), "B"));
    let bus = Arc::new(InProcessEventBus::with_capacity(4));
    let services = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory)).with_event_bus(bus.clone());
    let alice = chat_core::Identity::new(tenant.clone(), a);
    let mut stalled = bus.subscribe(&tenant, &b);
    let (view, _) = services
        .conversations()
        .start_direct(&alice, chat_core::StartDirect::with(b.clone()))
        .await
        .expect("start");
    for n in 0..10 {
        services
            .messages()
            .send(
                &alice,
                view.conversation.id,
                chat_core::SendMessage::text(format!("m{n}")),
            )
            .await
            .expect("send");
    }
    assert!(matches!(stalled.recv().await, Err(StreamError::Lagged { skipped }) if skipped > 0));
}

#[tokio::test]
async fn disconnect_all_ends_subscriptions_after_the_queued_events() {
    let fx = fixture();
    let bus = InProcessEventBus::new();
    let mut stream = bus.subscribe(&fx.tenant, &fx.user(1).user);
    let conversation = fx.direct(0, 1).await;
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    bus.deliver(chat_core::Event {
        tenant: fx.tenant.clone(),
        recipients: vec![fx.user(1).user.clone()],
        conversation_id: conversation,
        payload: EventPayload::ConversationUpdated(view),
    });
    bus.disconnect_all();
    assert!(stream.recv().await.is_ok(), "the queued event still arrives");
    assert!(
        matches!(stream.recv().await, Err(StreamError::Closed)),
        "then the subscriber is told to resubscribe"
    );
    let mut again = bus.subscribe(&fx.tenant, &fx.user(1).user);
    assert!(again.try_recv().is_none());
}

#[tokio::test]
async fn disconnect_ends_only_the_given_users_subscriptions() {
    let fx = fixture();
    let bus = InProcessEventBus::new();
    let mut removed = bus.subscribe(&fx.tenant, &fx.user(1).user);
    let mut bystander = bus.subscribe(&fx.tenant, &fx.user(0).user);
    let other_tenant = chat_core::testing::fixtures::fresh_tenant();
    let mut namesake = bus.subscribe(&other_tenant, &fx.user(1).user);
    let conversation = fx.direct(0, 1).await;
    let view = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    bus.deliver(chat_core::Event {
        tenant: fx.tenant.clone(),
        recipients: vec![fx.user(1).user.clone()],
        conversation_id: conversation,
        payload: EventPayload::ConversationUpdated(view),
    });
    bus.disconnect(&fx.tenant, &[fx.user(1).user.clone()]);
    assert!(removed.recv().await.is_ok(), "the queued event still arrives");
    assert!(
        matches!(removed.recv().await, Err(StreamError::Closed)),
        "then the subscriber is told to resubscribe"
    );
    assert!(bystander.try_recv().is_none(), "another user's subscription goes on");
    assert!(
        namesake.try_recv().is_none(),
        "the same user id in another tenant is another subscriber"
    );
}
