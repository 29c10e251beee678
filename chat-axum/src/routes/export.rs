//! `GET /me/export`: the caller's own data as one JSON document, streamed conversation by
//! conversation ([`chat_core::service::ExportService`]).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chat_core::service::{ExportService, ExportedConversation};
use chat_core::{ConversationId, Identity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::resources::{AttachmentResource, KindResource, TaggableIdValue, UserResource, timestamp};
use crate::routes::blocks::BlockResource;
use crate::routes::reports::ReportResource;

/// The export document (what `GET /me/export` streams).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportDocument {
    /// "Your data."
    pub message: String,
    /// The data.
    pub data: ExportData,
}

/// The caller's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportData {
    /// The caller.
    pub user_uuid: String,
    /// When the export began.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub exported_at: DateTime<Utc>,
    /// The users the caller has blocked, by user id.
    pub blocks: Vec<BlockResource>,
    /// The caller's reports of others' messages, by message id.
    pub reports: Vec<ReportResource>,
    /// Every conversation the caller is in, archived ones too, newest activity first.
    pub conversations: Vec<ExportedConversationResource>,
}

/// One conversation of the export: the caller's part of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedConversationResource {
    /// The conversation's id.
    pub uuid: Uuid,
    /// Direct or group.
    pub kind: KindResource,
    /// A group's title.
    #[schema(required = true)]
    pub title: Option<String>,
    /// The kind of host object it is about.
    #[schema(required = true)]
    pub taggable_type: Option<String>,
    /// The host object's id.
    #[schema(required = true)]
    pub taggable_id: Option<TaggableIdValue>,
    /// When it was started.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
    /// Everyone in it: public profiles only.
    pub participants: Vec<UserResource>,
    /// When the caller joined.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub joined_at: DateTime<Utc>,
    /// The caller's read watermark.
    pub last_read_seq: u64,
    /// Whether the caller archived it.
    pub is_archived: bool,
    /// The caller cleared their history up to this seq (0: never).
    pub cleared_through_seq: u64,
    /// The messages the caller sent that they can still see, oldest first.
    pub messages: Vec<ExportedMessageResource>,
    /// The caller's reactions in it.
    pub reactions: Vec<ExportedReactionResource>,
}

/// A message the caller sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedMessageResource {
    /// The message's id.
    pub uuid: Uuid,
    /// Its seq.
    pub seq: u64,
    /// The text (empty once deleted).
    pub body: String,
    /// The message it replied to, by id only.
    #[schema(required = true)]
    pub reply_to_uuid: Option<Uuid>,
    /// Its files (none once deleted).
    pub attachments: Vec<AttachmentResource>,
    /// When it was sent.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    #[serde(serialize_with = "timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true, example = "2025-10-15T10:30:00.000000Z")]
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether it was deleted.
    pub is_deleted: bool,
}

/// A reaction the caller holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedReactionResource {
    /// The message it is on.
    pub message_uuid: Uuid,
    /// That message's seq.
    pub seq: u64,
    /// The emoji.
    pub emoji: String,
}

impl ExportedConversationResource {
    fn new(exported: &ExportedConversation, mount_path: &str) -> Self {
        let conversation = &exported.conversation;
        let mine = &exported.me;
        let id = conversation.id;
        Self {
            uuid: *id.as_uuid(),
            kind: conversation.kind.into(),
            title: conversation.title.clone(),
            taggable_type: conversation.tag.as_ref().map(|tag| tag.taggable_type.clone()),
            taggable_id: conversation.tag.as_ref().map(|tag| (&tag.taggable_id).into()),
            created_at: conversation.created_at,
            participants: exported.participants.iter().map(UserResource::from).collect(),
            joined_at: mine.joined_at,
            last_read_seq: mine.last_read_seq,
            is_archived: mine.is_archived,
            cleared_through_seq: mine.cleared_through_seq,
            messages: exported
                .messages
                .iter()
                .map(|message| ExportedMessageResource {
                    uuid: *message.id.as_uuid(),
                    seq: message.seq,
                    body: message.body.clone(),
                    reply_to_uuid: message.reply_to.map(|reply| *reply.id.as_uuid()),
                    attachments: message
                        .attachments
                        .iter()
                        .map(|file| AttachmentResource::new(file, id, mount_path))
                        .collect(),
                    created_at: message.created_at,
                    edited_at: message.edited_at,
                    is_deleted: message.deleted_at.is_some(),
                })
                .collect(),
            reactions: exported
                .reactions
                .iter()
                .map(|reaction| ExportedReactionResource {
                    message_uuid: *reaction.message.as_uuid(),
                    seq: reaction.seq,
                    emoji: reaction.emoji.clone(),
                })
                .collect(),
        }
    }
}

/// Where the streamed document is.
struct Streaming {
    export: ExportService,
    me: Identity,
    mount_path: String,
    ids: std::vec::IntoIter<ConversationId>,
    first: bool,
    done: bool,
}

impl Streaming {
    /// The next piece of the document after the head: a conversation, or the tail.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        for id in self.ids.by_ref() {
            let exported = match self.export.conversation(&self.me, id).await {
                Ok(exported) => exported,
                // Left while the export ran: not theirs any more.
                Err(chat_core::ChatError::NotFound { .. }) => continue,
                Err(error) => {
                    tracing::warn!(conversation_id = %id, user_id = %self.me.user, %error, "an export stopped");
                    self.done = true;
                    return Some(Err(std::io::Error::other("the export could not be completed")));
                }
            };
            let resource = ExportedConversationResource::new(&exported, &self.mount_path);
            let mut piece = if self.first { Vec::new() } else { b",".to_vec() };
            self.first = false;
            if let Err(error) = serde_json::to_writer(&mut piece, &resource) {
                self.done = true;
                return Some(Err(std::io::Error::other(error)));
            }
            return Some(Ok(Bytes::from(piece)));
        }
        self.done = true;
        Some(Ok(Bytes::from_static(b"]}}")))
    }
}

/// Everything the chat keeps of the caller's: their conversations (public profiles of the
/// participants, the caller's own state), the messages they sent and can still see, with
/// their attachment records, their reactions, the users they blocked and their reports. Nothing of anyone
/// else's beyond a public profile. Streamed: a large history never sits in memory whole.
#[utoipa::path(
    get,
    path = "/me/export",
    tag = "users",
    responses(
        (status = 200, description = "The caller's data, as one JSON document (streamed).", body = ExportDocument),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
    )
)]
pub(crate) async fn export(State(api): State<ChatApi>, Caller(me): Caller) -> Result<Response, ApiError> {
    let export = api.services.export();
    let ids = export.conversation_ids(&me).await?;
    let blocks: Vec<BlockResource> = api
        .services
        .blocks()
        .list(&me)
        .await?
        .iter()
        .map(BlockResource::from)
        .collect();
    // The document's head, written by hand so that the conversations can follow one by one.
    let user = serde_json::Value::from(me.user.as_str());
    let reports: Vec<ReportResource> = api
        .services
        .reports()
        .list(&me)
        .await?
        .iter()
        .map(ReportResource::from)
        .collect();
    let (blocks, reports) = (to_json(&blocks)?, to_json(&reports)?);
    let exported_at = timestamp::format(&chat_core::model::now());
    let head = format!(
        "{{\"message\":\"Your data.\",\"data\":{{\"user_uuid\":{user},\"exported_at\":\"{exported_at}\",\"blocks\":{blocks},\"reports\":{reports},\"conversations\":["
    );
    let streaming = Streaming {
        export,
        me,
        mount_path: api.mount_path.to_string(),
        ids: ids.into_iter(),
        first: true,
        done: false,
    };
    let rest = futures_util::stream::unfold(streaming, |mut streaming| async move {
        streaming.next().await.map(|piece| (piece, streaming))
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) }),
        rest,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// `value` as JSON text, for the document's head.
fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|error| ApiError::from(chat_core::ChatError::backend(error)))
}
