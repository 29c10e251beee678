//! The OpenAPI 3.1 document, generated from the route handlers themselves (utoipa): the
//! router and the document are built from one list, so they cannot drift apart.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use chat_core::Limits;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document of every route [`crate::router`] serves; paths are relative to where the
/// host nests the router (add a `servers` entry with the prefix if clients need it). The
/// served document also carries the lengths and ranges of the limits in force: see
/// [`openapi_value`].
pub fn openapi() -> Document {
    crate::routes::documented_routes().into_openapi()
}

/// The document as `GET /openapi.json` serves it: [`openapi`] with the lengths, ranges and
/// patterns of these limits written into its schemas, so that every request the document
/// describes as valid is one the server accepts (checked by fuzzing it with schemathesis,
/// `examples/marketplace/fuzz/run.sh`).
pub fn openapi_value(limits: &Limits) -> serde_json::Value {
    let mut value = serde_json::to_value(openapi()).unwrap_or_else(|_| serde_json::json!({}));
    constrain(&mut value, limits);
    value
}

/// Control characters (`char::is_control`), as a regex class body.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";
/// White space as `str::trim` sees it (Unicode `White_Space`), as a regex class body.
const SPACE: &str = "\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// Control characters but newline, carriage return and tab (what a message body may hold).
const CONTROL_BUT_NEWLINES: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";

/// A message body: no control characters but newlines and tabs, and not blank.
fn message_text() -> String {
    format!("^[^{CONTROL_BUT_NEWLINES}]*[^{CONTROL_BUT_NEWLINES}{SPACE}][^{CONTROL_BUT_NEWLINES}]*$")
}

/// No control characters at all.
fn no_control() -> String {
    format!("^[^{CONTROL}]*$")
}

/// No control characters, and not blank.
fn no_control_not_blank() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
}

/// Writes the limits into the serialized document: text lengths and patterns of request
/// bodies, page sizes and seq ranges of queries, the shape of user ids in paths.
fn constrain(document: &mut serde_json::Value, limits: &Limits) {
    use serde_json::json;

    // A byte limit as a character count that holds for any text (4 bytes per character).
    let id_chars = chat_core::ids::MAX_HOST_ID_BYTES / 4;
    let body = json!({"minLength": 1, "maxLength": limits.body_max_chars, "pattern": message_text()});
    let title = json!({"minLength": 1, "maxLength": limits.title_max_chars, "pattern": no_control_not_blank()});
    let taggable_type =
        json!({"minLength": 1, "maxLength": limits.taggable_type_max_chars, "pattern": no_control_not_blank()});
    let client_message_id = json!({
        "minLength": 1,
        "maxLength": limits.client_message_id_max_bytes,
        "pattern": crate::routes::messages::CLIENT_MESSAGE_ID_PATTERN,
    });
    let seq = json!({"format": "uint64", "minimum": 0, "maximum": u64::MAX});
    let Some(schemas) = document.pointer_mut("/components/schemas") else {
        return;
    };
    // Metadata: any JSON object without NUL characters in keys or strings, at any depth
    // (its serialized size is limited too, which a schema cannot say).
    let no_nul = json!({"pattern": "^[^\\u0000]*$"});
    if let Some(schemas) = schemas.as_object_mut() {
        schemas.insert(
            "MetadataValue".to_owned(),
            json!({
                "description": "A JSON value without NUL characters in keys or strings.",
                "anyOf": [
                    {"type": ["null", "boolean", "number"]},
                    {"type": "string", "pattern": no_nul["pattern"]},
                    {"type": "array", "items": {"$ref": "#/components/schemas/MetadataValue"}},
                    {
                        "type": "object",
                        "propertyNames": no_nul,
                        "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"}
                    }
                ]
            }),
        );
    }
    let metadata = json!({
        "propertyNames": no_nul,
        "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
        "description": format!(
            "Host-defined data: a JSON object without NUL characters, at most {} bytes as JSON.",
            limits.metadata_max_bytes
        ),
    });
    for (schema, property, constraints) in [
        ("SendMessageRequest", "body", &body),
        ("SendMessageRequest", "client_message_id", &client_message_id),
        ("EditMessageRequest", "body", &body),
        ("CreateGroupRequest", "title", &title),
        ("CreateGroupRequest", "taggable_type", &taggable_type),
        ("StartConversationRequest", "taggable_type", &taggable_type),
        ("MarkReadRequest", "up_to_seq", &seq),
        ("SendMessageRequest", "metadata", &metadata),
        ("StartConversationRequest", "metadata", &metadata),
        ("CreateGroupRequest", "metadata", &metadata),
    ] {
        if let Some(target) = schemas
            .get_mut(schema)
            .and_then(|schema| schema.pointer_mut(&format!("/properties/{property}")))
        {
            merge(target, constraints);
        }
    }
    for (schema, branch, constraints) in [
        (
            "TaggableIdValue",
            "string",
            json!({"minLength": 1, "maxLength": limits.taggable_id_max_chars, "pattern": no_control_not_blank()}),
        ),
        (
            "UserRef",
            "string",
            json!({"minLength": 1, "maxLength": id_chars, "pattern": no_control()}),
        ),
        (
            "TaggableIdValue",
            "integer",
            json!({"minimum": i64::MIN, "maximum": i64::MAX}),
        ),
        ("UserRef", "integer", json!({"minimum": i64::MIN, "maximum": i64::MAX})),
    ] {
        if let Some(branches) = schemas
            .pointer_mut(&format!("/{schema}/oneOf"))
            .and_then(serde_json::Value::as_array_mut)
        {
            for candidate in branches.iter_mut().filter(|candidate| candidate["type"] == branch) {
                merge(candidate, &constraints);
            }
        }
    }
    let Some(paths) = document.get_mut("paths").and_then(serde_json::Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters {
            let constraints = match (parameter["in"].as_str(), parameter["name"].as_str()) {
                (Some("query"), Some("limit")) => json!({"minimum": 1, "maximum": limits.page_max}),
                (Some("query"), Some("before" | "after")) => seq.clone(),
                (Some("query"), Some("q")) => {
                    json!({"minLength": 1, "maxLength": limits.search_query_max_chars, "pattern": no_control_not_blank()})
                }
                // Empty is the same as absent.
                (Some("query"), Some("archived")) => json!({"type": "string", "enum": ["", "false", "true", "all"]}),
                (Some("query"), Some("unread")) => json!({"type": "string", "enum": ["", "false", "true"]}),
                (Some("path"), Some("user")) => json!({"minLength": 1, "maxLength": id_chars, "pattern": no_control()}),
                _ => continue,
            };
            if let Some(schema) = parameter.get_mut("schema") {
                merge(schema, &constraints);
            }
        }
    }
}

fn merge(target: &mut serde_json::Value, constraints: &serde_json::Value) {
    if let (Some(target), Some(constraints)) = (target.as_object_mut(), constraints.as_object()) {
        for (key, value) in constraints {
            target.insert(key.clone(), value.clone());
        }
    }
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
    pub(crate) fn new(document: &serde_json::Value) -> Self {
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

#[cfg(test)]
mod tests {
    #[test]
    fn limits_are_written_into_the_document() {
        let mut limits = chat_core::Limits::default();
        limits.title_max_chars = 77;
        let value = super::openapi_value(&limits);
        let title = &value["components"]["schemas"]["CreateGroupRequest"]["properties"]["title"];
        assert_eq!(title["maxLength"], 77, "{title}");
        let body = &value["components"]["schemas"]["SendMessageRequest"]["properties"]["body"];
        assert_eq!(
            (body["minLength"].as_u64(), body["maxLength"].as_u64()),
            (Some(1), Some(4000))
        );
        let limit = &value["paths"]["/conversations"]["get"]["parameters"]
            .as_array()
            .and_then(|parameters| parameters.iter().find(|p| p["name"] == "limit"))
            .map(|p| p["schema"].clone());
        assert_eq!(limit.as_ref().map(|s| s["maximum"].clone()), Some(100.into()));
        // Operations without parameters keep none (no `"parameters": null`).
        assert!(value["paths"]["/conversations"]["post"].get("parameters").is_none());
    }
}
