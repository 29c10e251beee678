//! What a hostile client found (issue 13): float tags rounded past 2^53, bodies of only
//! invisible characters, and unlimited conversation creation.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::common::{Answer, TestApp, keys, token};

async fn post_raw(app: &TestApp, path: &str, raw: &str) -> Answer {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(raw.to_owned()))
        .expect("request");
    app.send(request).await
}

fn invalid_fields(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    keys(&answer.json["errors"])
}

/// `9007199254740993.0` used to be stored as another order's id (rounded through an f64).
#[tokio::test]
async fn float_tags_past_2_pow_53_or_fractional_are_422_on_taggable_id() {
    let app = TestApp::new();
    for (number, group) in [
        ("9007199254740993.0", false),
        ("9007199254740993", false),
        ("-9007199254740993.0", false),
        ("1e300", false),
        ("1.5", false),
        ("4503599627370497.5", false),
        ("9007199254740993.0", true),
    ] {
        let (path, raw) = if group {
            (
                "/conversations/groups",
                format!(
                    r#"{{"participant_uuids": ["u1"], "title": "t", "taggable_type": "Order", "taggable_id": {number}}}"#
                ),
            )
        } else {
            (
                "/conversations",
                format!(r#"{{"participant_uuid": "u1", "taggable_type": "Order", "taggable_id": {number}}}"#),
            )
        };
        let answer = post_raw(&app, path, &raw).await;
        assert_eq!(invalid_fields(&answer), ["taggable_id"], "{raw}");
    }
    // An exact whole float within 2^53 is that integer, the same conversation as the integer.
    let raw = r#"{"participant_uuid": "u1", "taggable_type": "Order", "taggable_id": 9007199254740992.0}"#;
    let created = post_raw(&app, "/conversations", raw).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.json["data"]["taggable_id"], json!(9_007_199_254_740_992_i64));
    let raw = r#"{"participant_uuid": "u1", "taggable_type": "Order", "taggable_id": 9007199254740992}"#;
    let again = post_raw(&app, "/conversations", raw).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.json["data"]["uuid"], created.json["data"]["uuid"]);
}

#[tokio::test]
async fn bodies_of_only_invisible_characters_are_422_on_body() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    let path = format!("/conversations/{direct}/messages");
    for body in [
        "\u{200B}",
        "\u{3164}",
        "\u{200D}\u{200C}\u{FEFF}\u{2060}",
        "\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}",
        "\u{3164} \u{200B}\n\u{FEFF}",
    ] {
        let answer = app.post(&path, 0, json!({ "body": body })).await;
        assert_eq!(invalid_fields(&answer), ["body"], "{body:?}");
    }
    let visible = app.post(&path, 0, json!({"body": "\u{200B}ok"})).await;
    assert_eq!(visible.status, StatusCode::CREATED, "{visible:?}");
}

/// One user created 5,000 direct conversations with one victim (a new tag each) at 821/s.
#[tokio::test]
async fn starting_too_many_conversations_is_429_with_retry_after() {
    let mut limits = chat_core::Limits::default();
    limits.conversations_started_per_hour = 5;
    let app = TestApp::build(limits, 256, |api| api);
    let start = |id: u32| json!({"participant_uuid": "u1", "taggable_type": "Order", "taggable_id": id});
    for id in 0..4 {
        let answer = app.post("/conversations", 0, start(id)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    }
    let group = json!({"participant_uuids": ["u1", "u2"], "title": "spam"});
    assert_eq!(
        app.post("/conversations/groups", 0, group.clone()).await.status,
        StatusCode::CREATED
    );
    let limited = app.post("/conversations", 0, start(99)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((600..=720).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.json["message"], "Too many requests.");
    assert_eq!(
        app.post("/conversations/groups", 0, group).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Reopening an existing conversation is not starting one.
    let existing = app.post("/conversations", 0, start(0)).await;
    assert_eq!(existing.status, StatusCode::OK, "{existing:?}");
    // The victim's own budget is untouched.
    let answer = app.post("/conversations", 1, json!({"participant_uuid": "u2"})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
}
