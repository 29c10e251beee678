//! `GET /me/export`: the caller's own data and nothing of others beyond public profiles:
//! not another user's messages (also those sent before the caller joined a group), not
//! their read state or previews; streamed as one valid JSON document.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

#[tokio::test]
async fn the_export_holds_the_callers_data_and_only_public_profiles_of_others() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    let mine = app.message(0, &direct, "my own words").await;
    let theirs = app.message(1, &direct, "a secret of u1's").await;
    let react = format!(
        "/conversations/{direct}/messages/{}/reactions/%F0%9F%91%8D",
        theirs["uuid"].as_str().expect("uuid")
    );
    assert_eq!(
        app.call(Method::PUT, &react, Some(0), None).await.status,
        StatusCode::OK
    );
    let group = app.group(1, &[2]).await;
    app.message(2, &group, "said before u0 joined").await;
    let added = app
        .post(
            &format!("/conversations/{group}/participants"),
            1,
            json!({"participant_uuids": ["u0"]}),
        )
        .await;
    assert!(added.status.is_success(), "{added:?}");
    app.message(0, &group, "hello group").await;
    app.message(2, &group, "u2 answers").await;
    let elsewhere = app.direct(1, 2).await;
    app.message(1, &elsewhere, "between u1 and u2 only").await;
    // u0's block is theirs; u1's block of u2 is not.
    assert_eq!(
        app.post("/blocks", 0, json!({"user": "u3"})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post("/blocks", 1, json!({"user": "u2"})).await.status,
        StatusCode::CREATED
    );

    let export = app.get("/me/export", 0).await;
    assert_eq!(export.status, StatusCode::OK, "{export:?}");
    assert_eq!(export.headers["cache-control"], "no-store");
    let data = &export.json["data"];
    assert_eq!(data["user_uuid"], "u0", "one valid JSON document: {}", export.text);
    let blocked: Vec<&str> = data["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter_map(|block| block["user"]["uuid"].as_str())
        .collect();
    assert_eq!(blocked, ["u3"], "the caller's blocks, none of anyone else's");
    let conversations = data["conversations"].as_array().expect("conversations");
    assert_eq!(conversations.len(), 2, "the caller's two conversations");
    let bodies: Vec<&str> = conversations
        .iter()
        .flat_map(|conversation| conversation["messages"].as_array().into_iter().flatten())
        .filter_map(|message| message["body"].as_str())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.contains(&"my own words") && bodies.contains(&"hello group"),
        "{bodies:?}"
    );
    let direct_row = conversations
        .iter()
        .find(|conversation| conversation["uuid"] == direct.as_str())
        .expect("the direct conversation");
    assert_eq!(direct_row["messages"][0]["uuid"], mine["uuid"]);
    assert_eq!(
        direct_row["reactions"],
        json!([{"message_uuid": theirs["uuid"], "seq": 2, "emoji": "👍"}]),
        "the caller's reaction, on someone else's message, by id"
    );
    let names: Vec<&str> = direct_row["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|user| user["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "public profiles of both: {names:?}");
    for private in [
        "a secret of u1's",
        "said before u0 joined",
        "u2 answers",
        "between u1 and u2 only",
        "pivot",
        "unread_count",
        "last_message_text",
    ] {
        assert!(
            !export.text.contains(private),
            "the export leaks {private:?}: {}",
            export.text
        );
    }

    // The host's own data-request flow gets the same, in memory.
    let identity = chat_core::Identity::new(
        chat_core::TenantId::new(crate::common::TENANT).expect("tenant"),
        crate::common::user(0),
    );
    let collected = app.api.services().export_user(&identity).await.expect("export_user");
    let collected_bodies: Vec<&str> = collected
        .conversations
        .iter()
        .flat_map(|conversation| conversation.messages.iter().map(|message| message.body.as_str()))
        .collect();
    assert_eq!(collected.conversations.len(), 2);
    assert_eq!(collected_bodies.len(), 2);
    let collected_blocks: Vec<&str> = collected.blocks.iter().map(|block| block.user.id.as_str()).collect();
    assert_eq!(collected_blocks, ["u3"]);
    assert!(
        collected_bodies.iter().all(|body| bodies.contains(body)),
        "{collected_bodies:?}"
    );
    let debug = format!("{collected:?}");
    for private in [
        "a secret of u1's",
        "said before u0 joined",
        "u2 answers",
        "user: UserId(\"u1\")",
        "user: UserId(\"u2\")",
    ] {
        assert!(!debug.contains(private), "export_user leaks {private:?}: {debug}");
    }
    assert!(
        collected.conversations.iter().all(|conversation| {
            conversation.conversation.last_message.is_none() && conversation.me.user == identity.user
        }),
        "no preview, and only the caller's own membership"
    );

    // Another user's export is theirs: none of u0's words.
    let other = app.get("/me/export", 1).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.text.contains("a secret of u1's") && !other.text.contains("my own words"));
    assert_eq!(other.json["data"]["conversations"].as_array().map(Vec::len), Some(3));
    let anonymous = app.call(Method::GET, "/me/export", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_export_of_many_pages_is_whole() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    for index in 0..450 {
        let sender = index % 2;
        app.message(sender, &direct, &format!("message {index}")).await;
    }
    let export = app.get("/me/export", 0).await;
    let messages: Vec<&Value> = export.json["data"]["conversations"][0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .collect();
    let seqs: Vec<u64> = messages.iter().filter_map(|message| message["seq"].as_u64()).collect();
    let expected: Vec<u64> = (0..450u64)
        .filter(|index| index % 2 == 0)
        .map(|index| index + 1)
        .collect();
    assert_eq!(
        seqs, expected,
        "every one of the caller's 225 messages across three pages, in order"
    );
}
