//! Property tests of every decoder the API has: arbitrary bytes, arbitrary JSON and nearly
//! valid bodies at every JSON body endpoint (through the router), arbitrary inbox cursors
//! (the decoder and the query) and arbitrary query strings. Never a panic, never a 5xx: a
//! rejection is always a JSON 4xx.
//!
//! `CHAT_PROPTEST_CASES` sets the cases per property (default 256).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chat_core::ConversationId;
use chat_core::backend::InboxCursor;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common::{TestApp, token};

fn cases() -> u32 {
    std::env::var("CHAT_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Any JSON value, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from("u1")),
        Just(Value::from(" ")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Field names the bodies know, plus ones they must refuse.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "body",
            "content",
            "client_message_id",
            "metadata",
            "participant_uuid",
            "participant_uuids",
            "title",
            "taggable_type",
            "taggable_id",
            "up_to_seq",
            "sender",
            "seq",
            "tenant",
            "id",
            "uuid",
            "created_at",
        ])
        .prop_map(str::to_owned),
        ".{0,12}",
    ]
}

/// A valid body of `endpoint` with fields replaced, added or removed at random.
fn near_body(valid: Value) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((field_name(), json_value()), 0..4),
        prop::collection::vec(field_name(), 0..2),
    )
        .prop_map(move |(set, remove)| {
            let mut body = valid.clone();
            if let Some(object) = body.as_object_mut() {
                for (key, value) in set {
                    object.insert(key, value);
                }
                for key in remove {
                    object.remove(&key);
                }
            }
            body
        })
}

/// The JSON body endpoints with a real conversation, group and message, and a valid body each.
struct Targets {
    endpoints: Vec<(Method, String, Value)>,
}

async fn targets(app: &TestApp) -> Targets {
    let direct = app.direct(0, 1).await;
    let group = app.group(0, &[1, 2]).await;
    let message = app.message(0, &direct, "hello").await;
    let message = message["uuid"].as_str().expect("uuid").to_owned();
    Targets {
        endpoints: vec![
            (Method::POST, "/conversations".into(), json!({"participant_uuid": "u2"})),
            (
                Method::POST,
                "/conversations/groups".into(),
                json!({"participant_uuids": ["u1"], "title": "T"}),
            ),
            (
                Method::POST,
                format!("/conversations/{direct}/messages"),
                json!({"body": "hi"}),
            ),
            (
                Method::PATCH,
                format!("/conversations/{direct}/messages/{message}"),
                json!({"body": "edited"}),
            ),
            (
                Method::POST,
                format!("/conversations/{direct}/read"),
                json!({"up_to_seq": 1}),
            ),
            (Method::POST, format!("/conversations/{direct}/archive"), json!({})),
            (Method::POST, format!("/conversations/{direct}/clear"), json!({})),
            (Method::POST, format!("/conversations/{direct}/typing"), json!({})),
            (
                Method::POST,
                format!("/conversations/{group}/participants"),
                json!({"participant_uuids": ["u3"]}),
            ),
        ],
    }
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> crate::common::Answer {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    app.send(builder.body(Body::from(body)).expect("request")).await
}

fn check(answer: &crate::common::Answer, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        answer.status.is_success() || answer.status.is_client_error(),
        "{what} -> {} {}",
        answer.status,
        answer.text
    );
    prop_assert!(
        answer.json["message"].is_string(),
        "{what} -> not a JSON answer: {}",
        answer.text
    );
    Ok(())
}

#[test]
fn arbitrary_bodies_at_every_json_endpoint_are_answered_4xx_at_worst() {
    let runtime = runtime();
    let app = TestApp::new();
    let targets = runtime.block_on(targets(&app));
    let count = targets.endpoints.len();
    let valid: Vec<Value> = targets.endpoints.iter().map(|(_, _, body)| body.clone()).collect();
    let endpoint_and_near = (0..count).prop_flat_map(move |index| (Just(index), near_body(valid[index].clone())));
    let config = ProptestConfig::with_cases(cases());
    proptest!(config, |((index, near) in endpoint_and_near,
                       bytes in prop::collection::vec(any::<u8>(), 0..300),
                       value in json_value(),
                       content_type in prop::sample::select(vec![Some("application/json"), Some("text/plain"), None]))| {
        let (method, path, _) = &targets.endpoints[index];
        for (what, content_type, body) in [
            ("bytes", content_type, bytes.clone()),
            ("json", Some("application/json"), value.to_string().into_bytes()),
            ("near-valid", Some("application/json"), near.to_string().into_bytes()),
        ] {
            let answer = runtime.block_on(raw(&app, method.clone(), path, content_type, body.clone()));
            check(&answer, &format!("{what} {method} {path} {:?}", String::from_utf8_lossy(&body)))?;
        }
    });
}

/// Cursors: random text, and real cursors with one character changed.
fn cursor_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        "[A-Za-z0-9_-]{0,80}",
        (any::<i64>(), any::<u128>(), any::<usize>(), any::<char>()).prop_map(|(micros, id, at, replacement)| {
            let at_time =
                chrono::DateTime::from_timestamp_micros(micros.rem_euclid(4_102_444_800_000_000)).unwrap_or_default();
            let cursor = InboxCursor {
                last_activity_at: at_time,
                id: ConversationId::from_uuid(uuid::Uuid::from_u128(id)),
            };
            let mut text: Vec<char> = chat_core::cursor::encode(&cursor).chars().collect();
            if !text.is_empty() {
                let index = at % text.len();
                text[index] = replacement;
            }
            text.into_iter().collect()
        }),
    ]
}

#[test]
fn arbitrary_cursors_and_queries_are_answered_4xx_at_worst() {
    let runtime = runtime();
    let app = TestApp::new();
    let direct = runtime.block_on(app.direct(0, 1));
    let config = ProptestConfig::with_cases(cases());
    proptest!(config, |(cursor in cursor_text(), query in prop::collection::vec((field_name(), ".{0,20}"), 0..4))| {
        // The decoder itself: no panic, any error names `cursor`.
        if let Err(error) = chat_core::cursor::decode(&cursor) {
            prop_assert!(error.field_errors().is_some_and(|errors| errors.fields().contains_key("cursor")));
        }
        let encoded = percent(&cursor);
        let answer = runtime.block_on(app.get(&format!("/conversations?cursor={encoded}"), 0));
        check(&answer, &format!("cursor {cursor:?}"))?;
        let query: Vec<String> = query.iter().map(|(key, value)| format!("{}={}", percent(key), percent(value))).collect();
        let query = query.join("&");
        for path in [
            format!("/conversations?{query}"),
            format!("/conversations/search?{query}"),
            format!("/conversations/{direct}/messages?{query}"),
        ] {
            let answer = runtime.block_on(app.get(&path, 0));
            check(&answer, &path)?;
        }
    });
}

/// Percent-encodes everything but unreserved characters.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[test]
fn a_real_cursor_still_decodes() {
    let runtime = runtime();
    let app = TestApp::new();
    for other in 1..4 {
        runtime.block_on(app.direct(0, other));
    }
    let page = runtime.block_on(app.get("/conversations?limit=2", 0));
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let cursor = page.json["meta"]["next_cursor"].as_str().expect("a next page");
    let next = runtime.block_on(app.get(&format!("/conversations?limit=2&cursor={cursor}"), 0));
    assert_eq!(next.status, StatusCode::OK, "{next:?}");
    assert_eq!(next.json["data"].as_array().map(Vec::len), Some(1));
}

/// What schemathesis found, each kept as a plain regression test.
#[tokio::test]
async fn schemathesis_findings_stay_fixed() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    // `null` is "no body" where the body is optional (the document says `null | object`).
    for action in ["read", "archive", "clear", "typing"] {
        let answer = raw(
            &app,
            Method::POST,
            &format!("/conversations/{direct}/{action}"),
            Some("application/json"),
            b"null".to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {answer:?}");
    }
    // JSON Schema integers include `2.0`.
    let answer = app
        .post(&format!("/conversations/{direct}/read"), 0, json!({"up_to_seq": 2.0}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let answer = app
        .post(&format!("/conversations/{direct}/read"), 0, json!({"up_to_seq": 2.5}))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    // Booleans and integers in queries are exactly what the document says.
    for query in [
        "archived=2",
        "archived=TRUE",
        "unread=yes",
        "limit=%2B5",
        "limit=%205",
        "limit=101",
    ] {
        let answer = app.get(&format!("/conversations?{query}"), 0).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer:?}");
    }
    // `1` and `0` are booleans too (PHP and Laravel clients send them), and documented so.
    for query in [
        "archived=",
        "archived=0",
        "unread=1",
        "archived=all",
        "archived=true",
        "unread=false",
        "limit=100",
    ] {
        let answer = app.get(&format!("/conversations?{query}"), 0).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {answer:?}");
    }
    // A retry key is printable ASCII, so its length in characters is its length in bytes.
    let path = format!("/conversations/{direct}/messages");
    let answer = app.post(&path, 0, json!({"body": "x", "client_message_id": "é"})).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    let answer = app
        .post(&path, 0, json!({"body": "x", "client_message_id": "k".repeat(128)}))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    // The served document carries the limits in force.
    let document = app.get("/openapi.json", 0).await.json;
    let body = &document["components"]["schemas"]["SendMessageRequest"]["properties"]["body"];
    assert_eq!(body["maxLength"], 4000);
    let limit = document["paths"]["/conversations/search"]["get"]["parameters"]
        .as_array()
        .and_then(|parameters| parameters.iter().find(|p| p["name"] == "limit"))
        .map(|p| p["schema"]["maximum"].clone());
    assert_eq!(limit, Some(json!(100)));
}
