//! `/blocks` over HTTP: blocking stops the blocked user's direct messages with a neutral
//! 403, each caller sees and changes only their own blocks, and a body cannot set what the
//! server owns.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_timestamp};

#[tokio::test]
async fn a_block_stops_the_blocked_users_direct_messages_until_unblocked() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    app.message(1, &direct, "hello").await;

    let blocked = app.post("/blocks", 0, json!({"user": "u1"})).await;
    assert_eq!(blocked.status, StatusCode::CREATED, "{blocked:?}");
    assert_eq!(blocked.json["data"]["user"]["uuid"], "u1");
    assert!(blocked.json["data"]["user"]["name"].is_string());
    assert_timestamp(&blocked.json["data"]["created_at"]);
    let again = app.post("/blocks", 0, json!({"user": "u1"})).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.json["data"]["created_at"], blocked.json["data"]["created_at"]);

    let send = app
        .post(
            &format!("/conversations/{direct}/messages"),
            1,
            json!({"body": "still there?"}),
        )
        .await;
    assert_eq!(send.status, StatusCode::FORBIDDEN, "{send:?}");
    let said = send.json["message"].as_str().expect("message").to_lowercase();
    assert!(!said.contains("block"), "the refusal is neutral: {said}");
    let start = app
        .post(
            "/conversations",
            1,
            json!({"participant_uuid": "u0", "taggable_type": "Order", "taggable_id": 5}),
        )
        .await;
    assert_eq!(start.status, StatusCode::FORBIDDEN, "{start:?}");
    let existing = app.post("/conversations", 1, json!({"participant_uuid": "u0"})).await;
    assert_eq!(
        existing.status,
        StatusCode::OK,
        "the existing conversation still opens: {existing:?}"
    );
    let history = app.get(&format!("/conversations/{direct}/messages"), 0).await;
    assert_eq!(history.json["data"].as_array().map(Vec::len), Some(1), "{history:?}");
    app.message(0, &direct, "the blocker may still write").await;

    let listed = app.get("/blocks", 0).await;
    assert_eq!(listed.status, StatusCode::OK);
    let users: Vec<&str> = listed.json["data"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter_map(|block| block["user"]["uuid"].as_str())
        .collect();
    assert_eq!(users, ["u1"]);

    let unblocked = app.call(Method::DELETE, "/blocks/u1", Some(0), None).await;
    assert_eq!(unblocked.status, StatusCode::OK, "{unblocked:?}");
    assert_eq!(unblocked.json["data"], json!(null));
    let twice = app.call(Method::DELETE, "/blocks/u1", Some(0), None).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND, "not blocked any more: {twice:?}");
    assert_eq!(twice.json["message"], "Block not found.");
    app.message(1, &direct, "back").await;
}

#[tokio::test]
async fn blocks_are_the_callers_own() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    assert_eq!(
        app.post("/blocks", 0, json!({"user": "u1"})).await.status,
        StatusCode::CREATED
    );

    // Another user sees none of them and cannot lift them: DELETE acts on the caller's own.
    let theirs = app.get("/blocks", 2).await;
    assert_eq!(theirs.json["data"], json!([]), "{theirs:?}");
    let lifted = app.call(Method::DELETE, "/blocks/u1", Some(2), None).await;
    assert_eq!(lifted.status, StatusCode::NOT_FOUND, "{lifted:?}");
    // Nor can the blocked user lift it.
    let by_blocked = app.call(Method::DELETE, "/blocks/u0", Some(1), None).await;
    assert_eq!(by_blocked.status, StatusCode::NOT_FOUND, "{by_blocked:?}");
    let send = app
        .post(&format!("/conversations/{direct}/messages"), 1, json!({"body": "x"}))
        .await;
    assert_eq!(send.status, StatusCode::FORBIDDEN, "the block stands: {send:?}");
    let mine = app.get("/blocks", 0).await;
    assert_eq!(mine.json["data"].as_array().map(Vec::len), Some(1));
    // Unauthenticated: 401 on every route.
    for (method, path) in [
        (Method::GET, "/blocks"),
        (Method::POST, "/blocks"),
        (Method::DELETE, "/blocks/u1"),
    ] {
        let answer = app.call(method.clone(), path, None, Some(json!({"user": "u1"}))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn bad_block_requests_are_422_and_store_nothing() {
    let app = TestApp::new();
    for (body, field) in [
        (json!({"user": "u0"}), "user"),
        (json!({"user": "nobody-known"}), "user"),
        (json!({"user": ""}), "user"),
        (json!({}), "user"),
        (json!({"user": "u1", "blocker": "u2"}), "blocker"),
        (json!({"user": "u1", "tenant": "other"}), "tenant"),
        (
            json!({"user": "u1", "created_at": "2000-01-01T00:00:00.000000Z"}),
            "created_at",
        ),
    ] {
        let answer = app.post("/blocks", 0, body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer:?}");
        assert!(answer.json["errors"][field].is_array(), "{body}: {answer:?}");
    }
    let control = app.call(Method::DELETE, "/blocks/u%01x", Some(0), None).await;
    assert_eq!(control.status, StatusCode::UNPROCESSABLE_ENTITY, "{control:?}");
    assert_eq!(app.get("/blocks", 0).await.json["data"], json!([]));
    assert_eq!(app.get("/blocks", 2).await.json["data"], json!([]));
}
