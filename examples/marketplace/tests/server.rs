//! The example binary as an operator meets it: `--help`, plain logs in a file, Ctrl-C, two
//! platforms isolated over HTTP and the WebSocket origin allowlist.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_marketplace");

#[test]
fn help_exits_zero_and_lists_every_knob() {
    let output = Command::new(BIN).arg("--help").output().expect("run --help");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    for knob in [
        "--addr",
        "MARKETPLACE_ADDR",
        "--data-dir",
        "MARKETPLACE_DATA_DIR",
        "DATABASE_URL",
        "REDIS_URL",
        "MARKETPLACE_PG_SCHEMA",
        "MARKETPLACE_SEND_RATE",
        "MARKETPLACE_ALLOWED_ORIGINS",
        "MARKETPLACE_HEADER_TIMEOUT",
        "MARKETPLACE_IDLE_TIMEOUT",
        "MARKETPLACE_MAX_CONNECTIONS",
        "MARKETPLACE_NOTIFY_AFTER",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        assert!(text.contains(knob), "--help does not mention {knob}:\n{text}");
    }
    let unknown = Command::new(BIN).arg("--nope").output().expect("run");
    assert!(!unknown.status.success());
}

/// The running example on a free port with a throwaway sled directory, logs to a pipe.
struct Running {
    child: Option<Child>,
    port: u16,
    _data: tempfile::TempDir,
}

impl Running {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The example with extra environment variables.
    async fn start_with(envs: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let data = tempfile::tempdir().expect("temp dir");
        let child = Command::new(BIN)
            .args(["--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data.path())
            .env_remove("DATABASE_URL")
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let running = Self {
            child: Some(child),
            port,
            _data: data,
        };
        for _ in 0..300 {
            if running.http("GET", "/demo/users", None, None).await.0 == 200 {
                return running;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the example did not come up");
    }

    /// One request: `(status, json)`; `auth` is `(token, platform key)`.
    async fn http(&self, method: &str, path: &str, auth: Option<(&str, &str)>, body: Option<Value>) -> (u16, Value) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else {
            return (0, Value::Null);
        };
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some((token, key)) = auth {
            head.push_str(&format!("Authorization: Bearer {token}\r\nX-PUBLIC-KEY: {key}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(body.as_bytes()).await.is_err() {
            return (0, Value::Null);
        }
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return (0, Value::Null);
        };
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Logs in a demo user: `(token, platform key)`.
    async fn login(&self, user: &str) -> (String, String) {
        let (status, body) = self
            .http("POST", "/demo/login", None, Some(json!({"user_id": user})))
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["token"].as_str().expect("token").to_owned(),
            body["platform_key"].as_str().expect("platform key").to_owned(),
        )
    }

    fn interrupt(&self) {
        let pid = self.child.as_ref().map(Child::id).expect("running");
        let status = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn ctrl_c_closes_sockets_with_going_away_and_logs_carry_no_colour() {
    let server = Running::start().await;
    let (token, key) = server.login("buyer-ana").await;
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/chat/ws?token={token}&public_key={key}",
        server.port
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    server.interrupt();
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(code, Some(1001), "going away, so clients reconnect at once");
    let mut server = server;
    let output = server
        .child
        .take()
        .expect("running")
        .wait_with_output()
        .expect("the server exits");
    assert!(output.status.success(), "{output:?}");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour escapes in a log file: {logs:?}");
}

#[tokio::test]
async fn two_platforms_are_isolated_over_http() {
    let server = Running::start().await;
    let (ana, market) = server.login("buyer-ana").await;
    let (tomas, rentals) = server.login("guest-tomas").await;
    assert_ne!(market, rentals);
    let ana_auth = Some((ana.as_str(), market.as_str()));
    let tomas_auth = Some((tomas.as_str(), rentals.as_str()));

    // Each user sees only the contacts of their platform.
    let (status, contacts) = server.http("GET", "/api/v1/chat/users", ana_auth, None).await;
    assert_eq!(status, 200, "{contacts}");
    let ids: Vec<&str> = contacts["data"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["uuid"].as_str())
        .collect();
    assert!(
        ids.contains(&"seller-ines") && !ids.contains(&"host-lucia") && !ids.contains(&"buyer-ana"),
        "{ids:?}"
    );

    let (status, started) = server
        .http(
            "POST",
            "/api/v1/chat/conversations",
            ana_auth,
            Some(json!({"participant_uuid": "seller-ines"})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let uuid = started["data"]["uuid"].as_str().expect("uuid");
    // The other platform cannot see it, nor reach the marketplace's users.
    let (status, _) = server
        .http("GET", &format!("/api/v1/chat/conversations/{uuid}"), tomas_auth, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .http(
            "POST",
            "/api/v1/chat/conversations",
            tomas_auth,
            Some(json!({"participant_uuid": "seller-ines"})),
        )
        .await;
    assert_eq!(status, 422);
    // A token of one platform with the other platform's key, or without a key.
    let (status, _) = server
        .http(
            "GET",
            "/api/v1/chat/conversations",
            Some((ana.as_str(), rentals.as_str())),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = server
        .http("GET", "/api/v1/chat/conversations", Some((ana.as_str(), "")), None)
        .await;
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap_or_default().contains("X-PUBLIC-KEY"),
        "{body}"
    );
}

#[tokio::test]
async fn websockets_only_from_the_servers_own_origin() {
    let server = Running::start().await;
    let (token, key) = server.login("buyer-ana").await;
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/chat/ws?token={token}&public_key={key}",
        server.port
    );
    let request = |origin: &str| {
        let mut request = url.as_str().into_client_request().expect("request");
        request.headers_mut().insert("Origin", origin.parse().expect("origin"));
        request
    };
    match tokio_tungstenite::connect_async(request("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    let own = format!("http://127.0.0.1:{}", server.port);
    let (mut socket, response) = tokio_tungstenite::connect_async(request(&own))
        .await
        .expect("the page's own origin");
    assert_eq!(response.status(), 101);
    let _ = socket.close(None).await;
}

/// A seller moving a demo order on posts a system message into the buyer's conversation
/// about it: no sender, unread for the buyer, the order's state in `/demo/orders`; the
/// buyer cannot move the seller's order, and a delivered order moves no further.
#[tokio::test]
async fn an_order_update_lands_as_a_system_message_in_the_conversation_about_it() {
    let server = Running::start().await;
    let (ines, market) = server.login("seller-ines").await;
    let (ana, _) = server.login("buyer-ana").await;
    let seller = Some((ines.as_str(), market.as_str()));
    let buyer = Some((ana.as_str(), market.as_str()));

    let (status, refused) = server.http("POST", "/demo/orders/1001/advance", buyer, None).await;
    assert_eq!(status, 404, "only the seller moves an order: {refused}");
    let (status, shipped) = server.http("POST", "/demo/orders/1001/advance", seller, None).await;
    assert_eq!(status, 200, "{shipped}");
    assert_eq!(shipped["data"]["status"], "shipped");
    let conversation = shipped["data"]["conversation_uuid"].as_str().expect("uuid").to_owned();

    let (status, history) = server
        .http(
            "GET",
            &format!("/api/v1/chat/conversations/{conversation}/messages"),
            buyer,
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let message = &history["data"][0];
    assert_eq!(message["kind"], "system");
    assert_eq!(message["sender"], Value::Null);
    assert_eq!(message["body"], "Order #1001 (Handmade ceramic mug) was shipped.");
    let (_, view) = server
        .http(
            "GET",
            &format!("/api/v1/chat/conversations/{conversation}"),
            buyer,
            None,
        )
        .await;
    assert_eq!(view["data"]["taggable_id"], 1001);
    assert_eq!(view["data"]["unread_count"], 1);
    let (_, orders) = server.http("GET", "/demo/orders", buyer, None).await;
    let order = orders["data"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|order| order["id"] == 1001)
        .expect("order 1001");
    assert_eq!(order["status"], "shipped");

    let (status, _) = server.http("POST", "/demo/orders/1001/advance", seller, None).await;
    assert_eq!(status, 200);
    let (status, done) = server.http("POST", "/demo/orders/1001/advance", seller, None).await;
    assert_eq!(status, 409, "{done}");
}

/// A message left unread for the notification delay lands in its recipient's demo mailbox
/// (the page's notifications panel), once, with the sender's name; the sender gets none.
#[tokio::test]
async fn an_unread_message_is_notified_in_the_demo_mailbox() {
    let server = Running::start_with(&[("MARKETPLACE_NOTIFY_AFTER", "2")]).await;
    let (ana, market) = server.login("buyer-ana").await;
    let (ines, _) = server.login("seller-ines").await;
    let buyer = Some((ana.as_str(), market.as_str()));
    let seller = Some((ines.as_str(), market.as_str()));
    let (status, started) = server
        .http(
            "POST",
            "/api/v1/chat/conversations",
            buyer,
            Some(json!({"participant_uuid": "seller-ines"})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let uuid = started["data"]["uuid"].as_str().expect("uuid").to_owned();
    for body in ["Is the mug still available?", "I could pick it up today."] {
        let (status, sent) = server
            .http(
                "POST",
                &format!("/api/v1/chat/conversations/{uuid}/messages"),
                buyer,
                Some(json!({"body": body})),
            )
            .await;
        assert_eq!(status, 201, "{sent}");
    }

    let mut mails = Value::Null;
    for _ in 0..200 {
        let (status, body) = server.http("GET", "/demo/notifications", seller, None).await;
        assert_eq!(status, 200, "{body}");
        if body["data"].as_array().is_some_and(|mails| !mails.is_empty()) {
            mails = body["data"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = mails.as_array().expect("a notification within 10 s");
    assert_eq!(mails.len(), 1, "two messages, one notification: {mails:?}");
    assert_eq!(mails[0]["conversation_uuid"], uuid.as_str());
    assert!(
        mails[0]["subject"].as_str().unwrap_or_default().contains("Ana"),
        "{mails:?}"
    );
    let texts: Vec<&str> = mails[0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|line| line["text"].as_str())
        .collect();
    assert_eq!(texts, ["Is the mug still available?", "I could pick it up today."]);
    let (_, own) = server.http("GET", "/demo/notifications", buyer, None).await;
    assert_eq!(
        own["data"],
        json!([]),
        "the sender is not notified of their own messages"
    );
    let (status, _) = server.http("GET", "/demo/notifications", None, None).await;
    assert_eq!(status, 401);
}

/// What the page asks for besides the API is there: the fallback avatar and the icon.
#[tokio::test]
async fn the_fallback_avatar_and_the_icon_are_served() {
    let server = Running::start().await;
    for path in [
        "/demo/avatars/unknown.svg",
        "/demo/avatars/group.svg",
        "/favicon.ico",
        "/favicon.svg",
    ] {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", server.port)).await else {
            panic!("connect");
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text}");
        assert!(
            text.to_ascii_lowercase().contains("content-type: image/svg+xml"),
            "{path}: {text}"
        );
        assert!(text.contains("<svg"), "{path}");
    }
}

/// Issue 32, item 9: logins from one address are limited per minute (429 with
/// `Retry-After` past `LOGINS_PER_MINUTE`), and a token issued before still works.
#[tokio::test]
async fn logins_from_one_address_are_limited() {
    let server = Running::start().await;
    let (token, key) = server.login("buyer-ana").await;
    let mut statuses = Vec::new();
    for _ in 0..marketplace::demo::LOGINS_PER_MINUTE {
        let (status, _) = server
            .http("POST", "/demo/login", None, Some(json!({"user_id": "buyer-ana"})))
            .await;
        statuses.push(status);
    }
    assert!(statuses[..statuses.len() - 1].iter().all(|&status| status == 200));
    assert_eq!(statuses.last(), Some(&429), "the login past the limit");
    let (status, body) = server
        .http("GET", "/api/v1/chat/conversations", Some((&token, &key)), None)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The crate's modules never import each other in a cycle.
#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}
