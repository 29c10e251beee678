//! `POST /conversations/{uuid}/delivered`: the delivery receipt (the second tick).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ConversationPath, OptionalJson};
use crate::resources::{ConversationResource, Envelope};

/// Body of `POST /conversations/{uuid}/delivered` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkDeliveredRequest {
    /// Delivered up to this seq (clamped to the newest); absent: up to the newest message.
    #[serde(default, deserialize_with = "crate::resources::optional_seq")]
    pub up_to_seq: Option<u64>,
}

/// Tell the other members that messages up to a seq reached one of the caller's devices.
/// The watermark never moves back (and reading or fetching history moves it too); when it
/// moves, `conversation.delivered` goes to the other members.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/delivered",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body(content = Option<MarkDeliveredRequest>, description = "Optional; an empty body delivers everything."),
    responses(
        (status = 200, description = "The conversation after the receipt.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or body.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn mark_delivered(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    OptionalJson(request): OptionalJson<MarkDeliveredRequest>,
) -> Result<Json<Envelope<ConversationResource>>, ApiError> {
    let view = api
        .services
        .conversations()
        .mark_delivered(&me, id, request.up_to_seq)
        .await?;
    Ok(Json(Envelope::new("Conversation marked as delivered.", (&view).into())))
}
