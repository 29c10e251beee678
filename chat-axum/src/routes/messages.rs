//! `/conversations/{uuid}/messages…` and typing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::{AttachmentId, MessageId, Metadata, SendMessage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiJson, ApiQuery, ConversationPath, MessagePath, OptionalJson, QueryCheck};
use crate::resources::{Envelope, ListEnvelope, MessageResource};
use crate::routes::conversations::EmptyRequest;

/// Body of `POST /conversations/{uuid}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Is it still available?", "client_message_id": "c-8f14e45f"}))]
pub struct SendMessageRequest {
    /// The message this one replies to: a message of the same conversation that is not
    /// deleted and that the caller has not cleared (else a 422 on `reply_to`).
    #[serde(default)]
    pub reply_to: Option<uuid::Uuid>,
    /// The text, 1..=4000 characters after trimming; may be `""` when the message carries
    /// attachments. Also accepted as `content`.
    #[serde(alias = "content")]
    pub body: String,
    /// The caller's own unsent uploads to this conversation (`POST .../attachments`),
    /// distinct, at most 10; anything else is a 422 on `attachment_ids`.
    #[serde(default)]
    pub attachment_ids: Vec<uuid::Uuid>,
    /// A retry key: sending again with the same key returns the stored message. Printable
    /// ASCII, 1..=128 characters (a UUID, a counter, ...).
    #[serde(default)]
    pub client_message_id: Option<String>,
    /// Host-defined data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

/// Body of `PATCH /conversations/{uuid}/messages/{message_uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Is it still available today?"}))]
pub struct EditMessageRequest {
    /// The new text. Also accepted as `content`.
    #[serde(alias = "content")]
    pub body: String,
}

/// Query of `GET /conversations/{uuid}/messages`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages with a smaller seq (paging back from the newest).
    #[param(value_type = Option<u64>)]
    pub before: Option<String>,
    /// Only messages with a larger seq, oldest first (catching up after a reconnect).
    #[param(value_type = Option<u64>)]
    pub after: Option<String>,
    /// Page size, 1..=100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// `data` of an answer that has none: `null`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Nothing;

impl utoipa::PartialSchema for Nothing {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .description(Some("Always `null`."))
            .into()
    }
}

impl ToSchema for Nothing {}

/// A page of history, ascending by seq. `meta.next_cursor` is the seq to pass as `before`
/// (paging back) or, when `after` was given, as `after` (following forward), while there may
/// be more.
#[utoipa::path(
    get,
    path = "/conversations/{uuid}/messages",
    tag = "messages",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation."), HistoryParams),
    responses(
        (status = 200, description = "Messages ascending by seq.", body = ListEnvelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid, seq or limit.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn history(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<ListEnvelope<MessageResource>>, ApiError> {
    let mut check = QueryCheck::default();
    let before = check.number::<u64>("before", params.before.as_deref());
    let after = check.number::<u64>("after", params.after.as_deref());
    let limit = check.number::<usize>("limit", params.limit.as_deref());
    check.finish()?;
    let page = api.services.messages().history(&me, id, before, after, limit).await?;
    let data = page
        .items
        .iter()
        .map(|view| MessageResource::for_reader(view, &me.user, api.mount_path()))
        .collect();
    Ok(Json(ListEnvelope::new("Messages retrieved.", data, page.next_cursor)))
}

/// Send a message. 201 once it is stored; a repeated `client_message_id` answers 200 with the
/// stored message and changes nothing.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/messages",
    tag = "messages",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "Stored.", body = Envelope<MessageResource>),
        (status = 200, description = "A repeat of a stored `client_message_id`.", body = Envelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "The caller may not send here (a neutral refusal: the other participant of this direct conversation does not accept their messages).", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Empty or too long body, bad metadata, a `reply_to` that names no visible message of this conversation, `attachment_ids` that are not the caller's unsent uploads here.", body = ValidationErrorBody),
        (status = 429, description = "Sending too fast; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub(crate) async fn send(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    ApiJson(request): ApiJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<Envelope<MessageResource>>), ApiError> {
    if let Some(limiter) = &api.send_limiter {
        limiter
            .check(&me)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    }
    let input = SendMessage {
        body: request.body,
        client_message_id: request.client_message_id,
        reply_to: request.reply_to.map(MessageId::from_uuid),
        attachments: request
            .attachment_ids
            .into_iter()
            .map(AttachmentId::from_uuid)
            .collect(),
        metadata: request.metadata.unwrap_or_default(),
    };
    let sent = api.services.messages().send(&me, id, input).await?;
    let (status, message) = if sent.created {
        (StatusCode::CREATED, "Message sent.")
    } else {
        (StatusCode::OK, "Message already sent.")
    };
    Ok((
        status,
        Json(Envelope::new(
            message,
            MessageResource::for_reader(&sent.message, &me.user, api.mount_path()),
        )),
    ))
}

/// Edit one of the caller's messages.
#[utoipa::path(
    patch,
    path = "/conversations/{uuid}/messages/{message_uuid}",
    tag = "messages",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("message_uuid" = uuid::Uuid, Path, description = "The message."),
    ),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "The edited message.", body = Envelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "Only the sender edits a message.", body = ErrorBody),
        (status = 404, description = "No such conversation or message for the caller.", body = ErrorBody),
        (status = 409, description = "The message is deleted.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Empty or too long body, malformed ids.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn edit(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: MessagePath,
    ApiJson(request): ApiJson<EditMessageRequest>,
) -> Result<Json<Envelope<MessageResource>>, ApiError> {
    let view = api
        .services
        .messages()
        .edit(&me, path.conversation, path.message, &request.body)
        .await?;
    Ok(Json(Envelope::new(
        "Message updated.",
        MessageResource::for_reader(&view, &me.user, api.mount_path()),
    )))
}

/// Delete one of the caller's messages: it keeps its seq, its body goes.
#[utoipa::path(
    delete,
    path = "/conversations/{uuid}/messages/{message_uuid}",
    tag = "messages",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("message_uuid" = uuid::Uuid, Path, description = "The message."),
    ),
    responses(
        (status = 200, description = "The deleted message.", body = Envelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "Only the sender deletes a message.", body = ErrorBody),
        (status = 404, description = "No such conversation or message for the caller.", body = ErrorBody),
        (status = 422, description = "Malformed ids.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn delete(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: MessagePath,
) -> Result<Json<Envelope<MessageResource>>, ApiError> {
    let view = api
        .services
        .messages()
        .delete(&me, path.conversation, path.message)
        .await?;
    Ok(Json(Envelope::new(
        "Message deleted.",
        MessageResource::for_reader(&view, &me.user, api.mount_path()),
    )))
}

/// Tell the other participants that the caller is typing (a `typing` event; nothing is
/// stored).
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/typing",
    tag = "messages",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body(content = Option<EmptyRequest>, description = "None."),
    responses(
        (status = 200, description = "Sent; `data` is null.", body = Envelope<Nothing>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or body.", body = ValidationErrorBody),
        (status = 429, description = "Typing too often; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub(crate) async fn typing(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    OptionalJson(EmptyRequest {}): OptionalJson<EmptyRequest>,
) -> Result<Json<Envelope<Nothing>>, ApiError> {
    if let Some(limiter) = &api.typing_limiter {
        limiter
            .check(&me)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    }
    api.services.messages().typing(&me, id).await?;
    Ok(Json(Envelope::new("Typing sent.", Nothing)))
}
