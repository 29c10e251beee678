//! Platforms (`X-PUBLIC-KEY`), contacts (`GET /users`) and PHP-style query booleans, through
//! the router.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chat_axum::PlatformKeys;
use chat_core::{Limits, TenantId};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::common::{Answer, TENANT, TestApp, keys};

const ACME_KEY: &str = "pk_acme_1";
const OTHER_KEY: &str = "pk_other_1";

fn with_platforms() -> TestApp {
    TestApp::build(Limits::default(), 256, |api| {
        api.with_platform_keys(
            PlatformKeys::new()
                .with_key(ACME_KEY, TenantId::new(TENANT).expect("tenant"))
                .with_key(OTHER_KEY, TenantId::new("other").expect("tenant")),
        )
    })
}

/// `method path` with `token` (`tenant:user`), the platform key `key` and a JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(key) = key {
        builder = builder.header("X-PUBLIC-KEY", key);
    }
    let body = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.send(builder.body(body).expect("request")).await
}

#[tokio::test]
async fn a_platform_key_is_required_and_must_be_the_tokens_platform() {
    let app = with_platforms();
    for key in [None, Some(""), Some("pk_nope")] {
        let answer = call(&app, Method::GET, "/conversations", "acme:u0", key, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{key:?}: {answer:?}");
        let message = answer.json["message"].as_str().expect("message");
        assert!(message.contains("X-PUBLIC-KEY"), "{message}");
    }
    let ok = call(&app, Method::GET, "/conversations", "acme:u0", Some(ACME_KEY), None).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    // A token of one platform with another platform's key.
    let crossed = call(&app, Method::GET, "/conversations", "acme:u0", Some(OTHER_KEY), None).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED, "{crossed:?}");
    assert_eq!(crossed.json["message"], "Unauthenticated.");
    let other = call(&app, Method::GET, "/conversations", "other:u0", Some(OTHER_KEY), None).await;
    assert_eq!(other.status, StatusCode::OK, "{other:?}");
    // The document says so; the document itself stays public.
    let document = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(document.status, StatusCode::OK);
    assert_eq!(
        document.json["components"]["securitySchemes"]["public_key"]["name"],
        "X-PUBLIC-KEY"
    );
    assert_eq!(document.json["security"], json!([{"bearer": [], "public_key": []}]));
    // Without platform keys the authenticator alone decides, as before.
    let plain = TestApp::new();
    assert_eq!(plain.get("/conversations", 0).await.status, StatusCode::OK);
}

/// The tenant-isolation case of the conformance suite, end to end over HTTP: the same user
/// ids on two platforms never see each other's conversations.
#[tokio::test]
async fn platforms_are_isolated_end_to_end() {
    let app = with_platforms();
    let started = call(
        &app,
        Method::POST,
        "/conversations",
        "acme:u0",
        Some(ACME_KEY),
        Some(json!({"participant_uuid": "u1"})),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let uuid = started.json["data"]["uuid"].as_str().expect("uuid").to_owned();
    let sent = call(
        &app,
        Method::POST,
        &format!("/conversations/{uuid}/messages"),
        "acme:u0",
        Some(ACME_KEY),
        Some(json!({"body": "acme only"})),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");

    // u1 of the other platform: same user id, another tenant.
    let as_other = |method, path: String, body| {
        let app = &app;
        async move { call(app, method, &path, "other:u1", Some(OTHER_KEY), body).await }
    };
    let inbox = as_other(Method::GET, "/conversations".into(), None).await;
    assert_eq!(inbox.json["data"], json!([]), "{inbox:?}");
    for (method, path, body) in [
        (Method::GET, format!("/conversations/{uuid}"), None),
        (Method::GET, format!("/conversations/{uuid}/messages"), None),
        (
            Method::POST,
            format!("/conversations/{uuid}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (Method::POST, format!("/conversations/{uuid}/read"), None),
    ] {
        let answer = as_other(method.clone(), path.clone(), body).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}: {answer:?}");
    }
    let stats = as_other(Method::GET, "/conversations/stats".into(), None).await;
    assert_eq!(stats.json["data"]["total_conversations"], 0, "{stats:?}");
    // acme's users are unknown on the other platform.
    let stranger = as_other(
        Method::POST,
        "/conversations".into(),
        Some(json!({"participant_uuid": "u2"})),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY, "{stranger:?}");
    let contacts = as_other(Method::GET, "/users".into(), None).await;
    let ids: Vec<&str> = contacts.json["data"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["uuid"].as_str())
        .collect();
    assert_eq!(ids, ["u0"], "{contacts:?}");
    assert_eq!(contacts.json["data"][0]["name"], "Other 0");
}

#[tokio::test]
async fn the_websocket_takes_the_platform_key_from_the_query() {
    let app = with_platforms();
    let addr = crate::ws::serve(&app).await;
    let url = |query: &str| format!("ws://{addr}/ws?token=acme:u0{query}");
    let (mut socket, response) = tokio_tungstenite::connect_async(url(&format!("&public_key={ACME_KEY}")))
        .await
        .expect("upgrade with the key");
    assert_eq!(response.status(), 101);
    let _ = tokio::time::timeout(Duration::from_millis(50), socket.next()).await;
    for query in [
        String::new(),
        format!("&public_key={OTHER_KEY}"),
        "&public_key=x".into(),
    ] {
        match tokio_tungstenite::connect_async(url(&query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{query}");
            }
            other => panic!("{query}: expected a 401, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn contacts_are_public_profiles_of_the_platform_never_the_caller() {
    let app = TestApp::new();
    let all = app.get("/users", 1).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    let users = all.json["data"].as_array().expect("users");
    assert_eq!(users.len(), 50, "the default page");
    assert!(users.iter().all(|user| user["uuid"] != "u1"), "never the caller");
    for user in users {
        let expected: Vec<String> = if user["uuid"] == "u0" {
            vec!["avatar_url".into(), "headline".into(), "name".into(), "uuid".into()]
        } else {
            vec!["avatar_url".into(), "name".into(), "uuid".into()]
        };
        assert_eq!(keys(user), expected, "{user}");
    }
    assert_eq!(all.json["meta"]["next_cursor"], Value::Null);

    let found = app.get("/users?q=chlo&limit=5", 1).await;
    assert_eq!(found.status, StatusCode::OK, "{found:?}");
    assert_eq!(
        found.json["data"],
        json!([{"uuid": "u2", "name": "Chloé Martin", "avatar_url": "https://cdn.test/u2.png"}])
    );
    let me = app.get("/users?q=Bruno", 1).await;
    assert_eq!(me.json["data"], json!([]), "the caller finds no one but themself");
    assert_eq!(
        app.get("/users?limit=100", 1).await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(100)
    );
    for query in ["limit=0", "limit=101", "limit=x"] {
        let answer = app.get(&format!("/users?{query}"), 1).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer:?}");
        assert!(answer.json["errors"]["limit"].is_array(), "{answer:?}");
    }
    let unauthenticated = app.call(Method::GET, "/users", None, None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    let document = app.call(Method::GET, "/openapi.json", None, None).await.json;
    let operation = &document["paths"]["/users"]["get"];
    let names: Vec<&str> = operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["q", "limit"]);
    assert_eq!(operation["parameters"][1]["schema"]["maximum"], 100);
}

#[tokio::test]
async fn query_booleans_accept_one_and_zero() {
    let app = TestApp::new();
    let first = app.direct(0, 1).await;
    let second = app.direct(0, 2).await;
    app.message(1, &first, "unread for u0").await;
    app.message(2, &second, "also unread").await;
    let archived = app
        .call(Method::POST, &format!("/conversations/{second}/archive"), Some(0), None)
        .await;
    assert_eq!(archived.status, StatusCode::OK);
    let uuids = |answer: &Answer| -> Vec<String> {
        answer.json["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer:?}"))
            .iter()
            .filter_map(|c| c["uuid"].as_str().map(str::to_owned))
            .collect()
    };
    for (query, expected) in [
        ("archived=1", vec![second.clone()]),
        ("archived=0", vec![first.clone()]),
        ("unread=1", vec![first.clone()]),
        ("unread=0", vec![first.clone()]),
        ("archived=1&unread=1", vec![second.clone()]),
    ] {
        let answer = app.get(&format!("/conversations?{query}"), 0).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {answer:?}");
        assert_eq!(uuids(&answer), expected, "{query}");
    }
    for query in ["archived=2", "unread=yes", "unread=01"] {
        let answer = app.get(&format!("/conversations?{query}"), 0).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer:?}");
    }
    let document = app.call(Method::GET, "/openapi.json", None, None).await.json;
    let parameters = document["paths"]["/conversations"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    for name in ["archived", "unread"] {
        let schema = &parameters.iter().find(|p| p["name"] == name).expect("parameter")["schema"];
        let values = schema["enum"].as_array().expect("enum");
        assert!(
            values.contains(&json!("1")) && values.contains(&json!("0")),
            "{name}: {schema}"
        );
    }
}

/// Issue 32, item 11: credentials in the query count only on the WebSocket upgrade (which
/// keeps working, see above). A plain request, such as an attachment link, with
/// `?token=…&public_key=…` and no headers is a 401, and so is a valid bearer token whose
/// platform key is only in the query.
#[tokio::test]
async fn query_credentials_authorize_nothing_but_the_websocket_upgrade() {
    let app = with_platforms();
    let conversation = uuid::Uuid::now_v7();
    let attachment = uuid::Uuid::now_v7();
    for path in [
        format!("/conversations?token=acme:u0&public_key={ACME_KEY}"),
        format!("/conversations/{conversation}/attachments/{attachment}?token=acme:u0&public_key={ACME_KEY}"),
    ] {
        let request = Request::builder()
            .method(Method::GET)
            .uri(&path)
            .body(Body::empty())
            .expect("request");
        let answer = app.send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {answer:?}");
    }
    let key_in_query = call(
        &app,
        Method::GET,
        &format!("/conversations?public_key={ACME_KEY}"),
        "acme:u0",
        None,
        None,
    )
    .await;
    assert_eq!(key_in_query.status, StatusCode::UNAUTHORIZED, "{key_in_query:?}");
    let key_in_header = call(&app, Method::GET, "/conversations", "acme:u0", Some(ACME_KEY), None).await;
    assert_eq!(key_in_header.status, StatusCode::OK, "{key_in_header:?}");
}
