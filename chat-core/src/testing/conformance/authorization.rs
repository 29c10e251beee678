//! Who sees what (invariant 7): a non-participant gets NotFound and no events; tenants
//! never see each other.

use std::sync::Arc;

use crate::error::ChatError;
use crate::ids::{ConversationId, MessageId};
use crate::service::{InboxFilter, SendMessage};
use crate::store::Store;
use crate::testing::fixtures::Fixture;

/// Invariant 7: every operation by a non-participant answers NotFound (exactly as an
/// unknown id) and publishes nothing to anyone.
pub async fn non_participants_get_not_found_and_no_events(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 4);
    let direct = fx.direct(0, 1).await;
    let group = fx.group(0, &[1]).await;
    let message = fx.send(0, direct, "secret").await;
    let group_message = fx.send(0, group, "group secret").await;
    let unknown = ConversationId::new_v7();
    let outsider = fx.user(2);
    let conversations = fx.conversations();
    let messages = fx.messages();
    fx.bus.take();

    for (conversation, message_id) in [
        (direct, message.id),
        (group, group_message.id),
        (unknown, MessageId::new_v7()),
    ] {
        let results: Vec<(&str, Result<(), ChatError>)> = vec![
            ("get", conversations.get(outsider, conversation).await.map(drop)),
            (
                "mark_read",
                conversations.mark_read(outsider, conversation, None).await.map(drop),
            ),
            (
                "mark_read up to",
                conversations.mark_read(outsider, conversation, Some(1)).await.map(drop),
            ),
            ("archive", conversations.archive(outsider, conversation).await.map(drop)),
            (
                "unarchive",
                conversations.unarchive(outsider, conversation).await.map(drop),
            ),
            (
                "clear_history",
                conversations.clear_history(outsider, conversation).await.map(drop),
            ),
            (
                "add_participants",
                conversations
                    .add_participants(outsider, conversation, vec![fx.user(3).user.clone()])
                    .await
                    .map(drop),
            ),
            (
                "remove_participant",
                conversations
                    .remove_participant(outsider, conversation, &fx.user(1).user)
                    .await
                    .map(drop),
            ),
            ("leave", conversations.leave(outsider, conversation).await.map(drop)),
            (
                "send",
                messages
                    .send(outsider, conversation, SendMessage::text("let me in"))
                    .await
                    .map(drop),
            ),
            (
                "history",
                messages
                    .history(outsider, conversation, None, None, None)
                    .await
                    .map(drop),
            ),
            (
                "history after",
                messages
                    .history(outsider, conversation, None, Some(0), None)
                    .await
                    .map(drop),
            ),
            (
                "edit",
                messages
                    .edit(outsider, conversation, message_id, "mine now")
                    .await
                    .map(drop),
            ),
            (
                "delete",
                messages.delete(outsider, conversation, message_id).await.map(drop),
            ),
            ("typing", messages.typing(outsider, conversation).await.map(drop)),
        ];
        for (operation, result) in results {
            assert!(
                matches!(result, Err(ChatError::NotFound { what: "conversation" })),
                "{operation} by a non-participant must be NotFound(conversation), got {result:?}"
            );
        }
    }
    assert!(
        fx.bus.events().is_empty(),
        "no event may be published for a refused operation"
    );
    let inbox = conversations
        .inbox(outsider, InboxFilter::default())
        .await
        .expect("inbox");
    assert!(inbox.items.is_empty());
    let search = conversations.search(outsider, "Group", None).await.expect("search");
    assert!(search.is_empty());
    let stats = conversations.stats(outsider).await.expect("stats");
    assert_eq!(stats.total_conversations, 0);
    let view = conversations.get(fx.user(1), direct).await.expect("member still reads");
    assert_eq!(view.conversation.last_seq, 1);
    assert_eq!(view.participants.len(), 2);
}

/// Tenants never see each other, even with the same user ids.
pub async fn tenants_never_see_each_other(store: Arc<dyn Store>) {
    let a = Fixture::new(Arc::clone(&store), 2);
    let b = Fixture::new(store, 2);
    assert_eq!(a.user(0).user, b.user(0).user);
    let in_a = a.direct(0, 1).await;
    a.send(0, in_a, "tenant a").await;
    assert!(
        b.conversations()
            .get(b.user(0), in_a)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        b.messages()
            .send(b.user(0), in_a, SendMessage::text("x"))
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        b.conversations()
            .inbox(b.user(1), InboxFilter::default())
            .await
            .expect("inbox")
            .items
            .is_empty()
    );
    assert_eq!(
        b.conversations()
            .stats(b.user(1))
            .await
            .expect("stats")
            .total_conversations,
        0
    );
    let in_b = b.direct(1, 0).await;
    assert_ne!(in_a, in_b, "the same pair in another tenant is another conversation");
}
