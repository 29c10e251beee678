//! The message resource: a message as one reader sees it, with its quote, its reactions
//! (`me` for that reader) and, on the reader's own messages, how far it got.

use chat_core::rules::Receipts;
use chat_core::{AttachedFile, ConversationId, ConversationKind, MessageKind, MessageView, ReplyPreview, UserId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::resources::{UserResource, timestamp};

/// A user's message or one the host posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKindResource {
    /// Sent by a participant.
    User,
    /// Posted by the host ("Order #123 shipped"): no sender.
    System,
}

/// Where the reader's own message got in a direct conversation: `sent` (stored), `delivered`
/// (reached one of the other user's devices), `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Stored, not yet on the other user's devices.
    Sent,
    /// On one of the other user's devices.
    Delivered,
    /// Read by the other user.
    Read,
}

impl DeliveryStatus {
    fn of(receipts: Receipts) -> Self {
        if receipts.read > 0 {
            Self::Read
        } else if receipts.delivered > 0 {
            Self::Delivered
        } else {
            Self::Sent
        }
    }
}

/// The message a reply quotes, as it is now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReplyResource {
    /// The original's id.
    pub uuid: Uuid,
    /// Its seq.
    pub seq: u64,
    /// Its sender; `null` for a system message or a deleted original.
    #[schema(required = true)]
    pub sender: Option<UserResource>,
    /// Its text, cut to 280 characters; `null` when deleted (or cleared by the reader).
    #[schema(required = true)]
    pub body: Option<String>,
    /// True when the original is deleted or the reader cleared it.
    pub is_deleted: bool,
}

impl From<&ReplyPreview> for ReplyResource {
    fn from(preview: &ReplyPreview) -> Self {
        Self {
            uuid: *preview.id.as_uuid(),
            seq: preview.seq,
            sender: preview.sender.as_ref().map(UserResource::from),
            body: preview.body.clone(),
            is_deleted: preview.is_deleted,
        }
    }
}

/// One emoji on a message.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReactionResource {
    /// The emoji.
    #[schema(example = "👍")]
    pub emoji: String,
    /// How many users hold it (at least 1).
    pub count: u64,
    /// Whether the reader holds it.
    pub me: bool,
}

/// A file attached to a message (or an upload not yet sent).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AttachmentResource {
    /// The attachment's id: pass it in `attachment_ids` to send it.
    pub uuid: Uuid,
    /// The file name the uploader gave.
    #[schema(example = "bike.png")]
    pub name: String,
    /// The type sniffed from the bytes (never the uploader's claim).
    #[schema(example = "image/png")]
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Width in pixels, for images.
    #[schema(required = true)]
    pub width: Option<u32>,
    /// Height in pixels, for images.
    #[schema(required = true)]
    pub height: Option<u32>,
    /// Where to download it (members only): the router's path, after the mount path the host
    /// configured with `ChatApi::with_mount_path`.
    #[schema(
        example = "/api/v1/chat/conversations/0199a6f1-0000-7000-8000-000000000001/attachments/0199a6f1-0000-7000-8000-000000000002"
    )]
    pub url: String,
}

impl AttachmentResource {
    /// The resource of `file` in `conversation`, with its download path under `mount_path`.
    pub fn new(file: &AttachedFile, conversation: ConversationId, mount_path: &str) -> Self {
        Self {
            uuid: *file.id.as_uuid(),
            name: file.name.clone(),
            content_type: file.content_type.clone(),
            size: file.size,
            width: file.width,
            height: file.height,
            url: format!("{mount_path}/conversations/{conversation}/attachments/{}", file.id),
        }
    }
}

/// A message as the reader sees it. A deleted message keeps its seq; its body, attachments
/// and reactions are gone.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MessageResource {
    /// The message's id.
    pub uuid: Uuid,
    /// Its conversation.
    pub conversation_uuid: Uuid,
    /// 1, 2, 3… within the conversation; page history by it.
    pub seq: u64,
    /// A user's message or a system message.
    pub kind: MessageKindResource,
    /// Who sent it; `null` for a system message.
    #[schema(required = true)]
    pub sender: Option<UserResource>,
    /// The text, as sent (trimmed); empty once deleted. Render it as text, never as HTML.
    pub body: String,
    /// The sender's retry key.
    #[schema(required = true)]
    pub client_message_id: Option<String>,
    /// The message this one replies to, as it is now; `null` when not a reply.
    #[schema(required = true)]
    pub reply_to: Option<ReplyResource>,
    /// Emoji reactions, by emoji.
    pub reactions: Vec<ReactionResource>,
    /// Its attachments, in the order sent; none once deleted.
    pub attachments: Vec<AttachmentResource>,
    /// Host-defined data.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Whether it was edited.
    pub is_edited: bool,
    /// When it was last edited.
    #[serde(serialize_with = "timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true, example = "2025-10-15T10:30:00.000000Z")]
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether it was deleted.
    pub is_deleted: bool,
    /// When it was stored.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
    /// Only on the reader's own messages in a direct conversation: `sent`, `delivered` or
    /// `read`, from the other user's watermarks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// Only on the reader's own messages in a group: how many other members received it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_count: Option<u64>,
    /// Only on the reader's own messages in a group: how many other members read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_count: Option<u64>,
}

impl MessageResource {
    /// `view` as `reader` sees it: `me` on each reaction, the receipts only when the reader
    /// sent it, attachment URLs under `mount_path` (see `ChatApi::with_mount_path`).
    pub fn for_reader(view: &MessageView, reader: &UserId, mount_path: &str) -> Self {
        let message = &view.message;
        let own = view.is_from(reader);
        let is_direct = view.conversation_kind == ConversationKind::Direct;
        Self {
            uuid: *message.id.as_uuid(),
            conversation_uuid: *message.conversation_id.as_uuid(),
            seq: message.seq,
            kind: match message.kind {
                MessageKind::System => MessageKindResource::System,
                _ => MessageKindResource::User,
            },
            sender: view.sender.as_ref().map(UserResource::from),
            body: message.body.clone(),
            client_message_id: message.client_message_id.clone(),
            reply_to: view.reply_to.as_ref().map(ReplyResource::from),
            reactions: message
                .reactions
                .iter()
                .map(|reaction| ReactionResource {
                    emoji: reaction.emoji.clone(),
                    count: reaction.users.len() as u64,
                    me: reaction.users.contains(reader),
                })
                .collect(),
            attachments: message
                .attachments
                .iter()
                .map(|file| AttachmentResource::new(file, message.conversation_id, mount_path))
                .collect(),
            metadata: message.metadata.clone(),
            is_edited: message.edited_at.is_some(),
            edited_at: message.edited_at,
            is_deleted: message.deleted_at.is_some(),
            created_at: message.created_at,
            status: (own && is_direct).then(|| DeliveryStatus::of(view.receipts)),
            delivered_count: (own && !is_direct).then_some(view.receipts.delivered),
            read_count: (own && !is_direct).then_some(view.receipts.read),
        }
    }
}
