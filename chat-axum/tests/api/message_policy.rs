//! The before-send policy over HTTP: the ready `ContactMasking` masks what it should in
//! sends and edits (and the recipient sees only the masked text), a host policy's refusal is
//! a 422 on `body` with the host's reason and stores nothing, and a replacement that breaks
//! the body's limits is a 422, never a silent cut.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chat_core::policy::{ContactMasking, Draft, DraftKind, MessagePolicy, PolicyDecision};
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn contact_masking_hides_phones_addresses_and_links_in_sends_and_edits() {
    let app = TestApp::with_message_policy(Arc::new(ContactMasking::new()));
    let conversation = app.direct(0, 1).await;
    let sent = app
        .message(0, &conversation, "Call me on +34 612 34 56 78 or see wa.me/34612345678")
        .await;
    assert_eq!(sent["body"], "Call me on [hidden] or see [hidden]");
    let plain = app
        .message(0, &conversation, "Is the mug still available? 12.50 €")
        .await;
    assert_eq!(plain["body"], "Is the mug still available? 12.50 €", "nothing to mask");

    let edited = app
        .call(
            Method::PATCH,
            &format!(
                "/conversations/{conversation}/messages/{}",
                plain["uuid"].as_str().expect("uuid")
            ),
            Some(0),
            Some(json!({"body": "write to ana(at)mail(dot)com"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.json["data"]["body"], "write to [hidden]");

    let history = app.get(&format!("/conversations/{conversation}/messages"), 1).await;
    let bodies: Vec<&str> = history.json["data"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|message| message["body"].as_str())
        .collect();
    assert!(bodies.contains(&"Call me on [hidden] or see [hidden]"), "{bodies:?}");
    assert!(bodies.contains(&"write to [hidden]"), "{bodies:?}");
    assert!(
        bodies
            .iter()
            .all(|body| !body.contains("612") && !body.contains("mail")),
        "the recipient never sees the contact: {bodies:?}"
    );
}

/// Refuses any body mentioning "cash"; makes "long" a body past the limit.
struct HostRules;

#[async_trait]
impl MessagePolicy for HostRules {
    async fn check(&self, draft: Draft<'_>) -> PolicyDecision {
        if draft.body.contains("cash") {
            let what = match draft.kind {
                DraftKind::Edit { .. } => "edits",
                _ => "messages",
            };
            return PolicyDecision::Reject {
                reason: format!("Payments happen on the platform; {what} about cash are refused."),
            };
        }
        if draft.body == "long" {
            return PolicyDecision::Replace { body: "x".repeat(5000) };
        }
        PolicyDecision::Allow
    }
}

#[tokio::test]
async fn a_refusal_is_a_422_on_body_with_the_hosts_reason_and_stores_nothing() {
    let app = TestApp::with_message_policy(Arc::new(HostRules));
    let conversation = app.direct(0, 1).await;
    let path = format!("/conversations/{conversation}/messages");
    let refused = app.post(&path, 0, json!({"body": "pay me in cash"})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    assert_eq!(
        refused.json["errors"]["body"][0],
        "Payments happen on the platform; messages about cash are refused."
    );
    let too_long = app.post(&path, 0, json!({"body": "long"})).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY, "{too_long:?}");
    assert!(
        too_long.json["errors"]["body"][0]
            .as_str()
            .unwrap_or_default()
            .contains("at most"),
        "a replacement past the limit is refused, not cut: {too_long:?}"
    );
    let history = app.get(&path, 1).await;
    assert_eq!(history.json["data"], json!([]), "nothing stored");

    let kept = app.message(0, &conversation, "see you at noon").await;
    let edit = app
        .call(
            Method::PATCH,
            &format!("{path}/{}", kept["uuid"].as_str().expect("uuid")),
            Some(0),
            Some(json!({"body": "bring cash"})),
        )
        .await;
    assert_eq!(edit.status, StatusCode::UNPROCESSABLE_ENTITY, "{edit:?}");
    assert_eq!(
        edit.json["errors"]["body"][0],
        "Payments happen on the platform; edits about cash are refused."
    );
    let history = app.get(&path, 1).await;
    assert_eq!(
        history.json["data"][0]["body"], "see you at noon",
        "the edit changed nothing"
    );
}
