//! `PUT` and `DELETE /conversations/{uuid}/mute`: the caller's own flag, on the resource.

use axum::http::{Method, StatusCode};

use crate::common::TestApp;

#[tokio::test]
async fn muting_is_the_callers_own_and_shows_on_the_resource() {
    let app = TestApp::new();
    let id = app.direct(0, 1).await;
    let path = format!("/conversations/{id}/mute");
    let muted = app.call(Method::PUT, &path, Some(1), None).await;
    assert_eq!(muted.status, StatusCode::OK, "{}", muted.text);
    assert_eq!(muted.json["data"]["muted"], true);
    assert_eq!(
        app.call(Method::PUT, &path, Some(1), None).await.status,
        StatusCode::OK,
        "idempotent"
    );
    app.message(0, &id, "still counted").await;
    let mine = app.get(&format!("/conversations/{id}"), 1).await;
    assert_eq!(
        (
            mine.json["data"]["muted"].clone(),
            mine.json["data"]["unread_count"].clone()
        ),
        (true.into(), 1.into())
    );
    let theirs = app.get(&format!("/conversations/{id}"), 0).await;
    assert_eq!(theirs.json["data"]["muted"], false, "the other member's flag is theirs");
    let unmuted = app.call(Method::DELETE, &path, Some(1), None).await;
    assert_eq!(unmuted.status, StatusCode::OK);
    assert_eq!(unmuted.json["data"]["muted"], false);
    let stranger = app.call(Method::PUT, &path, Some(2), None).await;
    assert_eq!(
        stranger.status,
        StatusCode::NOT_FOUND,
        "a conversation the caller is not in"
    );
}
