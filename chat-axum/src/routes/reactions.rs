//! `PUT` and `DELETE /conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}`.

use axum::Json;
use axum::extract::State;
use chat_core::Identity;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::ReactionPath;
use crate::resources::{Envelope, MessageResource};

/// Add the caller's reaction. Idempotent: holding it already changes nothing. Members only;
/// `message.reactions` goes to every member.
#[utoipa::path(
    put,
    path = "/conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}",
    tag = "messages",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("message_uuid" = uuid::Uuid, Path, description = "The message."),
        ("emoji" = String, Path, description = "One emoji of Unicode's list (percent-encoded in the path)."),
    ),
    responses(
        (status = 200, description = "The message with its reactions.", body = Envelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation or message for the caller.", body = ErrorBody),
        (status = 409, description = "The message is deleted.", body = ErrorBody),
        (status = 422, description = "Not one emoji, too many different reactions, malformed ids.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn react(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: ReactionPath,
) -> Result<Json<Envelope<MessageResource>>, ApiError> {
    set_reaction(&api, &me, &path, true).await
}

/// Drop the caller's reaction. Idempotent: not holding it changes nothing.
#[utoipa::path(
    delete,
    path = "/conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}",
    tag = "messages",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("message_uuid" = uuid::Uuid, Path, description = "The message."),
        ("emoji" = String, Path, description = "One emoji of Unicode's list (percent-encoded in the path)."),
    ),
    responses(
        (status = 200, description = "The message with its reactions.", body = Envelope<MessageResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation or message for the caller.", body = ErrorBody),
        (status = 409, description = "The message is deleted.", body = ErrorBody),
        (status = 422, description = "Not one emoji, malformed ids.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn unreact(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: ReactionPath,
) -> Result<Json<Envelope<MessageResource>>, ApiError> {
    set_reaction(&api, &me, &path, false).await
}

/// Adds (`present`) or drops the caller's reaction; the message as the caller sees it.
async fn set_reaction(
    api: &ChatApi,
    me: &Identity,
    path: &ReactionPath,
    present: bool,
) -> Result<Json<Envelope<MessageResource>>, ApiError> {
    let messages = api.services.messages();
    let (conversation, message) = (path.message.conversation, path.message.message);
    let (view, done) = if present {
        (
            messages.react(me, conversation, message, &path.emoji).await?,
            "Reaction added.",
        )
    } else {
        (
            messages.unreact(me, conversation, message, &path.emoji).await?,
            "Reaction removed.",
        )
    };
    Ok(Json(Envelope::new(
        done,
        MessageResource::for_reader(&view, &me.user, api.mount_path()),
    )))
}
