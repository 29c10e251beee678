//! Reports over HTTP: 202 for a new report and for a repeat (the first stands), the
//! documented refusals, server-owned fields refused, and the report in the reporter's
//! export only.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, assert_timestamp};

#[tokio::test]
async fn a_member_reports_another_users_message_once() {
    let app = TestApp::new();
    let direct = app.direct(0, 1).await;
    let theirs = app.message(1, &direct, "send the money to my account").await;
    let mine = app.message(0, &direct, "no").await;
    let report_of = |message: &serde_json::Value| {
        format!(
            "/conversations/{direct}/messages/{}/report",
            message["uuid"].as_str().expect("uuid")
        )
    };

    let first = app
        .post(
            &report_of(&theirs),
            0,
            json!({"reason": "scam", "note": " wants cash "}),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    assert_eq!(first.json["data"]["reason"], "scam");
    assert_eq!(first.json["data"]["note"], "wants cash");
    assert_eq!(first.json["data"]["message_uuid"], theirs["uuid"]);
    assert_timestamp(&first.json["data"]["created_at"]);
    let repeat = app.post(&report_of(&theirs), 0, json!({"reason": "spam"})).await;
    assert_eq!(repeat.status, StatusCode::ACCEPTED, "{repeat:?}");
    assert_eq!(repeat.json["data"], first.json["data"], "the first report stands");

    let own = app.post(&report_of(&mine), 0, json!({"reason": "spam"})).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{own:?}");
    let stranger = app.post(&report_of(&theirs), 2, json!({"reason": "spam"})).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{stranger:?}");
    for (body, field) in [
        (json!({"reason": "boring"}), "reason"),
        (json!({}), "reason"),
        (json!({"reason": "spam", "note": "x".repeat(1001)}), "note"),
        (json!({"reason": "spam", "reporter": "u2"}), "reporter"),
        (
            json!({"reason": "spam", "created_at": "2000-01-01T00:00:00.000000Z"}),
            "created_at",
        ),
        (json!({"reason": "spam", "status": "resolved"}), "status"),
    ] {
        let answer = app.post(&report_of(&theirs), 1, body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer:?}");
        assert!(answer.json["errors"][field].is_array(), "{body}: {answer:?}");
    }

    let export = app.get("/me/export", 0).await;
    let reports = export.json["data"]["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 1, "{export:?}");
    assert_eq!(reports[0]["reason"], "scam");
    let reported = app.get("/me/export", 1).await;
    assert_eq!(
        reported.json["data"]["reports"],
        json!([]),
        "the reported user sees no report"
    );
}
