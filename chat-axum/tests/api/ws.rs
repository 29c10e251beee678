//! Live events over a real WebSocket on 127.0.0.1:0 (tokio-tungstenite clients).

use std::net::SocketAddr;
use std::time::Duration;

use chat_axum::WsConfig;
use chat_core::Limits;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{TestApp, assert_timestamp, token};

pub(crate) type Socket<S = MaybeTlsStream<TcpStream>> = WebSocketStream<S>;

const WAIT: Duration = Duration::from_secs(5);

fn spawn_server(app: &TestApp, listener: TcpListener) -> SocketAddr {
    let addr = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Serves the app on 127.0.0.1:0.
pub(crate) async fn serve(app: &TestApp) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    spawn_server(app, listener)
}

/// Serves the app with small socket send buffers, so a client that stops reading blocks the
/// server's writes after a few frames instead of after megabytes.
fn serve_with_small_buffers(app: &TestApp) -> SocketAddr {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("send buffer");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    spawn_server(app, socket.listen(64).expect("listen"))
}

fn ws_url(addr: SocketAddr, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("ws://{addr}/ws?token={token}"),
        None => format!("ws://{addr}/ws"),
    }
}

pub(crate) async fn connect(addr: SocketAddr, user: usize) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(ws_url(addr, Some(&token(user))))
        .await
        .expect("websocket connects");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON text frame, skipping control frames.
pub(crate) async fn next_json<S>(socket: &mut Socket<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The types of the next `n` frames, and the frames.
async fn next_frames(socket: &mut Socket, n: usize) -> (Vec<String>, Vec<Value>) {
    let mut frames = Vec::new();
    for _ in 0..n {
        frames.push(next_json(socket).await);
    }
    let types = frames
        .iter()
        .map(|frame| frame["type"].as_str().unwrap_or("?").to_owned())
        .collect();
    (types, frames)
}

async fn send_json(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.expect("send frame");
}

/// A minimal HTTP/1.1 client over TCP: `(status, json body)`.
async fn http(addr: SocketAddr, method: &str, path: &str, user: usize, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(user),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let response = String::from_utf8(response).expect("utf-8");
    let status = response[9..12].parse().expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Reads until the socket ends; the close code, if a close frame came.
async fn close_code<S>(socket: &mut Socket<S>) -> Option<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("socket ends in time")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn events_reach_the_participants_rendered_for_each() {
    let app = TestApp::new();
    let addr = serve(&app).await;
    let mut a = connect(addr, 0).await;
    let mut b = connect(addr, 1).await;

    let (status, created) = http(
        addr,
        "POST",
        "/conversations",
        0,
        Some(json!({"participant_uuid": "u1"})),
    )
    .await;
    assert_eq!(status, 201);
    let conversation = created["data"]["uuid"].as_str().expect("uuid").to_owned();
    let event = next_json(&mut b).await;
    assert_eq!(event["type"], "conversation.created");
    assert_eq!(event["conversation_uuid"], conversation);
    assert_eq!(event["data"]["counterpart"]["uuid"], "u0", "rendered for the recipient");
    assert_eq!(next_json(&mut a).await["data"]["counterpart"]["uuid"], "u1");

    // A sends over HTTP; B receives the message and its inbox row with the unread count.
    let path = format!("/conversations/{conversation}/messages");
    let (status, _) = http(addr, "POST", &path, 0, Some(json!({"body": "Hello B"}))).await;
    assert_eq!(status, 201);
    let (types, frames) = next_frames(&mut b, 2).await;
    assert_eq!(types, ["message.created", "conversation.updated"]);
    let message = &frames[0];
    assert_eq!(message["conversation_uuid"], conversation);
    assert_eq!(message["data"]["body"], "Hello B");
    assert_eq!(message["data"]["seq"], 1);
    assert_eq!(
        message["data"]["sender"],
        json!({"uuid": "u0", "name": "Ana Souza", "avatar_url": "https://cdn.test/u0.png", "headline": "Ceramics from Porto"})
    );
    assert_timestamp(&message["data"]["created_at"]);
    let row = &frames[1]["data"];
    assert_eq!(row["unread_count"], 1);
    assert_eq!(row["last_message_text"], "Hello B");
    assert_eq!(row["counterpart"]["uuid"], "u0");
    let (types, frames) = next_frames(&mut a, 2).await;
    assert_eq!(types, ["message.created", "conversation.updated"]);
    assert_eq!(frames[1]["data"]["unread_count"], 0, "the sender's own row");

    http(addr, "POST", &path, 0, Some(json!({"body": "Are you there?"}))).await;
    let (_, frames) = next_frames(&mut b, 2).await;
    assert_eq!(frames[1]["data"]["unread_count"], 2);
    next_frames(&mut a, 2).await;

    // B reads over the socket: a receipt for both, B's row back to zero.
    send_json(&mut b, json!({"type": "read", "conversation_uuid": conversation})).await;
    let (types, frames) = next_frames(&mut b, 2).await;
    assert_eq!(types, ["conversation.read", "conversation.updated"]);
    assert_eq!(frames[0]["data"]["user"], "u1");
    assert_eq!(frames[0]["data"]["seq"], 2);
    assert_timestamp(&frames[0]["data"]["read_at"]);
    assert_eq!(frames[1]["data"]["unread_count"], 0);
    let receipt = next_json(&mut a).await;
    assert_eq!(
        (receipt["type"].as_str(), receipt["data"]["user"].as_str()),
        (Some("conversation.read"), Some("u1"))
    );

    // Edits and deletions.
    let (_, sent) = http(addr, "POST", &path, 1, Some(json!({"body": "Yes"}))).await;
    next_frames(&mut a, 2).await;
    next_frames(&mut b, 2).await;
    let message_path = format!("{path}/{}", sent["data"]["uuid"].as_str().expect("uuid"));
    assert_eq!(
        http(addr, "PATCH", &message_path, 1, Some(json!({"body": "Yes!"})))
            .await
            .0,
        200
    );
    let (types, frames) = next_frames(&mut a, 2).await;
    assert_eq!(types, ["message.updated", "conversation.updated"]);
    assert_eq!(frames[0]["data"]["body"], "Yes!");
    assert_eq!(frames[0]["data"]["is_edited"], true);
    next_frames(&mut b, 2).await;
    assert_eq!(http(addr, "DELETE", &message_path, 1, None).await.0, 200);
    let (types, frames) = next_frames(&mut a, 2).await;
    assert_eq!(types, ["message.deleted", "conversation.updated"]);
    assert_eq!(frames[0]["data"]["is_deleted"], true);
    assert_eq!(frames[0]["data"]["body"], "");
    assert_eq!(frames[1]["data"]["last_message_text"], "Are you there?");
}

#[tokio::test]
async fn typing_reaches_the_other_participant_and_not_a_stranger() {
    let app = TestApp::new();
    let addr = serve(&app).await;
    let conversation = app.direct(0, 1).await;
    let mut a = connect(addr, 0).await;
    let mut b = connect(addr, 1).await;
    let mut stranger = connect(addr, 2).await;

    send_json(&mut a, json!({"type": "typing", "conversation_uuid": conversation})).await;
    send_json(&mut a, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "pong"}),
        "no typing echo to the typist"
    );
    let typing = next_json(&mut b).await;
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["conversation_uuid"], conversation);
    assert_eq!(typing["data"]["user"], "u0");
    assert_timestamp(&typing["data"]["expires_at"]);
    // Pending events are written before a client frame is answered: had the stranger been
    // sent the typing event, it would come before this pong.
    send_json(&mut stranger, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut stranger).await, json!({"type": "pong"}));

    // Typing over HTTP reaches the socket too.
    let (status, _) = http(addr, "POST", &format!("/conversations/{conversation}/typing"), 1, None).await;
    assert_eq!(status, 200);
    assert_eq!(next_json(&mut a).await["data"]["user"], "u1");

    // Frames about conversations the client is not in, and malformed frames, are refused.
    send_json(
        &mut stranger,
        json!({"type": "typing", "conversation_uuid": conversation}),
    )
    .await;
    assert_eq!(
        next_json(&mut stranger).await,
        json!({"type": "error", "message": "Conversation not found."})
    );
    send_json(&mut stranger, json!({"type": "typing", "conversation_uuid": "nope"})).await;
    let error = next_json(&mut stranger).await;
    assert_eq!(error["type"], "error");
    assert!(error["errors"]["conversation_uuid"].is_array(), "{error}");
    send_json(&mut stranger, json!({"type": "read"})).await;
    assert_eq!(
        next_json(&mut stranger).await["errors"]["conversation_uuid"],
        json!(["is required"])
    );
    send_json(&mut stranger, json!({"type": "shout"})).await;
    assert_eq!(
        next_json(&mut stranger).await["errors"]["type"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    send_json(&mut stranger, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut stranger).await, json!({"type": "pong"}));
    send_json(&mut b, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut b).await,
        json!({"type": "pong"}),
        "b saw nothing but its typing event"
    );
}

#[tokio::test]
async fn no_upgrade_without_an_identity_or_from_a_foreign_origin() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_allowed_origins(["https://shop.example"])
    });
    let addr = serve(&app).await;
    for url in [
        ws_url(addr, None),
        ws_url(addr, Some("nobody")),
        ws_url(addr, Some("acme:")),
    ] {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 401, "{url}");
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("json");
                assert_eq!(body, json!({"message": "Unauthenticated."}));
            }
            other => panic!("{url}: expected 401, got {other:?}"),
        }
    }
    let mut request = ws_url(addr, Some(&token(0))).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let mut request = ws_url(addr, Some(&token(0))).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", "https://SHOP.example".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("allowed origin");
    send_json(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn an_oversized_frame_closes_the_socket() {
    let app = TestApp::new();
    let addr = serve(&app).await;
    let mut socket = connect(addr, 0).await;
    let limit = Limits::default().ws_frame_max_bytes;
    let padded = format!("{{\"type\": \"ping\"{}}}", " ".repeat(limit - 100));
    socket.send(Message::text(padded)).await.expect("send");
    assert_eq!(
        next_json(&mut socket).await["type"],
        "pong",
        "a frame under the limit is fine"
    );
    let _ = socket.send(Message::text("x".repeat(limit + 1))).await;
    let code = close_code(&mut socket).await;
    assert!(matches!(code, None | Some(1009)), "{code:?}");

    let mut other = connect(addr, 1).await;
    send_json(&mut other, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut other).await,
        json!({"type": "pong"}),
        "the server still serves others"
    );
}

#[tokio::test]
async fn frames_past_the_rate_close_the_socket() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_ws_config(WsConfig::default().with_frame_rate(1, 5))
    });
    let addr = serve(&app).await;
    let mut socket = connect(addr, 0).await;
    for _ in 0..10 {
        let _ = socket.send(Message::text(json!({"type": "ping"}).to_string())).await;
    }
    let mut pongs = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("in time") {
            Some(Ok(Message::Text(_))) => pongs += 1,
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(pongs, 5, "the burst is answered");
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn silent_clients_are_pinged_then_dropped() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_ws_config(
            WsConfig::default()
                .with_ping_interval(Duration::from_millis(50))
                .with_idle_timeout(Duration::from_millis(200)),
        )
    });
    let addr = serve(&app).await;
    let mut socket = connect(addr, 0).await;
    // Not reading means not answering pings either.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pings = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("in time") {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(code, Some(1001), "closed as idle after {pings} unanswered pings");

    // A client that answers pings stays.
    let mut live = connect(addr, 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < deadline {
        // Reading lets tungstenite answer the server's pings.
        let _ = tokio::time::timeout(Duration::from_millis(20), live.next()).await;
    }
    send_json(&mut live, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut live).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_stalled_reader_gets_resync_and_is_closed_while_others_are_served() {
    // Subscribers may fall 8 events behind.
    let app = TestApp::build(Limits::default(), 8, |api| api);
    let addr = serve_with_small_buffers(&app);
    let with_b = app.direct(0, 1).await;
    let with_c = app.direct(0, 2).await;

    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("recv buffer");
    let stream = socket.connect(addr).await.expect("connect");
    let (mut stalled, _) = tokio_tungstenite::client_async(ws_url(addr, Some(&token(1))), stream)
        .await
        .expect("stalled client connects");
    let mut c = connect(addr, 2).await;

    // B stops reading while 60 long messages (120 events) are published to it.
    let padding = "x".repeat(1500);
    let published = 60;
    for index in 0..published {
        app.message(0, &with_b, &format!("{index} {padding}")).await;
    }

    // Others are served meanwhile, over the socket and over HTTP.
    let (status, _) = http(
        addr,
        "POST",
        &format!("/conversations/{with_c}/messages"),
        0,
        Some(json!({"body": "still there?"})),
    )
    .await;
    assert_eq!(status, 201);
    let (types, frames) = next_frames(&mut c, 2).await;
    assert_eq!(types, ["message.created", "conversation.updated"]);
    assert_eq!(frames[0]["data"]["body"], "still there?");
    assert_eq!(http(addr, "GET", "/conversations/stats", 2, None).await.0, 200);

    // B reads again: what the sockets held, then `resync`, then the close. Nothing more
    // was queued for it.
    let mut frames = 0;
    let mut resync = false;
    let code = loop {
        match tokio::time::timeout(WAIT, stalled.next()).await.expect("in time") {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("json");
                if frame["type"] == "resync" {
                    resync = true;
                } else {
                    assert!(!resync, "resync is the last frame");
                    frames += 1;
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert!(resync, "the stalled client was told to resync");
    assert_eq!(code, Some(1013));
    assert!(
        frames < 2 * published,
        "{frames} frames: the server did not buffer everything"
    );

    // And c is still live.
    send_json(&mut c, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut c).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_user_holds_at_most_the_configured_number_of_sockets() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_ws_config(WsConfig::default().with_max_connections_per_user(2))
    });
    let addr = serve(&app).await;
    let first = connect(addr, 0).await;
    let _second = connect(addr, 0).await;
    match tokio_tungstenite::connect_async(ws_url(addr, Some(&token(0)))).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third socket was not refused: {other:?}"),
    }
    // Others are not affected.
    let _other = connect(addr, 1).await;
    // A closed socket frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio_tungstenite::connect_async(ws_url(addr, Some(&token(0)))).await {
            Ok(_) => break,
            Err(error) => {
                assert!(tokio::time::Instant::now() < deadline, "place never freed: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn typing_frames_share_the_typing_budget() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_typing_rate_limit(chat_axum::RateLimit::per_minute(2))
    });
    let direct = app.direct(0, 1).await;
    let addr = serve(&app).await;
    let (status, _) = http(addr, "POST", &format!("/conversations/{direct}/typing"), 0, None).await;
    assert_eq!(status, 200);
    let mut socket = connect(addr, 0).await;
    let frame = json!({"type": "typing", "conversation_uuid": direct});
    send_json(&mut socket, frame.clone()).await;
    send_json(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut socket).await["type"],
        "pong",
        "the second typing is within budget"
    );
    send_json(&mut socket, frame).await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["message"], "Too many requests.");
    let (status, _) = http(addr, "POST", &format!("/conversations/{direct}/typing"), 0, None).await;
    assert_eq!(status, 429);
}
