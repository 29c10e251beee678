//! The OpenAPI document and the routes the router serves are the same set.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestApp;

const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];

/// Paths near the documented ones that must not be served.
const PROBES: [&str; 14] = [
    "/",
    "/conversations/",
    "/conversations/{uuid}/leave",
    "/conversations/{uuid}/unarchive",
    "/conversations/{uuid}/messages/{message_uuid}/read",
    "/conversations/{uuid}/participants/{user}/role",
    "/conversations/groups/{uuid}",
    "/conversations/{uuid}/{uuid}",
    "/messages",
    "/ws/events",
    "/openapi.yaml",
    "/health",
    "/docs",
    "/conversations/stats/{uuid}",
];

fn concrete(path: &str) -> String {
    path.replace("{uuid}", &uuid::Uuid::now_v7().to_string())
        .replace("{message_uuid}", &uuid::Uuid::now_v7().to_string())
        .replace("{user}", "u1")
        .replace("{emoji}", "%F0%9F%91%8D")
}

async fn document(app: &TestApp) -> Value {
    let answer = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    answer.json
}

/// Whether the router has a route for `method path`: anything but the JSON fallbacks.
async fn served(app: &TestApp, method: &str, path: &str) -> bool {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let head = method == Method::HEAD;
    let answer = app.call(method, &concrete(path), None, None).await;
    // Unauthenticated, a served route answers 401 (or 200 when public), never 404.
    let fallback = (answer.status == StatusCode::NOT_FOUND && (head || answer.json["message"] == "Route not found."))
        || answer.status == StatusCode::METHOD_NOT_ALLOWED;
    !fallback
}

#[tokio::test]
async fn every_served_route_is_documented_and_the_other_way_round() {
    let app = TestApp::new();
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    if let Ok(path) = std::env::var("CHAT_OPENAPI_DUMP") {
        std::fs::write(path, serde_json::to_string_pretty(&document).expect("json")).expect("dump the document");
    }

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(documented.len(), 32, "{documented:?}");

    // Every documented operation is served, and asks for authentication unless it is public.
    for (method, path) in &documented {
        let http_method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
        let answer = app.call(http_method, &concrete(path), None, None).await;
        let public = document["paths"][path][method]["security"] == serde_json::json!([{}]);
        if public {
            assert_eq!(answer.status, StatusCode::OK, "{method} {path}");
        } else {
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}: {answer:?}");
            assert!(
                document["paths"][path][method]["responses"].get("401").is_some(),
                "{method} {path} does not document 401"
            );
        }
    }

    // Everything the router serves among the documented paths and the probes is documented
    // (HEAD is served wherever GET is, as HTTP requires).
    let mut candidates: BTreeSet<String> = document["paths"].as_object().expect("paths").keys().cloned().collect();
    candidates.extend(PROBES.iter().map(|probe| (*probe).to_owned()));
    let mut found = BTreeSet::new();
    for path in &candidates {
        for method in METHODS {
            if served(&app, method, path).await {
                let method = if method == "head" { "get" } else { method };
                found.insert((method.to_owned(), path.clone()));
            }
        }
    }
    assert_eq!(found, documented);
}

#[tokio::test]
async fn the_document_describes_the_resources_of_the_contract() {
    let app = TestApp::new();
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];
    let properties = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}"))
            .keys()
            .cloned()
            .collect()
    };
    let conversation = properties("ConversationResource");
    for field in [
        "uuid",
        "kind",
        "title",
        "taggable_type",
        "taggable_id",
        "last_message_text",
        "last_message_at",
        "last_activity_at",
        "is_archived",
        "unread_count",
        "created_at",
        "updated_at",
        "participants",
        "counterpart",
    ] {
        assert!(conversation.contains(field), "{field}");
    }
    let message = properties("MessageResource");
    for field in [
        "uuid",
        "conversation_uuid",
        "seq",
        "sender",
        "body",
        "client_message_id",
        "metadata",
        "is_edited",
        "edited_at",
        "is_deleted",
        "created_at",
        "kind",
        "reply_to",
        "reactions",
        "status",
        "delivered_count",
        "read_count",
    ] {
        assert!(message.contains(field), "{field}");
    }
    // Always present (null when empty) but for the receipts, which only the sender's own
    // messages carry.
    let required: BTreeSet<String> = schemas["MessageResource"]["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();
    for field in ["kind", "sender", "reply_to", "reactions"] {
        assert!(required.contains(field), "{field} is required");
    }
    for field in ["status", "delivered_count", "read_count"] {
        assert!(!required.contains(field), "{field} is optional");
    }
    assert_eq!(
        properties("ReplyResource"),
        ["body", "is_deleted", "sender", "seq", "uuid"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(
        properties("ReactionResource"),
        ["count", "emoji", "me"].map(str::to_owned).into()
    );
    assert_eq!(
        schemas["DeliveryStatus"]["enum"],
        serde_json::json!(["sent", "delivered", "read"])
    );
    let reactions = &document["paths"]["/conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}"];
    for method in ["put", "delete"] {
        for status in ["200", "401", "404", "409", "422"] {
            assert!(
                reactions[method]["responses"].get(status).is_some(),
                "{method} reactions documents {status}"
            );
        }
    }
    let delivered = &document["paths"]["/conversations/{uuid}/delivered"]["post"]["responses"];
    for status in ["200", "401", "404", "422"] {
        assert!(delivered.get(status).is_some(), "delivered documents {status}");
    }
    assert!(properties("PivotResource").contains("last_read_seq"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "the API is documented as bearer-authenticated"
    );
    let send = &document["paths"]["/conversations/{uuid}/messages"]["post"]["responses"];
    for status in ["201", "200", "401", "404", "413", "422", "429"] {
        assert!(send.get(status).is_some(), "send documents {status}");
    }
}
