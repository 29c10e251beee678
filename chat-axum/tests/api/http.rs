//! Every endpoint through the router: the documented shapes, each error status, enrichment.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chat_axum::{ChatApi, RateLimit};
use chat_core::Limits;
use serde_json::{Value, json};

use crate::common::{EXPLODING_USER, TestApp, assert_timestamp, keys, token};

const CONVERSATION_KEYS: [&str; 15] = [
    "counterpart",
    "created_at",
    "is_archived",
    "kind",
    "last_activity_at",
    "last_message_at",
    "last_message_text",
    "muted",
    "participants",
    "taggable_id",
    "taggable_type",
    "title",
    "unread_count",
    "updated_at",
    "uuid",
];

/// The keys of a message resource as its sender sees it in a direct conversation (`status`
/// is only on the reader's own messages).
const MESSAGE_KEYS: [&str; 16] = [
    "attachments",
    "body",
    "client_message_id",
    "conversation_uuid",
    "created_at",
    "edited_at",
    "is_deleted",
    "is_edited",
    "kind",
    "metadata",
    "reactions",
    "reply_to",
    "sender",
    "seq",
    "status",
    "uuid",
];

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    names.sort();
    names
}

/// The field names of a 422.
fn error_fields(answer: &crate::common::Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    assert_eq!(answer.json["message"], "The given data was invalid.");
    keys(&answer.json["errors"])
}

fn limits(configure: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    configure(&mut limits);
    limits
}

#[tokio::test]
async fn start_direct_answers_201_then_200_with_the_documented_resource() {
    let app = TestApp::new();
    let body = json!({"participant_uuid": "u1", "taggable_type": "App\\Models\\Order", "taggable_id": 123});
    let created = app.post("/conversations", 0, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(keys(&created.json), ["data", "message"]);
    assert_eq!(created.json["message"], "Conversation created.");
    let data = &created.json["data"];
    assert_eq!(keys(data), sorted(&CONVERSATION_KEYS));
    assert_eq!(data["kind"], "direct");
    assert_eq!(data["title"], Value::Null);
    assert_eq!(data["taggable_type"], "App\\Models\\Order");
    assert_eq!(data["taggable_id"], json!(123), "an integer id answers as an integer");
    assert_eq!(data["last_message_text"], Value::Null);
    assert_eq!(data["last_message_at"], Value::Null);
    assert_eq!(data["is_archived"], false);
    assert_eq!(data["unread_count"], 0);
    assert_timestamp(&data["created_at"]);
    assert_timestamp(&data["updated_at"]);
    assert_eq!(
        data["counterpart"],
        json!({"uuid": "u1", "name": "Bruno Díaz", "avatar_url": "https://cdn.test/u1.png"})
    );
    let participants = data["participants"].as_array().expect("participants");
    assert_eq!(participants.len(), 2);
    for participant in participants {
        let mut expected = vec!["avatar_url", "name", "pivot", "uuid"];
        if participant["uuid"] == "u0" {
            expected.push("headline");
        }
        assert_eq!(keys(participant), sorted(&expected));
        assert_eq!(
            keys(&participant["pivot"]),
            ["joined_at", "last_read_at", "last_read_seq", "role", "unread_count"]
        );
        assert_timestamp(&participant["pivot"]["joined_at"]);
        assert_eq!(participant["pivot"]["last_read_seq"], 0);
    }

    // The same pair and tag from the other side, the id given as text: the same conversation,
    // answered in the form it was created with.
    let again = app
        .post(
            "/conversations",
            1,
            json!({"participant_uuid": "u0", "taggable_type": "App\\Models\\Order", "taggable_id": "123"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.json["message"], "Conversation retrieved.");
    assert_eq!(again.json["data"]["uuid"], data["uuid"]);
    assert_eq!(again.json["data"]["taggable_id"], json!(123));
    assert_eq!(again.json["data"]["counterpart"]["uuid"], "u0");
    assert_eq!(
        again.json["data"]["counterpart"]["headline"], "Ceramics from Porto",
        "extra public profile fields the host chose are shown"
    );

    // A string id stays a string; another tag is another conversation.
    let other = app
        .post(
            "/conversations",
            0,
            json!({"participant_uuid": "u1", "taggable_type": "Listing", "taggable_id": "lst-9"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(other.json["data"]["taggable_id"], "lst-9");
    assert_ne!(other.json["data"]["uuid"], data["uuid"]);
}

#[tokio::test]
async fn start_direct_rejects_bad_input_per_field() {
    let app = TestApp::new();
    let cases = [
        (json!({"participant_uuid": "u1", "sender": "u2"}), "sender"),
        (json!({"participant_uuid": "u1", "tenant": "other"}), "tenant"),
        (json!({}), "participant_uuid"),
        (json!({"participant_uuid": ["u1"]}), "participant_uuid"),
        (json!({"participant_uuid": "u0"}), "participant_uuid"),
        (json!({"participant_uuid": "nobody"}), "participant_uuid"),
        (json!({"participant_uuid": 42}), "participant_uuid"),
        (json!({"participant_uuid": ""}), "participant_uuid"),
        (
            json!({"participant_uuid": "u1", "taggable_type": "Order"}),
            "taggable_id",
        ),
        (json!({"participant_uuid": "u1", "taggable_id": 5}), "taggable_type"),
        (
            json!({"participant_uuid": "u1", "taggable_type": "Order", "taggable_id": 1.5}),
            "taggable_id",
        ),
        (
            json!({"participant_uuid": "u1", "taggable_type": "O".repeat(256), "taggable_id": 1}),
            "taggable_type",
        ),
        (
            json!({"participant_uuid": "u1", "metadata": "not an object"}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let answer = app.post("/conversations", 0, body.clone()).await;
        assert_eq!(error_fields(&answer), [field], "{body}");
    }
    assert_eq!(
        app.post("/conversations", 0, json!({"participant_uuid": "u1", "x": 1}))
            .await
            .json["errors"]["x"],
        json!(["is not allowed"])
    );

    // Not JSON at all, not an object, and not declared as JSON.
    for raw in ["{\"participant_uuid\": ", "[]", "\"u1\"", ""] {
        let request = Request::post("/conversations")
            .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(raw))
            .expect("request");
        assert_eq!(error_fields(&app.send(request).await), ["json"], "{raw}");
    }
    let request = Request::post("/conversations")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"participant_uuid": "u1"}"#))
        .expect("request");
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(keys(&answer.json), ["message"]);
}

#[tokio::test]
async fn unauthenticated_requests_get_401_json() {
    let app = TestApp::new();
    for token in [None, Some("garbage"), Some("acme:"), Some(":u1")] {
        let answer = app.call_token(Method::GET, "/conversations", token, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json, json!({"message": "Unauthenticated."}));
    }
    // Authentication comes before anything else, even a malformed id or body.
    let answer = app
        .call(
            Method::POST,
            "/conversations/not-a-uuid/messages",
            None,
            Some(json!({"nope": 1})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let app = TestApp::new();
    let huge = "x".repeat(65 * 1024);
    let answer = app.post("/conversations", 0, json!({"participant_uuid": huge})).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json, json!({"message": "The request body is too large."}));

    // A smaller configured limit applies too, also without a Content-Length.
    let app = TestApp::build(limits(|l| l.request_body_max_bytes = 100), 256, |api| api);
    let conversation = app.direct(0, 1).await;
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 50]))));
    let request = Request::post(format!("/conversations/{conversation}/messages"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .expect("request");
    assert_eq!(app.send(request).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn groups_are_created_with_limits_naming_the_field() {
    let app = TestApp::build(limits(|l| l.group_max_participants = 3), 256, |api| api);
    let answer = app
        .post(
            "/conversations/groups",
            0,
            json!({"participant_uuids": ["u1", "u2", "u1"], "title": "  Launch  ", "taggable_type": "Project", "taggable_id": 7}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    let data = &answer.json["data"];
    assert_eq!(keys(data), sorted(&CONVERSATION_KEYS));
    assert_eq!(data["kind"], "group");
    assert_eq!(data["title"], "Launch");
    assert_eq!(data["counterpart"], Value::Null);
    assert_eq!(data["taggable_id"], 7);
    let members: Vec<&str> = data["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["uuid"].as_str().expect("uuid"))
        .collect();
    assert_eq!(members.len(), 3);
    assert!(members.contains(&"u0") && members.contains(&"u1") && members.contains(&"u2"));

    let cases = [
        (
            json!({"participant_uuids": ["u1", "u2", "u3"], "title": "Big"}),
            "participant_uuids",
        ),
        (json!({"participant_uuids": [], "title": "Empty"}), "participant_uuids"),
        (
            json!({"participant_uuids": ["u1", "ghost"], "title": "Ghost"}),
            "participant_uuids",
        ),
        (
            json!({"participant_uuids": ["u1", ""], "title": "Blank"}),
            "participant_uuids.1",
        ),
        (
            json!({"participant_uuids": ["u1", {}], "title": "Object"}),
            "participant_uuids.1",
        ),
        (json!({"participant_uuids": ["u1"], "title": "t".repeat(201)}), "title"),
        (json!({"participant_uuids": ["u1"], "title": "   "}), "title"),
        (json!({"participant_uuids": ["u1"]}), "title"),
        (
            json!({"participant_uuids": ["u1"], "title": "x", "owner": "u3"}),
            "owner",
        ),
    ];
    for (body, field) in cases {
        let answer = app.post("/conversations/groups", 0, body.clone()).await;
        assert_eq!(error_fields(&answer), [field], "{body}");
    }
}

#[tokio::test]
async fn inbox_lists_pages_and_filters() {
    let app = TestApp::new();
    let with_1 = app.direct(0, 1).await;
    let with_2 = app.direct(0, 2).await;
    let order = app
        .post(
            "/conversations",
            0,
            json!({"participant_uuid": "u3", "taggable_type": "Order", "taggable_id": 55}),
        )
        .await
        .json["data"]["uuid"]
        .clone();
    app.message(1, &with_1, "hello from 1").await;
    app.message(2, &with_2, "hello from 2").await;

    let answer = app.get("/conversations", 0).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(keys(&answer.json), ["data", "message", "meta"]);
    assert_eq!(answer.json["message"], "Conversations retrieved.");
    assert_eq!(answer.json["meta"], json!({"next_cursor": null}));
    let uuids: Vec<&Value> = answer.json["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|c| &c["uuid"])
        .collect();
    assert_eq!(uuids, [&json!(with_2), &json!(with_1), &order], "newest activity first");
    let row = &answer.json["data"][0];
    assert_eq!(row["unread_count"], 1);
    assert_eq!(row["last_message_text"], "hello from 2");
    assert_timestamp(&row["last_message_at"]);
    assert_eq!(row["counterpart"]["name"], "Chloé Martin");

    // Cursor pages neither skip nor repeat.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/conversations?limit=2&cursor={cursor}"),
            None => "/conversations?limit=2".to_owned(),
        };
        let page = app.get(&path, 0).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        seen.extend(
            page.json["data"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|c| c["uuid"].clone()),
        );
        match page.json["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.iter().collect::<Vec<_>>(), uuids);

    let unread = app.get("/conversations?unread=true", 0).await;
    assert_eq!(unread.json["data"].as_array().expect("rows").len(), 2);
    let tagged = app.get("/conversations?taggable_type=Order&taggable_id=55", 0).await;
    assert_eq!(tagged.json["data"].as_array().expect("rows").len(), 1);
    assert_eq!(tagged.json["data"][0]["uuid"], order);
    let archived = app.get("/conversations?archived=true", 0).await;
    assert_eq!(archived.json["data"], json!([]));

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("archived=maybe", "archived"),
        ("unread=perhaps", "unread"),
        ("cursor=garbage", "cursor"),
        ("taggable_id=55", "taggable_type"),
    ] {
        let answer = app.get(&format!("/conversations?{query}"), 0).await;
        assert_eq!(error_fields(&answer), [field], "{query}");
    }
}

#[tokio::test]
async fn profiles_are_looked_up_once_per_response_and_only_public_fields_show() {
    let app = TestApp::new();
    for other in 1..6 {
        let conversation = app.direct(0, other).await;
        app.message(other, &conversation, "hi").await;
    }
    app.group(0, &[1, 2, 3]).await;
    let before = app.profile_calls();
    let answer = app.get("/conversations", 0).await;
    assert_eq!(answer.json["data"].as_array().expect("rows").len(), 6);
    assert_eq!(
        app.profile_calls() - before,
        1,
        "one directory batch for the whole inbox"
    );
    for row in answer.json["data"].as_array().expect("rows") {
        for participant in row["participants"].as_array().expect("participants") {
            let name = participant["name"].as_str().expect("name");
            assert!(crate::common::NAMES.contains(&name), "{name}");
        }
        if row["kind"] == "direct" {
            assert_ne!(row["counterpart"]["uuid"], "u0");
            assert!(
                row["counterpart"]["avatar_url"]
                    .as_str()
                    .is_some_and(|url| url.starts_with("https://"))
            );
        }
    }
    assert!(!answer.text.contains("email") && !answer.text.contains("phone"));

    // The newest row is the group, which has no messages yet.
    assert_eq!(answer.json["data"][0]["kind"], "group");
    let conversation = answer.json["data"][0]["uuid"].as_str().expect("uuid").to_owned();
    for index in 0..5 {
        app.message(0, &conversation, &format!("m{index}")).await;
    }
    let before = app.profile_calls();
    let history = app.get(&format!("/conversations/{conversation}/messages"), 0).await;
    assert_eq!(history.json["data"].as_array().expect("rows").len(), 5);
    assert_eq!(
        app.profile_calls() - before,
        1,
        "one directory batch for a page of messages"
    );
}

#[tokio::test]
async fn search_and_stats() {
    let app = TestApp::new();
    let with_1 = app.direct(0, 1).await;
    app.direct(0, 2).await;
    let group = app.group(0, &[3, 4]).await;
    app.message(1, &with_1, "one").await;
    app.message(1, &with_1, "two").await;
    app.message(3, &group, "three").await;

    let answer = app.get("/conversations/search?q=bruno", 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(keys(&answer.json), ["data", "message", "meta"]);
    let rows = answer.json["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uuid"], with_1);
    let answer = app.get("/conversations/search?q=tea", 0).await;
    assert_eq!(answer.json["data"][0]["uuid"], group, "by title");
    assert_eq!(error_fields(&app.get("/conversations/search", 0).await), ["q"]);
    assert_eq!(error_fields(&app.get("/conversations/search?q=%20", 0).await), ["q"]);
    assert_eq!(
        error_fields(
            &app.get(&format!("/conversations/search?q={}", "a".repeat(101)), 0)
                .await
        ),
        ["q"]
    );

    let stats = app.get("/conversations/stats", 0).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(
        stats.json,
        json!({"message": "Stats retrieved.", "data": {"total_conversations": 3, "unread_conversations": 2, "unread_messages": 3}})
    );
}

#[tokio::test]
async fn show_and_the_unread_count_are_the_callers() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    app.message(0, &conversation, "hi").await;
    let mine = app.get(&format!("/conversations/{conversation}"), 0).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.json["message"], "Conversation retrieved.");
    assert_eq!(mine.json["data"]["unread_count"], 0);
    let theirs = app.get(&format!("/conversations/{conversation}"), 1).await;
    assert_eq!(theirs.json["data"]["unread_count"], 1);
    assert_eq!(theirs.json["data"]["counterpart"]["uuid"], "u0");
    let me_as_participant = theirs.json["data"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["uuid"] == "u0")
        .expect("sender")
        .clone();
    assert_eq!(me_as_participant["pivot"]["last_read_seq"], 1);
    assert_timestamp(&me_as_participant["pivot"]["last_read_at"]);

    let malformed = app.get("/conversations/not-a-uuid", 0).await;
    assert_eq!(error_fields(&malformed), ["uuid"]);
    assert_eq!(malformed.json["errors"]["uuid"], json!(["must be a valid UUID"]));
    let missing = app.get(&format!("/conversations/{}", uuid::Uuid::now_v7()), 0).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json, json!({"message": "Conversation not found."}));
}

#[tokio::test]
async fn messages_are_sent_listed_edited_and_deleted() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let path = format!("/conversations/{conversation}/messages");
    let sent = app
        .post(
            &path,
            0,
            json!({"body": "  Is it still available?  ", "client_message_id": "c-1", "metadata": {"kind": "question"}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    assert_eq!(sent.json["message"], "Message sent.");
    let message = &sent.json["data"];
    assert_eq!(keys(message), sorted(&MESSAGE_KEYS));
    assert_eq!(message["conversation_uuid"], conversation);
    assert_eq!(message["seq"], 1);
    assert_eq!(message["body"], "Is it still available?");
    assert_eq!(message["client_message_id"], "c-1");
    assert_eq!(message["metadata"], json!({"kind": "question"}));
    assert_eq!(message["sender"]["uuid"], "u0");
    assert_eq!(message["sender"]["name"], "Ana Souza");
    assert_eq!(message["is_edited"], false);
    assert_eq!(message["edited_at"], Value::Null);
    assert_eq!(message["is_deleted"], false);
    assert_timestamp(&message["created_at"]);

    // A retry with the same client_message_id returns the stored message.
    let retry = app
        .post(&path, 0, json!({"body": "different", "client_message_id": "c-1"}))
        .await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["data"]["uuid"], message["uuid"]);
    assert_eq!(retry.json["data"]["body"], "Is it still available?");

    // `content` is an alias of `body`.
    let alias = app.post(&path, 1, json!({"content": "Yes it is"})).await;
    assert_eq!(alias.status, StatusCode::CREATED);
    assert_eq!(alias.json["data"]["body"], "Yes it is");
    assert_eq!(alias.json["data"]["seq"], 2);

    for (body, field) in [
        (json!({"body": "   "}), "body"),
        (json!({"body": "é".repeat(4001)}), "body"),
        (json!({}), "body"),
        (json!({"body": 5}), "body"),
        (json!({"body": "a", "content": "b"}), "body"),
        (json!({"body": "a", "sender": "u1"}), "sender"),
        (
            json!({"body": "a", "client_message_id": "x".repeat(129)}),
            "client_message_id",
        ),
        (json!({"body": "a", "metadata": {"blob": "x".repeat(5000)}}), "metadata"),
    ] {
        let answer = app.post(&path, 0, body.clone()).await;
        assert_eq!(error_fields(&answer), [field], "{body}");
    }
    assert_eq!(
        app.post(&path, 0, json!({"body": "é".repeat(4000)})).await.status,
        StatusCode::CREATED
    );

    // History by seq.
    let history = app.get(&path, 1).await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.json["message"], "Messages retrieved.");
    let seqs: Vec<u64> = history.json["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(history.json["meta"]["next_cursor"], Value::Null);
    let back = app.get(&format!("{path}?before=3&limit=1"), 1).await;
    assert_eq!(back.json["data"][0]["seq"], 2);
    assert_eq!(back.json["meta"]["next_cursor"], "2");
    let forward = app.get(&format!("{path}?after=1&limit=1"), 1).await;
    assert_eq!(forward.json["data"][0]["seq"], 2);
    assert_eq!(forward.json["meta"]["next_cursor"], "2");
    for (query, field) in [
        ("before=x", "before"),
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
    ] {
        assert_eq!(
            error_fields(&app.get(&format!("{path}?{query}"), 1).await),
            [field],
            "{query}"
        );
    }

    // Edit and delete: the sender only.
    let message_path = format!("{path}/{}", message["uuid"].as_str().expect("uuid"));
    let foreign = app
        .call(Method::PATCH, &message_path, Some(1), Some(json!({"body": "hacked"})))
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(keys(&foreign.json), ["message"]);
    let edited = app
        .call(
            Method::PATCH,
            &message_path,
            Some(0),
            Some(json!({"content": "Still available?"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.json["message"], "Message updated.");
    assert_eq!(edited.json["data"]["body"], "Still available?");
    assert_eq!(edited.json["data"]["is_edited"], true);
    assert_timestamp(&edited.json["data"]["edited_at"]);
    assert_eq!(
        error_fields(
            &app.call(Method::PATCH, &message_path, Some(0), Some(json!({"body": ""})))
                .await
        ),
        ["body"]
    );
    assert_eq!(
        app.call(Method::DELETE, &message_path, Some(1), None).await.status,
        StatusCode::FORBIDDEN
    );
    let deleted = app.call(Method::DELETE, &message_path, Some(0), None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json["message"], "Message deleted.");
    assert_eq!(deleted.json["data"]["is_deleted"], true);
    assert_eq!(deleted.json["data"]["body"], "");
    assert_eq!(deleted.json["data"]["seq"], 1);
    let again = app
        .call(Method::PATCH, &message_path, Some(0), Some(json!({"body": "back"})))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let unknown = app
        .call(
            Method::DELETE,
            &format!("{path}/{}", uuid::Uuid::now_v7()),
            Some(0),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json, json!({"message": "Message not found."}));
    let malformed = app.call(Method::DELETE, &format!("{path}/nope"), Some(0), None).await;
    assert_eq!(error_fields(&malformed), ["message_uuid"]);
}

#[tokio::test]
async fn read_archive_clear_and_typing() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    for text in ["one", "two", "three"] {
        app.message(0, &conversation, text).await;
    }
    let base = format!("/conversations/{conversation}");

    let read = app.post(&format!("{base}/read"), 1, json!({"up_to_seq": 1})).await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    assert_eq!(read.json["message"], "Conversation marked as read.");
    assert_eq!(read.json["data"]["unread_count"], 2);
    // An empty body reads everything.
    let read = app.call(Method::POST, &format!("{base}/read"), Some(1), None).await;
    assert_eq!(read.json["data"]["unread_count"], 0);
    assert_eq!(
        error_fields(&app.post(&format!("{base}/read"), 1, json!({"up_to": 1})).await),
        ["up_to"]
    );
    assert_eq!(
        error_fields(&app.post(&format!("{base}/read"), 1, json!({"up_to_seq": -1})).await),
        ["up_to_seq"]
    );

    let archived = app.call(Method::POST, &format!("{base}/archive"), Some(1), None).await;
    assert_eq!(archived.status, StatusCode::OK);
    assert_eq!(archived.json["data"]["is_archived"], true);
    assert_eq!(app.get("/conversations", 1).await.json["data"], json!([]));
    assert_eq!(
        app.get("/conversations?archived=true", 1).await.json["data"][0]["uuid"],
        conversation
    );
    assert_eq!(
        app.get("/conversations?archived=all", 1).await.json["data"]
            .as_array()
            .expect("rows")
            .len(),
        1
    );
    assert_eq!(
        app.get("/conversations", 0).await.json["data"][0]["is_archived"],
        false,
        "archive is per user"
    );
    let unarchived = app
        .call(Method::DELETE, &format!("{base}/archive"), Some(1), None)
        .await;
    assert_eq!(unarchived.json["data"]["is_archived"], false);
    assert_eq!(
        error_fields(&app.post(&format!("{base}/archive"), 1, json!({"really": true})).await),
        ["really"]
    );

    let cleared = app.post(&format!("{base}/clear"), 1, json!({})).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json["message"], "History cleared.");
    assert_eq!(cleared.json["data"]["last_message_text"], Value::Null);
    assert_eq!(app.get(&format!("{base}/messages"), 1).await.json["data"], json!([]));
    assert_eq!(
        app.get(&format!("{base}/messages"), 0).await.json["data"]
            .as_array()
            .expect("rows")
            .len(),
        3
    );

    let typing = app.call(Method::POST, &format!("{base}/typing"), Some(0), None).await;
    assert_eq!(typing.status, StatusCode::OK);
    assert_eq!(typing.json, json!({"message": "Typing sent.", "data": null}));
}

#[tokio::test]
async fn participants_are_added_and_removed() {
    let app = TestApp::new();
    let group = app.group(0, &[1]).await;
    let path = format!("/conversations/{group}/participants");
    let added = app.post(&path, 1, json!({"participant_uuids": ["u2", "u3"]})).await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    assert_eq!(added.json["message"], "Participants added.");
    assert_eq!(
        added.json["data"]["participants"]
            .as_array()
            .expect("participants")
            .len(),
        4
    );
    assert_eq!(
        error_fields(&app.post(&path, 1, json!({"participant_uuids": ["ghost"]})).await),
        ["participant_uuids"]
    );
    assert_eq!(
        error_fields(&app.post(&path, 1, json!({})).await),
        ["participant_uuids"]
    );

    let direct = app.direct(0, 1).await;
    let conflict = app
        .post(
            &format!("/conversations/{direct}/participants"),
            0,
            json!({"participant_uuids": ["u2"]}),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(keys(&conflict.json), ["message"]);

    let forbidden = app.call(Method::DELETE, &format!("{path}/u2"), Some(1), None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "only the owner removes others");
    let removed = app.call(Method::DELETE, &format!("{path}/u2"), Some(0), None).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.json["message"], "Participant removed.");
    assert_eq!(
        removed.json["data"]["participants"]
            .as_array()
            .expect("participants")
            .len(),
        3
    );
    let left = app.call(Method::DELETE, &format!("{path}/u3"), Some(3), None).await;
    assert_eq!(left.status, StatusCode::OK, "anyone may leave");
    assert_eq!(
        app.get(&format!("/conversations/{group}"), 3).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sending_too_fast_gets_429_with_retry_after() {
    let app = TestApp::build(Limits::default(), 256, |api: ChatApi| {
        api.with_send_rate_limit(RateLimit::per_minute(2))
    });
    let conversation = app.direct(0, 1).await;
    let path = format!("/conversations/{conversation}/messages");
    app.message(0, &conversation, "one").await;
    app.message(0, &conversation, "two").await;
    let limited = app.post(&path, 0, json!({"body": "three"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json, json!({"message": "Too many requests."}));
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.post(&path, 1, json!({"body": "other user"})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn server_errors_carry_a_request_id_and_no_internals() {
    let app = TestApp::new();
    let answer = app
        .post("/conversations", 0, json!({"participant_uuid": EXPLODING_USER}))
        .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(keys(&answer.json), ["message", "request_id"]);
    assert_eq!(answer.json["message"], "Server error.");
    let request_id = answer.json["request_id"].as_str().expect("request id");
    assert!(uuid::Uuid::parse_str(request_id).is_ok());
    assert_eq!(answer.headers["x-request-id"], request_id);
    for secret in ["hunter2", "users-db", "5432", "backend"] {
        assert!(!answer.text.contains(secret), "{secret} leaked: {}", answer.text);
    }

    // The host's request id, when it sets one, is the one quoted.
    let request = Request::post("/conversations")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-42")
        .body(Body::from(format!(r#"{{"participant_uuid": "{EXPLODING_USER}"}}"#)))
        .expect("request");
    assert_eq!(app.send(request).await.json["request_id"], "req-42");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::new();
    let answer = app.get("/nope", 0).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json, json!({"message": "Route not found."}));
    let answer = app.call(Method::PUT, "/conversations", Some(0), None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.json, json!({"message": "Method not allowed."}));
    // GET /ws without an upgrade.
    let answer = app.get("/ws", 0).await;
    assert_eq!(answer.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(keys(&answer.json), ["message"]);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let outsider = app
        .call_token(
            Method::GET,
            &format!("/conversations/{conversation}"),
            Some("other:u1"),
            None,
        )
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    let inbox = app
        .call_token(Method::GET, "/conversations", Some("other:u1"), None)
        .await;
    assert_eq!(inbox.json["data"], json!([]));
}

#[tokio::test]
async fn the_router_nests_into_a_host_router_with_its_own_state() {
    #[derive(Clone)]
    struct HostState {
        greeting: &'static str,
    }
    let app = TestApp::new();
    let host: axum::Router = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(
                |axum::extract::State(state): axum::extract::State<HostState>| async move { state.greeting },
            ),
        )
        .nest("/api/v1/chat", chat_axum::router(app.api.clone()))
        .with_state(HostState { greeting: "hi" });
    let app = TestApp { router: host, ..app };
    assert_eq!(app.get("/hello", 0).await.text, "hi");
    assert_eq!(app.get("/api/v1/chat/conversations", 0).await.status, StatusCode::OK);
    let unknown = app.get("/api/v1/chat/nope", 0).await;
    assert_eq!(unknown.json, json!({"message": "Route not found."}));
}
