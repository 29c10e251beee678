//! Pongs are client frames like any other: they count against the frame rate, and only a
//! pong that answers one of the server's pings shows the client is alive.

use std::time::Duration;

use chat_axum::WsConfig;
use chat_core::Limits;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::ws::{connect, serve};

/// Reads until the socket ends (within 5 s, pings or not): the close code, if a close frame
/// came.
async fn closed_with(socket: &mut crate::ws::Socket) -> Option<u16> {
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the socket ends in time")
}

#[tokio::test]
async fn a_pong_flood_is_a_flood() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_ws_config(WsConfig::default().with_frame_rate(1, 5))
    });
    let addr = serve(&app).await;
    let mut socket = connect(addr, 0).await;
    for _ in 0..50 {
        if socket.send(Message::Pong(b"flood".to_vec().into())).await.is_err() {
            break;
        }
    }
    assert_eq!(closed_with(&mut socket).await, Some(1008), "closed for its rate");
}

#[tokio::test]
async fn unsolicited_pongs_do_not_keep_a_silent_client_alive() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_ws_config(
            WsConfig::default()
                .with_ping_interval(Duration::from_millis(50))
                .with_idle_timeout(Duration::from_millis(300))
                .with_frame_rate(1000, 1000),
        )
    });
    let addr = serve(&app).await;
    let mut socket = connect(addr, 0).await;
    // Sends pongs of its own every 20 ms but never reads, so never answers a ping.
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_millis(900) {
        if socket.send(Message::Pong(b"keepalive".to_vec().into())).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(closed_with(&mut socket).await, Some(1001), "closed as idle");
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_going_away() {
    let app = TestApp::new();
    let addr = serve(&app).await;
    let mut first = connect(addr, 0).await;
    let mut second = connect(addr, 1).await;
    let api = app.api.clone();
    let shutdown = tokio::spawn(async move { api.shutdown_websockets().await });
    assert_eq!(closed_with(&mut first).await, Some(1001));
    assert_eq!(closed_with(&mut second).await, Some(1001));
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("every socket closed in time")
        .expect("shutdown task");
    // A socket opened after the shutdown is closed at once the same way.
    let mut late = connect(addr, 2).await;
    assert_eq!(closed_with(&mut late).await, Some(1001));
}
