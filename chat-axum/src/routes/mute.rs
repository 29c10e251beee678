//! `PUT` and `DELETE /conversations/{uuid}/mute`: the caller mutes or unmutes a
//! conversation (its messages still count as unread; no notification is made of them).

use axum::Json;
use axum::extract::State;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::ConversationPath;
use crate::resources::{ConversationResource, Envelope};

/// Mute the conversation for the caller: unread counts go on, notifications stop.
/// Idempotent.
#[utoipa::path(
    put,
    path = "/conversations/{uuid}/mute",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    responses(
        (status = 200, description = "The conversation, muted.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn mute(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
) -> Result<Json<Envelope<ConversationResource>>, ApiError> {
    let view = api.services.conversations().mute(&me, id).await?;
    Ok(Json(Envelope::new("Conversation muted.", (&view).into())))
}

/// Unmute the conversation for the caller: later messages notify again. Idempotent.
#[utoipa::path(
    delete,
    path = "/conversations/{uuid}/mute",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    responses(
        (status = 200, description = "The conversation, not muted.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn unmute(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
) -> Result<Json<Envelope<ConversationResource>>, ApiError> {
    let view = api.services.conversations().unmute(&me, id).await?;
    Ok(Json(Envelope::new("Conversation unmuted.", (&view).into())))
}
