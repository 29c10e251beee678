//! The frame types, both ways: what a client sends ([`ClientFrame`]) and what the server
//! sends ([`ServerFrame`] with its `data`, [`ErrorFrame`]), and [`frame_text`], a server
//! frame as JSON text.

use chat_core::ConversationId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::resources::timestamp;

/// A frame the client sends: `{"type": "typing" | "read" | "delivered" | "ping", ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientFrame {
    #[serde(rename = "type")]
    pub(super) kind: ClientFrameKind,
    /// The conversation of `typing`, `read` and `delivered`.
    #[serde(default)]
    pub(super) conversation_uuid: Option<Uuid>,
    /// For `read` and `delivered`: up to this seq (default: the newest message).
    #[serde(default, deserialize_with = "crate::resources::optional_seq")]
    pub(super) up_to_seq: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ClientFrameKind {
    /// The client is typing in a conversation.
    Typing,
    /// The client read a conversation up to a seq or the newest message.
    Read,
    /// Messages of a conversation up to a seq (or the newest) reached the client.
    Delivered,
    /// Keep-alive at the application level; answered with `pong`.
    Ping,
}

/// A frame the server sends.
#[derive(Debug, Serialize)]
struct ServerFrame<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_uuid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// `data` of `conversation.read`.
#[derive(Debug, Serialize)]
pub(super) struct ReadReceipt<'a> {
    pub(super) user: &'a str,
    pub(super) seq: u64,
    #[serde(serialize_with = "timestamp::serialize")]
    pub(super) read_at: DateTime<Utc>,
}

/// `data` of `conversation.delivered`: the receipts written together.
#[derive(Debug, Serialize)]
pub(super) struct DeliveryReceipts<'a> {
    pub(super) receipts: Vec<DeliveryReceipt<'a>>,
}

/// One receipt of `conversation.delivered`.
#[derive(Debug, Serialize)]
pub(super) struct DeliveryReceipt<'a> {
    pub(super) user: &'a str,
    pub(super) seq: u64,
    #[serde(serialize_with = "timestamp::serialize")]
    pub(super) delivered_at: DateTime<Utc>,
}

/// `data` of `message.reactions`: the message's whole summary, `me` for the recipient.
#[derive(Debug, Serialize)]
pub(super) struct ReactionSummary {
    pub(super) message_uuid: Uuid,
    pub(super) seq: u64,
    pub(super) reactions: Vec<crate::resources::ReactionResource>,
}

/// `data` of `typing`.
#[derive(Debug, Serialize)]
pub(super) struct Typing<'a> {
    pub(super) user: &'a str,
    #[serde(serialize_with = "timestamp::serialize")]
    pub(super) expires_at: DateTime<Utc>,
}

/// `type: error`.
#[derive(Debug, Serialize)]
pub(super) struct ErrorFrame {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) errors: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// The server frame `{"type", "conversation_uuid"?, "data"?}` as JSON text.
pub(super) fn frame_text<T: Serialize>(
    kind: &'static str,
    conversation: Option<ConversationId>,
    data: Option<T>,
) -> String {
    let frame = ServerFrame {
        kind,
        conversation_uuid: conversation.map(|id| *id.as_uuid()),
        data,
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| format!("{{\"type\":\"{kind}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse() {
        let uuid = Uuid::now_v7();
        let frame: ClientFrame = serde_json::from_str(&format!(
            r#"{{"type":"read","conversation_uuid":"{uuid}","up_to_seq":3}}"#
        ))
        .expect("read");
        assert_eq!(frame.kind, ClientFrameKind::Read);
        assert_eq!(frame.up_to_seq, Some(3));
        assert_eq!(frame.conversation_uuid, Some(uuid));
        let frame: ClientFrame = serde_json::from_str(r#"{"type":"ping"}"#).expect("ping");
        assert_eq!(frame.kind, ClientFrameKind::Ping);
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","x":1}"#).is_err());
        assert_eq!(frame_text::<()>("pong", None, None), r#"{"type":"pong"}"#);
    }
}
