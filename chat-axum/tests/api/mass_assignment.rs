//! Mass assignment: a body cannot set what the server owns (sender, seq, tenant, membership,
//! ids, timestamps). Every such field is refused with a 422 naming it, nothing is stored, and
//! a stored message always has the authenticated sender.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

/// Server-owned fields a client might try to smuggle in.
fn owned() -> Vec<(&'static str, Value)> {
    let uuid = "01a1fc96-edcc-7245-96fe-ee78609e327e";
    let long_ago = "2000-01-01T00:00:00.000000Z";
    vec![
        ("sender", json!("u2")),
        ("sender_id", json!("u2")),
        ("user", json!("u2")),
        ("seq", json!(5)),
        ("tenant", json!("other")),
        ("tenant_id", json!("other")),
        ("uuid", json!(uuid)),
        ("id", json!(uuid)),
        ("conversation_uuid", json!(uuid)),
        ("created_at", json!(long_ago)),
        ("edited_at", json!(long_ago)),
        ("is_deleted", json!(true)),
        ("participants", json!(["u0", "u2"])),
        ("role", json!("owner")),
        ("created_by", json!("u2")),
        ("last_read_seq", json!(99)),
        ("kind", json!("system")),
        ("reactions", json!([{"emoji": "👍", "count": 99, "me": true}])),
        ("status", json!("read")),
        ("last_delivered_seq", json!(99)),
    ]
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.insert(field.to_owned(), value);
    }
    body
}

#[tokio::test]
async fn server_owned_fields_are_refused_everywhere() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    let group = app.group(0, &[1]).await;
    let message = app.message(0, &direct, "first").await;
    let message = message["uuid"].as_str().expect("uuid").to_owned();
    let endpoints: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/conversations".into(), json!({"participant_uuid": "u2"})),
        (
            Method::POST,
            "/conversations/groups".into(),
            json!({"participant_uuids": ["u1"], "title": "T"}),
        ),
        (
            Method::POST,
            format!("/conversations/{direct}/messages"),
            json!({"body": "x"}),
        ),
        (
            Method::PATCH,
            format!("/conversations/{direct}/messages/{message}"),
            json!({"body": "y"}),
        ),
        (Method::POST, format!("/conversations/{direct}/read"), json!({})),
        (Method::POST, format!("/conversations/{direct}/delivered"), json!({})),
        (
            Method::POST,
            format!("/conversations/{direct}/messages"),
            json!({"body": "re", "reply_to": message}),
        ),
        (Method::POST, format!("/conversations/{direct}/archive"), json!({})),
        (Method::POST, format!("/conversations/{direct}/clear"), json!({})),
        (Method::POST, format!("/conversations/{direct}/typing"), json!({})),
        (
            Method::POST,
            format!("/conversations/{group}/participants"),
            json!({"participant_uuids": ["u3"]}),
        ),
    ];
    let mut refused = 0;
    for (method, path, valid) in &endpoints {
        for (field, value) in owned() {
            let answer = app
                .call(method.clone(), path, Some(0), Some(with(valid.clone(), field, value)))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path} {field}: {answer:?}"
            );
            assert_eq!(
                answer.json["errors"][field][0], "is not allowed",
                "{method} {path} {field}: {answer:?}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, endpoints.len() * owned().len());

    // Nothing of it was stored: the history is the one message, unedited, by u0, and u2 is
    // in no conversation with u0.
    let history = app.get(&format!("/conversations/{direct}/messages"), 1).await;
    let data = history.json["data"].as_array().expect("messages");
    assert_eq!(data.len(), 1, "{history:?}");
    assert_eq!(data[0]["body"], "first");
    assert_eq!(data[0]["sender"]["uuid"], "u0");
    assert_eq!(data[0]["is_edited"], false);
    let inbox = app.get("/conversations", 2).await;
    assert_eq!(inbox.json["data"].as_array().map(Vec::len), Some(0), "{inbox:?}");
    let group_view = app.get(&format!("/conversations/{group}"), 0).await;
    assert_eq!(
        group_view.json["data"]["participants"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn a_stored_message_has_the_authenticated_sender() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    // Each user sends, some trying to claim the other as sender (refused), then plainly.
    for round in 0..5 {
        for (me, other) in [(0, 1), (1, 0)] {
            let path = format!("/conversations/{direct}/messages");
            let claim = json!({"body": format!("claim {round}"), "sender": {"uuid": format!("u{other}")}});
            let answer = app.post(&path, me, claim).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
            let answer = app
                .post(&path, me, json!({"content": format!("from u{me} {round}")}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
            assert_eq!(answer.json["data"]["sender"]["uuid"], format!("u{me}"));
        }
    }
    let history = app.get(&format!("/conversations/{direct}/messages?limit=100"), 0).await;
    let data = history.json["data"].as_array().expect("messages");
    assert_eq!(data.len(), 10);
    for (index, message) in data.iter().enumerate() {
        assert_eq!(message["seq"], index + 1, "dense seqs from the server, not the client");
        let sender = message["sender"]["uuid"].as_str().expect("sender");
        let body = message["body"].as_str().expect("body");
        assert!(body.starts_with(&format!("from {sender} ")), "{message}");
    }
}
