//! The routes and how they are assembled.

pub(crate) mod conversations;
pub(crate) mod messages;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router, middleware};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::ChatApi;
use crate::error::{method_not_allowed, request_id_scope, route_not_found};
use crate::openapi::{self, OpenApiDocument};
use crate::ws;

/// Every route with its OpenAPI operation: the router and the document come from this one
/// list, so they cannot drift apart.
pub(crate) fn documented_routes() -> OpenApiRouter<ChatApi> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(conversations::start_direct, conversations::inbox))
        .routes(routes!(conversations::create_group))
        .routes(routes!(conversations::search))
        .routes(routes!(conversations::stats))
        .routes(routes!(conversations::show))
        .routes(routes!(messages::history, messages::send))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(conversations::archive, conversations::unarchive))
        .routes(routes!(conversations::clear))
        .routes(routes!(messages::typing))
        .routes(routes!(conversations::add_participants))
        .routes(routes!(conversations::remove_participant))
        .routes(routes!(ws::websocket))
        .routes(routes!(openapi::openapi_json))
}

pub(crate) fn build<S>(api: ChatApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (router, _) = documented_routes().split_for_parts();
    let document = openapi::openapi_value(api.limits());
    let body_limit = api.limits().request_body_max_bytes;
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(OpenApiDocument::new(&document)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(request_id_scope))
        .with_state(api)
}
