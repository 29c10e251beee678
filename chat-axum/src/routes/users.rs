//! `/users`: contacts, the host's users the caller may start a conversation with.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiQuery, QueryCheck};
use crate::resources::{ListEnvelope, UserResource};

/// Query of `GET /users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactParams {
    /// Text to find in a user's name (how is the host's directory's choice); absent or
    /// empty: anyone the directory lists.
    pub q: Option<String>,
    /// Most results, 1..=100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// Contacts: public profiles of the caller's platform, never the caller.
///
/// From the host's user directory (its name search, then its profiles): only the fields the
/// host put in a profile, one page of at most `limit`.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(ContactParams),
    responses(
        (status = 200, description = "Matching users, in the directory's order (one page).", body = ListEnvelope<UserResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 422, description = "Too long `q`, bad limit.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn contacts(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiQuery(params): ApiQuery<ContactParams>,
) -> Result<Json<ListEnvelope<UserResource>>, ApiError> {
    let mut check = QueryCheck::default();
    let limit = check.number::<usize>("limit", params.limit.as_deref());
    check.finish()?;
    let query = params.q.unwrap_or_default();
    let profiles = api.services.contacts().search(&me, &query, limit).await?;
    let data = profiles.iter().map(UserResource::from).collect();
    Ok(Json(ListEnvelope::new("Users retrieved.", data, None)))
}
