//! Walks every route of the OpenAPI document with conversations the caller is not in.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

/// A valid body for each documented operation that takes an id, so that only authorization
/// can fail. A route missing here fails the walk: new routes must be walked too.
fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("post", "/conversations/{uuid}/messages") => Some(json!({"body": "let me in"})),
        ("patch", "/conversations/{uuid}/messages/{message_uuid}") => Some(json!({"body": "rewritten"})),
        ("post", "/conversations/{uuid}/read" | "/conversations/{uuid}/delivered") => Some(json!({"up_to_seq": 1})),
        ("post", "/conversations/{uuid}/participants") => Some(json!({"participant_uuids": ["u4"]})),
        ("post", "/conversations/{uuid}/messages/{message_uuid}/report") => Some(json!({"reason": "spam"})),
        // Any bytes: a plain text file.
        ("post", "/conversations/{uuid}/attachments") => Some(json!({"note": "a text file"})),
        ("get", "/conversations/{uuid}/attachments/{attachment_uuid}") => None,
        ("post", "/conversations/{uuid}/archive" | "/conversations/{uuid}/clear" | "/conversations/{uuid}/typing")
        | ("get", "/conversations/{uuid}" | "/conversations/{uuid}/messages")
        | ("delete", "/conversations/{uuid}/archive")
        | ("put" | "delete", "/conversations/{uuid}/mute")
        | ("delete", "/conversations/{uuid}/messages/{message_uuid}")
        | ("put" | "delete", "/conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}")
        | ("delete", "/conversations/{uuid}/participants/{user}") => None,
        other => panic!("no body for {other:?}: add the route to the authorization walk"),
    }
}

fn method_of(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).expect("method")
}

fn fill(path: &str, conversation: &str, message: &str) -> String {
    let filled = path
        .replace("{uuid}", conversation)
        .replace("{message_uuid}", message)
        .replace("{attachment_uuid}", message)
        .replace("{user}", "u1")
        .replace("{emoji}", "%F0%9F%91%8D");
    if path.ends_with("/attachments") {
        // The upload's one required query parameter.
        filled + "?name=walk.txt"
    } else {
        filled
    }
}

/// What a stranger is told: the conversation is not found, except for a download, where
/// a conversation the caller is not in answers like a missing attachment id.
fn not_found_for(path: &str) -> Value {
    if path.contains("{attachment_uuid}") {
        json!({"message": "Attachment not found."})
    } else {
        json!({"message": "Conversation not found."})
    }
}

fn documents(operation: &Value, status: StatusCode) -> bool {
    operation["responses"].get(status.as_str()).is_some()
}

#[tokio::test]
async fn not_yours_answers_exactly_like_missing_on_every_route() {
    let app = TestApp::new();
    let group = app.group(0, &[1, 2]).await;
    let secret = app.message(1, &group, "secret").await;
    let secret_uuid = secret["uuid"].as_str().expect("uuid").to_owned();
    let before = app.get(&format!("/conversations/{group}"), 0).await.json;

    let document = app.call(Method::GET, "/openapi.json", None, None).await.json;
    let stranger = 3;
    let random = uuid::Uuid::now_v7().to_string();
    let random_message = uuid::Uuid::now_v7().to_string();
    let mut walked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        if !path.contains("{uuid}") {
            continue;
        }
        for (method, operation) in item.as_object().expect("path item") {
            let body = body_for(method, path);
            let call = |target: String| {
                let body = body.clone();
                let app = &app;
                async move { app.call(method_of(method), &target, Some(stranger), body).await }
            };
            let not_yours = call(fill(path, &group, &secret_uuid)).await;
            let missing = call(fill(path, &random, &random_message)).await;
            let malformed = call(fill(path, "not-a-uuid", "also-not-a-uuid")).await;

            assert_eq!(
                not_yours.status,
                StatusCode::NOT_FOUND,
                "{method} {path}: {not_yours:?}"
            );
            assert_eq!(missing.status, StatusCode::NOT_FOUND, "{method} {path}: {missing:?}");
            assert_eq!(not_yours.text, missing.text, "{method} {path}: bodies differ");
            assert_eq!(not_yours.json, not_found_for(path), "{method} {path}");
            assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}");
            assert_eq!(
                malformed.json["errors"]["uuid"],
                json!(["must be a valid UUID"]),
                "{method} {path}"
            );
            for id in ["message_uuid", "attachment_uuid"] {
                if path.contains(&format!("{{{id}}}")) {
                    assert_eq!(
                        malformed.json["errors"][id],
                        json!(["must be a valid UUID"]),
                        "{method} {path}"
                    );
                }
            }
            assert!(
                documents(operation, StatusCode::NOT_FOUND),
                "{method} {path} does not document 404"
            );
            assert!(
                documents(operation, StatusCode::UNPROCESSABLE_ENTITY),
                "{method} {path} does not document 422"
            );
            walked += 1;
        }
    }
    assert_eq!(walked, 20, "every operation on a conversation was walked");

    // Nothing the stranger did changed anything.
    let after = app.get(&format!("/conversations/{group}"), 0).await.json;
    assert_eq!(before, after);
    let history = app.get(&format!("/conversations/{group}/messages"), 0).await.json;
    assert_eq!(history["data"].as_array().expect("rows").len(), 1);
    assert_eq!(history["data"][0]["body"], "secret");
}

#[tokio::test]
async fn a_message_of_another_conversation_answers_like_a_missing_one() {
    let app = TestApp::new();
    let mine = app.direct(0, 1).await;
    let theirs = app.direct(2, 3).await;
    let their_message = app.message(2, &theirs, "private").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let random = uuid::Uuid::now_v7().to_string();
    for (method, body) in [(Method::PATCH, Some(json!({"body": "x"}))), (Method::DELETE, None)] {
        let foreign = app
            .call(
                method.clone(),
                &format!("/conversations/{mine}/messages/{their_message}"),
                Some(0),
                body.clone(),
            )
            .await;
        let missing = app
            .call(
                method.clone(),
                &format!("/conversations/{mine}/messages/{random}"),
                Some(0),
                body,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(foreign.text, missing.text, "{method}");
        assert_eq!(foreign.json, json!({"message": "Message not found."}));
    }
    let history = app.get(&format!("/conversations/{theirs}/messages"), 2).await.json;
    assert_eq!(history["data"][0]["body"], "private");
}
