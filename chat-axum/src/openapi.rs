//! The OpenAPI 3.1 document, generated from the route handlers themselves (utoipa): the
//! router and the document are built from one list, so they cannot drift apart.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document of every route [`crate::router`] serves; paths are relative to where the
/// host nests the router (add a `servers` entry with the prefix if clients need it).
pub fn openapi() -> Document {
    crate::routes::documented_routes().into_openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat",
        description = "Conversations between a host application's users: direct and group \
            conversations, an inbox sorted by activity, unread counts, read receipts, typing \
            and live events over `GET /ws`.\n\nEvery request is authenticated by the host \
            (401 otherwise). Timestamps are ISO-8601 UTC with microseconds \
            (`2025-10-15T10:30:00.000000Z`). A conversation the caller is not in answers \
            exactly like one that does not exist (404).",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "conversations", description = "Starting, listing, reading and changing conversations."),
        (name = "messages", description = "History, sending, editing, deleting and typing."),
        (name = "live", description = "Live events over WebSocket."),
        (name = "meta", description = "This document."),
    )
)]
struct BaseDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document's header: info, tags, security.
pub(crate) fn base() -> Document {
    BaseDoc::openapi()
}

/// The serialized document, served by `GET /openapi.json`.
#[derive(Clone, Debug)]
pub(crate) struct OpenApiDocument(Bytes);

impl OpenApiDocument {
    pub(crate) fn new(document: &Document) -> Self {
        // Serializing a document of plain maps and strings cannot fail; an empty object
        // would still be valid JSON if it did.
        Self(Bytes::from(
            serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec()),
        ))
    }
}

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(Extension(document): Extension<OpenApiDocument>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
}
