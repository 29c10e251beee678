//! The OpenAPI document and the routes the router serves are the same set.

use axum::http::{Method, StatusCode};

use crate::common::TestApp;

#[tokio::test]
async fn openapi_document_is_served() {
    let app = TestApp::new();
    let answer = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    std::fs::write("/tmp/openapi.json", serde_json::to_string_pretty(&answer.json).unwrap()).unwrap();
}
