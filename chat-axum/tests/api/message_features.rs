//! Replies, reactions, delivery receipts and system messages on the wire: the resource
//! shapes, the statuses of refusals, and the live frames.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chat_core::{ConversationId, SystemMessage, TenantId};
use serde_json::{Value, json};

use crate::common::{TENANT, TestApp, keys};
use crate::ws::{connect, next_json, serve};

const THUMBS_UP: &str = "%F0%9F%91%8D";

async fn history(app: &TestApp, conversation: &str, user: usize) -> Vec<Value> {
    let answer = app.get(&format!("/conversations/{conversation}/messages"), user).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.json["data"].as_array().expect("messages").clone()
}

fn reactions_path(conversation: &str, message: &Value, emoji: &str) -> String {
    format!(
        "/conversations/{conversation}/messages/{}/reactions/{emoji}",
        message["uuid"].as_str().expect("uuid")
    )
}

#[tokio::test]
async fn a_reply_carries_the_quote_and_a_foreign_or_unknown_one_is_the_same_422() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let elsewhere = app.direct(1, 2).await;
    let original = app.message(0, &conversation, "Is the bike still for sale?").await;
    let foreign = app.message(2, &elsewhere, "in another conversation").await;
    let path = format!("/conversations/{conversation}/messages");
    let reply = app
        .post(&path, 1, json!({"body": "Yes", "reply_to": original["uuid"]}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let quote = &reply.json["data"]["reply_to"];
    assert_eq!(keys(quote), ["body", "is_deleted", "sender", "seq", "uuid"]);
    assert_eq!(quote["uuid"], original["uuid"]);
    assert_eq!(quote["seq"], 1);
    assert_eq!(quote["body"], "Is the bike still for sale?");
    assert_eq!(quote["sender"]["uuid"], "u0");
    assert_eq!(quote["is_deleted"], false);
    assert_eq!(reply.json["data"]["kind"], "user");

    let foreign_reply = app
        .post(&path, 1, json!({"body": "x", "reply_to": foreign["uuid"]}))
        .await;
    let unknown_reply = app
        .post(&path, 1, json!({"body": "x", "reply_to": uuid::Uuid::now_v7()}))
        .await;
    for refused in [&foreign_reply, &unknown_reply] {
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
        assert_eq!(
            refused.json["errors"]["reply_to"],
            json!(["no such message in this conversation"])
        );
    }
    assert_eq!(
        foreign_reply.text, unknown_reply.text,
        "a foreign message leaks nothing"
    );
    let malformed = app.post(&path, 1, json!({"body": "x", "reply_to": "not-a-uuid"})).await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY, "{malformed:?}");
    assert!(malformed.json["errors"]["reply_to"].is_array(), "{malformed:?}");

    // A deleted original shows as deleted in the reply, at read time.
    let original_path = format!("{path}/{}", original["uuid"].as_str().expect("uuid"));
    assert_eq!(
        app.call(Method::DELETE, &original_path, Some(0), None).await.status,
        StatusCode::OK
    );
    let messages = history(&app, &conversation, 1).await;
    assert_eq!(
        messages[1]["reply_to"],
        json!({"uuid": original["uuid"], "seq": 1, "sender": null, "body": null, "is_deleted": true})
    );
    // A stranger replying gets the answer of a missing conversation.
    let stranger = app
        .post(&path, 3, json!({"body": "x", "reply_to": original["uuid"]}))
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reactions_are_idempotent_per_user_with_me_for_the_reader() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let message = app.message(0, &conversation, "Photo of the bike").await;
    let path = reactions_path(&conversation, &message, THUMBS_UP);
    for _ in 0..2 {
        let answer = app.call(Method::PUT, &path, Some(1), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(
            answer.json["data"]["reactions"],
            json!([{"emoji": "👍", "count": 1, "me": true}])
        );
    }
    let seen_by_sender = history(&app, &conversation, 0).await;
    assert_eq!(
        seen_by_sender[0]["reactions"],
        json!([{"emoji": "👍", "count": 1, "me": false}])
    );
    let heart = reactions_path(&conversation, &message, "%E2%9D%A4%EF%B8%8F");
    app.call(Method::PUT, &heart, Some(0), None).await;
    let answer = app.call(Method::PUT, &path, Some(0), None).await;
    assert_eq!(
        answer.json["data"]["reactions"],
        json!([{"emoji": "❤️", "count": 1, "me": true}, {"emoji": "👍", "count": 2, "me": true}])
    );
    let answer = app.call(Method::DELETE, &path, Some(1), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json["data"]["reactions"][1],
        json!({"emoji": "👍", "count": 1, "me": false})
    );
    let again = app.call(Method::DELETE, &path, Some(1), None).await;
    assert_eq!(
        again.json["data"]["reactions"], answer.json["data"]["reactions"],
        "idempotent"
    );

    for bad in ["thumbs", "%F0%9F%91%8D%F0%9F%91%8D", "%20"] {
        let answer = app
            .call(
                Method::PUT,
                &reactions_path(&conversation, &message, bad),
                Some(1),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer:?}");
        assert_eq!(answer.json["errors"]["emoji"], json!(["must be one emoji"]), "{bad}");
    }
    let stranger = app.call(Method::PUT, &path, Some(3), None).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert_eq!(stranger.json, json!({"message": "Conversation not found."}));

    let message_path = format!(
        "/conversations/{conversation}/messages/{}",
        message["uuid"].as_str().expect("uuid")
    );
    let deleted = app.call(Method::DELETE, &message_path, Some(0), None).await;
    assert_eq!(
        deleted.json["data"]["reactions"],
        json!([]),
        "deleting drops the reactions"
    );
    let late = app.call(Method::PUT, &path, Some(1), None).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
}

#[tokio::test]
async fn the_senders_own_messages_carry_sent_delivered_read_and_group_counts() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    app.message(0, &conversation, "one").await;
    app.message(0, &conversation, "two").await;
    let statuses = |messages: Vec<Value>| -> Vec<Value> { messages.iter().map(|m| m["status"].clone()).collect() };
    assert_eq!(
        statuses(history(&app, &conversation, 0).await),
        [json!("sent"), json!("sent")]
    );
    let delivered = app
        .post(
            &format!("/conversations/{conversation}/delivered"),
            1,
            json!({"up_to_seq": 1}),
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{delivered:?}");
    assert_eq!(
        statuses(history(&app, &conversation, 0).await),
        [json!("delivered"), json!("sent")]
    );
    app.post(
        &format!("/conversations/{conversation}/read"),
        1,
        json!({"up_to_seq": 1}),
    )
    .await;
    assert_eq!(
        statuses(history(&app, &conversation, 0).await),
        [json!("read"), json!("sent")]
    );
    // Fetching history delivers what it returned; the reader's view carries no status.
    let seen = history(&app, &conversation, 1).await;
    assert!(seen.iter().all(|m| m.get("status").is_none()), "{seen:?}");
    assert_eq!(
        statuses(history(&app, &conversation, 0).await),
        [json!("read"), json!("delivered")]
    );

    let group = app.group(0, &[1, 2]).await;
    app.message(0, &group, "to the group").await;
    app.post(&format!("/conversations/{group}/delivered"), 1, json!({}))
        .await;
    let mine = &history(&app, &group, 0).await[0];
    assert_eq!(
        (mine["delivered_count"].clone(), mine["read_count"].clone()),
        (json!(1), json!(0))
    );
    assert!(mine.get("status").is_none());
    let empty = app
        .call(
            Method::POST,
            &format!("/conversations/{group}/delivered"),
            Some(2),
            None,
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK, "an empty body delivers everything");
    let negative = app
        .post(
            &format!("/conversations/{group}/delivered"),
            2,
            json!({"up_to_seq": -1}),
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_system_message_has_no_sender_and_is_unread_for_everyone() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let id: ConversationId = conversation.parse().expect("uuid");
    let tenant = TenantId::new(TENANT).expect("tenant");
    app.api
        .services()
        .messages()
        .send_system(&tenant, id, SystemMessage::text("Order #123 shipped"))
        .await
        .expect("system message");
    let messages = history(&app, &conversation, 0).await;
    assert_eq!(messages[0]["kind"], "system");
    assert_eq!(messages[0]["sender"], Value::Null);
    assert!(messages[0].get("status").is_none());
    for user in [0, 1] {
        let view = app.get(&format!("/conversations/{conversation}"), user).await;
        assert_eq!(view.json["data"]["unread_count"], 1, "u{user}");
        assert_eq!(view.json["data"]["last_message_text"], "Order #123 shipped");
    }
}

#[tokio::test]
async fn a_message_reaching_a_socket_is_delivered_and_reactions_go_live() {
    let app = TestApp::with_receipts_every(Duration::from_millis(20));
    let addr = serve(&app).await;
    let conversation = app.direct(0, 1).await;
    let mut sender = connect(addr, 0).await;
    let mut recipient = connect(addr, 1).await;
    let mut last = Value::Null;
    for text in ["one", "two", "three"] {
        last = app.message(0, &conversation, text).await;
    }
    // The recipient's socket gets the messages; the sender hears of their delivery, in at
    // most one receipt per message (batched, the last one for seq 3).
    let mut delivered_seqs = Vec::new();
    while delivered_seqs.last() != Some(&3) {
        let frame = next_json(&mut sender).await;
        if frame["type"] == "conversation.delivered" {
            let receipts = frame["data"]["receipts"].as_array().expect("receipts");
            assert_eq!(receipts.len(), 1, "{frame}");
            assert_eq!(receipts[0]["user"], "u1");
            delivered_seqs.push(receipts[0]["seq"].as_u64().expect("seq"));
        }
    }
    assert!(
        delivered_seqs.len() <= 3 && delivered_seqs.windows(2).all(|w| w[0] < w[1]),
        "{delivered_seqs:?}"
    );
    let mine = history(&app, &conversation, 0).await;
    assert_eq!(mine[2]["status"], "delivered");

    // Reactions go to every member, `me` for each.
    let path = reactions_path(&conversation, &last, THUMBS_UP);
    assert_eq!(app.call(Method::PUT, &path, Some(1), None).await.status, StatusCode::OK);
    for (socket, me) in [(&mut sender, false), (&mut recipient, true)] {
        let frame = loop {
            let frame = next_json(socket).await;
            if frame["type"] == "message.reactions" {
                break frame;
            }
        };
        assert_eq!(frame["conversation_uuid"], conversation);
        assert_eq!(frame["data"]["message_uuid"], last["uuid"]);
        assert_eq!(frame["data"]["seq"], 3);
        assert_eq!(
            frame["data"]["reactions"],
            json!([{"emoji": "👍", "count": 1, "me": me}])
        );
    }
}
