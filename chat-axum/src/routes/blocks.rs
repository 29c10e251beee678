//! `/blocks`: the users the caller has blocked (invariant 13). A blocked user can neither
//! start a direct conversation with the caller nor send into one they share; nothing tells
//! them so.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::BlockView;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiJson, BlockedUserPath};
use crate::resources::{Envelope, ListEnvelope, UserRef, UserResource, timestamp};
use crate::routes::messages::Nothing;

/// Body of `POST /blocks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user": "seller-7"}))]
pub struct BlockRequest {
    /// The user to block (a host user id; an integer is taken as its decimal text).
    pub user: UserRef,
}

/// One block: the blocked user's public profile and when the block was made.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockResource {
    /// The blocked user.
    pub user: UserResource,
    /// When the block was made (a repeated block keeps the first time).
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
}

impl From<&BlockView> for BlockResource {
    fn from(view: &BlockView) -> Self {
        Self {
            user: UserResource::from(&view.user),
            created_at: view.created_at,
        }
    }
}

/// The caller's blocks, by the blocked user's id (one page: a user has at most
/// `Limits::blocks_per_user`).
#[utoipa::path(
    get,
    path = "/blocks",
    tag = "users",
    responses(
        (status = 200, description = "The caller's blocks.", body = ListEnvelope<BlockResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(api): State<ChatApi>,
    Caller(me): Caller,
) -> Result<Json<ListEnvelope<BlockResource>>, ApiError> {
    let blocks = api.services.blocks().list(&me).await?;
    let data = blocks.iter().map(BlockResource::from).collect();
    Ok(Json(ListEnvelope::new("Blocks retrieved.", data, None)))
}

/// Block a user: from now on they can neither start a direct conversation with the caller
/// nor send into one they share, and their typing is not shown; the caller keeps the
/// history and may still send. They can neither create a group with the caller nor add the
/// caller to one; groups already shared stay as they are. 201 when new, 200 when the user was
/// blocked already (nothing changes).
#[utoipa::path(
    post,
    path = "/blocks",
    tag = "users",
    request_body = BlockRequest,
    responses(
        (status = 201, description = "Blocked.", body = Envelope<BlockResource>),
        (status = 200, description = "Blocked already; nothing changed.", body = Envelope<BlockResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Oneself, an unknown user, or too many blocks (`Limits::blocks_per_user`).", body = ValidationErrorBody),
    )
)]
pub(crate) async fn block(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiJson(request): ApiJson<BlockRequest>,
) -> Result<(StatusCode, Json<Envelope<BlockResource>>), ApiError> {
    let user = request.user.to_user_id("user")?;
    let (view, created) = api.services.blocks().block(&me, user).await?;
    let (status, message) = if created {
        (StatusCode::CREATED, "User blocked.")
    } else {
        (StatusCode::OK, "User was blocked already.")
    };
    Ok((status, Json(Envelope::new(message, BlockResource::from(&view)))))
}

/// Unblock a user. A user the caller has not blocked (any more) is a 404 that changes
/// nothing, so a repeat is harmless.
#[utoipa::path(
    delete,
    path = "/blocks/{user}",
    tag = "users",
    params(("user" = String, Path, description = "The blocked user's host user id.")),
    responses(
        (status = 200, description = "Unblocked; `data` is null.", body = Envelope<Nothing>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "The caller has not blocked this user.", body = ErrorBody),
        (status = 422, description = "Malformed user id.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn unblock(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    BlockedUserPath(user): BlockedUserPath,
) -> Result<Json<Envelope<Nothing>>, ApiError> {
    if !api.services.blocks().unblock(&me, &user).await? {
        return Err(ApiError::NotFound("block"));
    }
    Ok(Json(Envelope::new("User unblocked.", Nothing)))
}
