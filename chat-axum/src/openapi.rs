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
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::ChatApi;
use crate::routes::{attachments, blocks, conversations, delivery, export, messages, mute, reactions, reports, users};
use crate::ws;

/// The document of every route [`crate::router`] serves; paths are relative to where the
/// host nests the router (add a `servers` entry with the prefix if clients need it). The
/// served document also carries the lengths and ranges of the limits in force: see
/// [`openapi_value`].
pub fn openapi() -> Document {
    documented_routes().into_openapi()
}

/// Every route with its OpenAPI operation: the router (`routes::build`) and the document come
/// from this one list, so they cannot drift apart.
pub(crate) fn documented_routes() -> OpenApiRouter<ChatApi> {
    OpenApiRouter::with_openapi(base())
        .routes(routes!(conversations::start_direct, conversations::inbox))
        .routes(routes!(conversations::create_group))
        .routes(routes!(conversations::search))
        .routes(routes!(conversations::stats))
        .routes(routes!(conversations::show))
        .routes(routes!(messages::history, messages::send))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(reactions::react, reactions::unreact))
        .routes(routes!(reports::report))
        .routes(routes!(attachments::upload))
        .routes(routes!(attachments::download))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(delivery::mark_delivered))
        .routes(routes!(conversations::archive, conversations::unarchive))
        .routes(routes!(mute::mute, mute::unmute))
        .routes(routes!(conversations::clear))
        .routes(routes!(messages::typing))
        .routes(routes!(conversations::add_participants))
        .routes(routes!(conversations::remove_participant))
        .routes(routes!(users::contacts))
        .routes(routes!(blocks::list, blocks::block))
        .routes(routes!(blocks::unblock))
        .routes(routes!(export::export))
        .routes(routes!(ws::websocket))
        .routes(routes!(openapi_json))
}

/// The document as `GET /openapi.json` serves it: [`openapi`] with the lengths, ranges and
/// patterns of these limits written into its schemas, so that every request the document
/// describes as valid is one the server accepts (checked by fuzzing it with schemathesis,
/// `examples/marketplace/fuzz/run.sh`).
pub fn openapi_value(limits: &Limits) -> serde_json::Value {
    let mut value = serde_json::to_value(openapi()).unwrap_or_else(|_| serde_json::json!({}));
    if let Err(missing) = constrain(&mut value, limits) {
        // Kept from happening by the test `every_constraint_finds_its_target`.
        tracing::error!(
            ?missing,
            "the OpenAPI document lacks these places for its limits; it is served without them"
        );
    }
    value
}

/// Adds the platform key to a served document (when the router has
/// [`PlatformKeys`](crate::PlatformKeys)): an `X-PUBLIC-KEY` header scheme, required next to
/// the bearer token by every operation that is not public.
pub(crate) fn require_platform_key(document: &mut serde_json::Value) {
    use serde_json::json;

    document["components"]["securitySchemes"]["public_key"] = json!({
        "type": "apiKey",
        "in": "header",
        "name": crate::platform::PUBLIC_KEY_HEADER,
        "description": "The platform's public key (browsers' WebSockets: `?public_key=`).",
    });
    document["security"] = json!([{"bearer": [], "public_key": []}]);
}

/// Control characters (`char::is_control`), as a regex class body.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";
/// White space as `str::trim` sees it (Unicode `White_Space`), as a regex class body.
const SPACE: &str = "\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// The bidirectional formatting characters a title may not hold (Unicode's `Bidi_Control`).
const BIDI: &str = "\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069";

/// A group title: no control or bidirectional formatting characters, and not blank.
fn title_text() -> String {
    format!("^[^{CONTROL}{BIDI}]*[^{CONTROL}{BIDI}{SPACE}][^{CONTROL}{BIDI}]*$")
}

/// Control characters but newline, carriage return and tab (what a message body may hold).
const CONTROL_BUT_NEWLINES: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";

/// A message body: no control characters but newlines and tabs, and not blank.
fn message_text() -> String {
    format!("^[^{CONTROL_BUT_NEWLINES}]*[^{CONTROL_BUT_NEWLINES}{SPACE}][^{CONTROL_BUT_NEWLINES}]*$")
}

/// A file name: no control characters or path separators, and something besides dots and
/// white space.
fn file_name() -> String {
    format!("^[^{CONTROL}/\\\\]*[^{CONTROL}/\\\\{SPACE}.][^{CONTROL}/\\\\]*$")
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
///
/// Every place it does not find (a schema, property, union branch or parameter renamed) is
/// an error naming it, since the document would otherwise be served without those limits;
/// `every_constraint_finds_its_target` checks the real document. A parameter rule needs to
/// find its parameter in at least one operation.
fn constrain(document: &mut serde_json::Value, limits: &Limits) -> Result<(), Vec<String>> {
    use serde_json::{Value, json};

    // A byte limit as a character count that holds for any text (4 bytes per character).
    let id_chars = chat_core::ids::MAX_HOST_ID_BYTES / 4;
    let body = json!({"minLength": 1, "maxLength": limits.body_max_chars, "pattern": message_text()});
    let title = json!({"minLength": 1, "maxLength": limits.title_max_chars, "pattern": title_text()});
    let taggable_type =
        json!({"minLength": 1, "maxLength": limits.taggable_type_max_chars, "pattern": no_control_not_blank()});
    let client_message_id = json!({
        "minLength": 1,
        "maxLength": limits.client_message_id_max_bytes,
        "pattern": chat_core::CLIENT_MESSAGE_ID_PATTERN,
    });
    let seq = json!({"format": "uint64", "minimum": 0, "maximum": u64::MAX});
    let attachment_ids = json!({"maxItems": limits.attachments_per_message, "uniqueItems": true});
    let note = json!({"maxLength": limits.report_note_max_chars, "pattern": format!("^[^{CONTROL_BUT_NEWLINES}]*$")});
    let mut missing = Vec::new();
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return Err(vec!["#/components/schemas".to_owned()]);
    };
    // Metadata: any JSON object without NUL characters in keys or strings, at any depth
    // (its serialized size is limited too, which a schema cannot say).
    let no_nul = json!({"pattern": "^[^\\u0000]*$"});
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
        ("SendMessageRequest", "attachment_ids", &attachment_ids),
        ("EditMessageRequest", "body", &body),
        ("CreateGroupRequest", "title", &title),
        ("CreateGroupRequest", "taggable_type", &taggable_type),
        ("StartConversationRequest", "taggable_type", &taggable_type),
        ("MarkReadRequest", "up_to_seq", &seq),
        ("MarkDeliveredRequest", "up_to_seq", &seq),
        ("SendMessageRequest", "metadata", &metadata),
        ("StartConversationRequest", "metadata", &metadata),
        ("CreateGroupRequest", "metadata", &metadata),
        ("ReportRequest", "note", &note),
    ] {
        let target = schemas
            .get_mut(schema)
            .and_then(|schema| schema.pointer_mut(&format!("/properties/{property}")));
        if !target.is_some_and(|target| merge(target, constraints)) {
            missing.push(format!("#/components/schemas/{schema}/properties/{property}"));
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
        let mut found = false;
        if let Some(branches) = schemas
            .get_mut(schema)
            .and_then(|schema| schema.get_mut("oneOf"))
            .and_then(Value::as_array_mut)
        {
            for candidate in branches.iter_mut().filter(|candidate| candidate["type"] == branch) {
                found |= merge(candidate, &constraints);
            }
        }
        if !found {
            missing.push(format!("#/components/schemas/{schema}/oneOf (type {branch})"));
        }
    }
    // (only on this path, or on every path; where; name; constraints): the first that fits.
    let parameter_rules = [
        (
            Some("/conversations/{uuid}/attachments"),
            "query",
            "name",
            json!({"minLength": 1, "maxLength": limits.attachment_name_max_chars, "pattern": file_name()}),
        ),
        // Contacts: `q` may be empty (anyone).
        (
            Some("/users"),
            "query",
            "q",
            json!({"maxLength": limits.search_query_max_chars, "pattern": no_control()}),
        ),
        (
            None,
            "query",
            "limit",
            json!({"minimum": 1, "maximum": limits.page_max}),
        ),
        (None, "query", "before", seq.clone()),
        (None, "query", "after", seq),
        (
            None,
            "query",
            "q",
            json!({"minLength": 1, "maxLength": limits.search_query_max_chars, "pattern": no_control_not_blank()}),
        ),
        // Empty is the same as absent.
        (
            None,
            "query",
            "archived",
            json!({
                "type": "string",
                "enum": ["", "false", "true", "0", "1", "all"],
                "description": "`true` or `1`: only archived conversations; `all`: both; absent, empty, `false` or `0`: the inbox.",
            }),
        ),
        (
            None,
            "query",
            "unread",
            json!({
                "type": "string",
                "enum": ["", "false", "true", "0", "1"],
                "description": "`true` or `1`: only conversations with unread messages (`1`/`0` as PHP and Laravel clients send them).",
            }),
        ),
        (
            None,
            "path",
            "user",
            json!({"minLength": 1, "maxLength": id_chars, "pattern": no_control()}),
        ),
        // One grapheme of at most this many bytes (no JSON Schema regex describes a
        // grapheme): a longer text in characters is surely longer in bytes.
        (
            None,
            "path",
            "emoji",
            json!({
                "minLength": 1,
                "maxLength": limits.emoji_max_bytes,
                "description": format!(
                    "One emoji: a single grapheme (modifiers, joiners and variation selectors included) of at most {} bytes as UTF-8, not plain ASCII; anything else is a 422 on `emoji`.",
                    limits.emoji_max_bytes
                ),
            }),
        ),
    ];
    let mut applied = vec![false; parameter_rules.len()];
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        missing.push("#/paths".to_owned());
        return Err(missing);
    };
    for (path, operation) in paths
        .iter_mut()
        .filter_map(|(path, item)| Some((path.as_str(), item.as_object_mut()?)))
        .flat_map(|(path, item)| item.values_mut().map(move |operation| (path, operation)))
    {
        let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for parameter in parameters {
            let Some(rule) = parameter_rules.iter().position(|(only, place, name, _)| {
                only.is_none_or(|only| only == path) && parameter["in"] == *place && parameter["name"] == *name
            }) else {
                continue;
            };
            if parameter
                .get_mut("schema")
                .is_some_and(|schema| merge(schema, &parameter_rules[rule].3))
            {
                applied[rule] = true;
            }
        }
    }
    for ((only, place, name, _), applied) in parameter_rules.iter().zip(applied) {
        if !applied {
            let at = only.map_or_else(|| "any operation".to_owned(), |path| format!("`{path}`"));
            missing.push(format!("{place} parameter `{name}` of {at}"));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

/// Writes `constraints` into `target`; whether `target` is an object, which it has to be.
fn merge(target: &mut serde_json::Value, constraints: &serde_json::Value) -> bool {
    let (Some(target), Some(constraints)) = (target.as_object_mut(), constraints.as_object()) else {
        return false;
    };
    for (key, value) in constraints {
        target.insert(key.clone(), value.clone());
    }
    true
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
        (name = "attachments", description = "Uploading files into conversations and downloading them."),
        (name = "users", description = "Contacts: the host's users the caller may talk to."),
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
    use super::*;

    #[test]
    fn limits_are_written_into_the_document() {
        let mut limits = Limits::default();
        limits.title_max_chars = 77;
        let value = openapi_value(&limits);
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

    /// The document before [`constrain`].
    fn unconstrained() -> serde_json::Value {
        serde_json::to_value(openapi()).expect("document as JSON")
    }

    #[test]
    fn every_constraint_finds_its_target() {
        let mut document = unconstrained();
        assert_eq!(constrain(&mut document, &Limits::default()), Ok(()));
    }

    #[test]
    fn a_constraint_whose_target_is_gone_is_reported() {
        let limits = Limits::default();

        // A request struct renamed: every constraint on it is reported.
        let mut document = unconstrained();
        let schema = document
            .pointer_mut("/components/schemas")
            .and_then(serde_json::Value::as_object_mut)
            .and_then(|schemas| schemas.remove("EditMessageRequest"))
            .expect("EditMessageRequest");
        document["components"]["schemas"]["EditRequest"] = schema;
        let missing = constrain(&mut document, &limits).expect_err("a missing schema");
        assert_eq!(missing, ["#/components/schemas/EditMessageRequest/properties/body"]);

        // A field renamed.
        let mut document = unconstrained();
        let properties = document
            .pointer_mut("/components/schemas/CreateGroupRequest/properties")
            .and_then(serde_json::Value::as_object_mut)
            .expect("CreateGroupRequest properties");
        let title = properties.remove("title").expect("title");
        properties.insert("name".to_owned(), title);
        let missing = constrain(&mut document, &limits).expect_err("a missing property");
        assert_eq!(missing, ["#/components/schemas/CreateGroupRequest/properties/title"]);

        // A branch of a union gone.
        let mut document = unconstrained();
        let branches = document
            .pointer_mut("/components/schemas/UserRef/oneOf")
            .and_then(serde_json::Value::as_array_mut)
            .expect("UserRef branches");
        branches.retain(|branch| branch["type"] != "integer");
        let missing = constrain(&mut document, &limits).expect_err("a missing branch");
        assert_eq!(missing, ["#/components/schemas/UserRef/oneOf (type integer)"]);

        // A query parameter renamed in every operation.
        let mut document = unconstrained();
        for operation in document["paths"]
            .as_object_mut()
            .expect("paths")
            .values_mut()
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|item| item.values_mut())
        {
            for parameter in operation["parameters"].as_array_mut().into_iter().flatten() {
                if parameter["name"] == "q" {
                    parameter["name"] = "query".into();
                }
            }
        }
        let missing = constrain(&mut document, &limits).expect_err("a missing parameter");
        assert_eq!(
            missing,
            [
                "query parameter `q` of `/users`",
                "query parameter `q` of any operation"
            ]
        );
    }
}
