//! What reaches the logs: causes of 500s (with their request id), never query-string tokens.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::http::StatusCode;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::common::{EXPLODING_USER, TestApp};

/// Every event and span field of the whole test binary, as text.
#[derive(Default)]
struct Capture {
    text: Mutex<String>,
    next_id: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = write!(text, "\nspan {}", span.metadata().name());
        span.record(&mut Fields(&mut text));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(
            &mut self.text.lock().unwrap_or_else(PoisonError::into_inner),
        ));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = write!(text, "\n{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut text));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn capture() -> Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Arc::new(Capture::default());
            let dispatch = tracing::Dispatch::from(Arc::clone(&capture) as Arc<dyn Subscriber + Send + Sync>);
            tracing::dispatcher::set_global_default(dispatch).expect("no other global subscriber");
            capture
        })
        .clone()
}

fn logs(capture: &Capture) -> String {
    capture.text.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[tokio::test]
async fn causes_are_logged_with_the_request_id_and_tokens_are_not() {
    let capture = capture();
    let app = TestApp::new();

    let failed = app
        .post("/conversations", 0, json!({"participant_uuid": EXPLODING_USER}))
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = failed.json["request_id"].as_str().expect("request id").to_owned();
    let text = logs(&capture);
    let line = text
        .lines()
        .find(|line| line.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line with the request id in:\n{text}"));
    assert!(
        line.starts_with("ERROR") && line.contains("hunter2"),
        "the cause is logged: {line}"
    );

    // A browser-style WebSocket with its token in the query string.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let secret = "acme:u0";
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={secret}&x=1"))
        .await
        .expect("connects");
    socket.send(Message::text(r#"{"type":"ping"}"#)).await.expect("send");
    socket.next().await.expect("frame").expect("pong");
    socket.close(None).await.expect("close");
    while socket.next().await.is_some() {}
    let text = logs(&capture);
    assert!(
        text.contains("websocket connected"),
        "the connection was logged:\n{text}"
    );
    assert!(
        !text.contains(secret) && !text.contains("token="),
        "a token reached the logs:\n{text}"
    );
}
