//! An event as the JSON text frame its recipient receives.

use std::sync::Arc;

use chat_core::{ChatError, ChatResult, Event, EventPayload, Identity};

use crate::api::ChatApi;

use crate::resources::{ConversationResource, MessageResource, ReactionResource};
use crate::ws::frames::{DeliveryReceipt, DeliveryReceipts, ReactionSummary, ReadReceipt, Typing, frame_text};

/// The event as the JSON text frame `me` receives.
///
/// Events arrive rendered by the services (one directory batch for all recipients); only
/// the recipient's own fields are picked here, from its row in the event.
/// The participant list of a conversation event comes from `frames`, built once for all
/// the event's local recipients.
pub(super) fn render(me: &Identity, event: &Arc<Event>, api: &ChatApi) -> ChatResult<String> {
    let frames = &api.event_frames;
    let conversation = Some(event.conversation_id);
    let kind = event.payload.type_name();
    let text = match &event.payload {
        EventPayload::ConversationCreated(view) | EventPayload::ConversationUpdated(view) => frame_text(
            kind,
            conversation,
            Some(ConversationResource::for_viewer_with(
                view,
                &me.user,
                frames.participants(event, view),
            )),
        ),
        EventPayload::MessageCreated(view)
        | EventPayload::MessageUpdated(view)
        | EventPayload::MessageDeleted(view) => frame_text(
            kind,
            conversation,
            Some(MessageResource::for_reader(view, &me.user, api.mount_path())),
        ),
        EventPayload::ConversationDelivered { receipts } => frame_text(
            kind,
            conversation,
            Some(DeliveryReceipts {
                receipts: receipts
                    .iter()
                    .map(|receipt| DeliveryReceipt {
                        user: receipt.user.as_str(),
                        seq: receipt.seq,
                        delivered_at: receipt.delivered_at,
                    })
                    .collect(),
            }),
        ),
        EventPayload::MessageReactions {
            message,
            seq,
            reactions,
        } => frame_text(
            kind,
            conversation,
            Some(ReactionSummary {
                message_uuid: *message.as_uuid(),
                seq: *seq,
                reactions: reactions
                    .iter()
                    .map(|reaction| ReactionResource {
                        emoji: reaction.emoji.clone(),
                        count: reaction.users.len() as u64,
                        me: reaction.users.contains(&me.user),
                    })
                    .collect(),
            }),
        ),
        EventPayload::ConversationRead { user, seq, read_at } => frame_text(
            kind,
            conversation,
            Some(ReadReceipt {
                user: user.as_str(),
                seq: *seq,
                read_at: *read_at,
            }),
        ),
        EventPayload::Typing { user, expires_at } => frame_text(
            kind,
            conversation,
            Some(Typing {
                user: user.as_str(),
                expires_at: *expires_at,
            }),
        ),
        other => {
            // A kind this crate does not know yet: its own serialization's `data`.
            let mut value = serde_json::to_value(other).map_err(ChatError::backend)?;
            let data = value.get_mut("data").map(serde_json::Value::take);
            frame_text(kind, conversation, data)
        }
    };
    Ok(text)
}
