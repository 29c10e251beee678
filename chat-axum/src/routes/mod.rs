//! The route handlers, and the router assembled from their list
//! ([`documented_routes`](crate::openapi::documented_routes)).

pub(crate) mod attachments;
pub(crate) mod blocks;
pub(crate) mod conversations;
pub(crate) mod delivery;
pub(crate) mod export;
pub(crate) mod messages;
pub(crate) mod mute;
pub(crate) mod reactions;
pub(crate) mod reports;
pub(crate) mod users;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router, middleware};

use crate::api::ChatApi;
use crate::error::{method_not_allowed, request_id_scope, route_not_found};
use crate::openapi::{self, OpenApiDocument};

pub(crate) fn build<S>(api: ChatApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (router, _) = openapi::documented_routes().split_for_parts();
    let mut document = openapi::openapi_value(api.limits());
    if api.platform_keys.is_some() {
        openapi::require_platform_key(&mut document);
    }
    let body_limit = api.limits().request_body_max_bytes;
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(OpenApiDocument::new(&document)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(request_id_scope))
        .with_state(api)
}
