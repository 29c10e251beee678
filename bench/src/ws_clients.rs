//! WebSocket clients in a child process of their own.
//!
//! The bench re-runs itself as `chat-bench __ws-clients URL COUNT AUTH`: the child opens
//! COUNT connections, says `ready <connected> <failed>` on stdout, records the latency of
//! every `message.created` frame it receives from another user (bodies are `t:<sent>`, the
//! send time in microseconds since the Unix epoch, a clock both processes share), and on
//! `report` from stdin answers `latencies <JSON array>` and exits.
//!
//! With the clients apart, the server's process holds only the server side: its resident
//! memory growth is the server's cost per connection, and each process needs only one
//! file descriptor per connection (10,000 clients fit under a 20,000 limit).
//!
//! The baseline server runs apart too: `chat-bench __ws-echo` serves a bare
//! tokio-tungstenite echo on a loopback port it prints (`listening <addr>`) until its stdin
//! closes, so its memory is measured in a process that never held anything else.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// The hidden first argument that makes `chat-bench` a client process.
pub const CHILD_COMMAND: &str = "__ws-clients";

/// The hidden first argument that makes `chat-bench` a bare echo server process.
pub const ECHO_COMMAND: &str = "__ws-echo";

/// A bare echo server in a child process.
pub struct EchoServer {
    child: Child,
    /// Its address.
    pub addr: String,
}

impl EchoServer {
    /// Starts it and waits for its address.
    pub async fn start() -> Self {
        let (child, _, line) = spawn_self(&[ECHO_COMMAND]).await;
        let addr = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected line from the echo server: {line}"))
            .to_owned();
        Self { child, addr }
    }

    /// Its resident memory in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        crate::measure::rss_kib_of(self.child.id()?)
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Starts `chat-bench` itself with `args`, stdin and stdout piped, and waits for the first
/// line it prints.
async fn spawn_self(args: &[&str]) -> (Child, tokio::io::Lines<BufReader<ChildStdout>>, String) {
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("starting chat-bench {}: {error}", args[0]));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = stdout
        .next_line()
        .await
        .expect("reading the child process")
        .unwrap_or_else(|| panic!("chat-bench {} ended before its first line", args[0]));
    (child, stdout, line)
}

/// The echo server's side.
pub async fn run_echo() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("listening {}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut socket) =
                    tokio_tungstenite::accept_async_with_config(stream, Some(lean_ws_config())).await
                {
                    while let Some(Ok(frame)) = socket.next().await {
                        if frame.is_text() && socket.send(frame).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = stdin.next_line().await {}
    std::process::exit(0);
}

/// Microseconds since the Unix epoch: the clock both processes read.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// The buffers of the bench's own WebSocket clients and of the raw echo server: the same
/// 4 KiB read buffer and unbuffered writes as the chat server.
pub fn lean_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// How the clients authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Client `i` sends `Authorization: Bearer w<i>` (the bench authenticator's users).
    Bearer,
    /// No header (the raw echo server).
    None,
}

/// A running client process.
pub struct Clients {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
    /// Connections open (the others failed to connect).
    pub connected: usize,
}

impl Clients {
    /// Starts `count` clients of `url` in a child process and waits until they are connected.
    pub async fn start(url: &str, count: usize, auth: Auth) -> Self {
        let auth_arg = match auth {
            Auth::Bearer => "bearer",
            Auth::None => "none",
        };
        let (mut child, stdout, line) = spawn_self(&[CHILD_COMMAND, url, &count.to_string(), auth_arg]).await;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut words = line.split_whitespace();
        let (Some("ready"), Some(connected)) = (words.next(), words.next()) else {
            panic!("unexpected line from the client process: {line}");
        };
        Self {
            child,
            stdin,
            stdout,
            connected: connected.parse().expect("connected count"),
        }
    }

    /// The delivery latencies (microseconds) the clients saw; ends the process.
    pub async fn finish(mut self) -> Vec<u64> {
        self.stdin.write_all(b"report\n").await.expect("asking for the report");
        self.stdin.flush().await.expect("asking for the report");
        let line = self
            .stdout
            .next_line()
            .await
            .expect("reading the report")
            .expect("the client process ended without a report");
        let latencies = line
            .strip_prefix("latencies ")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("unexpected report from the client process: {line}"));
        let _ = self.child.wait().await;
        latencies
    }
}

/// The child's side: `args` are URL, COUNT, AUTH.
pub async fn run_child(args: &[String]) {
    let [url, count, auth] = args else {
        eprintln!("usage: chat-bench {CHILD_COMMAND} URL COUNT bearer|none");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("client count");
    let bearer = auth == "bearer";
    let receipts: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut readers = Vec::new();
    let mut failed = 0usize;
    for batch in (0..count).collect::<Vec<_>>().chunks(50) {
        let connected = futures_util::future::join_all(batch.iter().map(|&index| async move {
            let user = format!("w{index}");
            let mut request = url.as_str().into_client_request().ok()?;
            if bearer {
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {user}").parse().ok()?);
            }
            let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(lean_ws_config()), false)
                .await
                .ok()?;
            Some((user, socket))
        }))
        .await;
        for result in connected {
            let Some((user, socket)) = result else {
                failed += 1;
                continue;
            };
            let receipts = Arc::clone(&receipts);
            readers.push(tokio::spawn(async move {
                let (mut write, mut read) = socket.split();
                while let Some(Ok(frame)) = read.next().await {
                    match frame {
                        WsMessage::Text(text) => {
                            if let Some(latency) = receipt_latency(text.as_str(), &user) {
                                receipts.lock().unwrap_or_else(PoisonError::into_inner).push(latency);
                            }
                        }
                        WsMessage::Ping(data) => {
                            let _ = write.send(WsMessage::Pong(data)).await;
                        }
                        WsMessage::Close(_) => break,
                        _ => {}
                    }
                }
            }));
        }
    }
    println!("ready {} {failed}", readers.len());
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line.trim() == "report" {
            break;
        }
    }
    let latencies = std::mem::take(&mut *receipts.lock().unwrap_or_else(PoisonError::into_inner));
    println!(
        "latencies {}",
        serde_json::to_string(&latencies).expect("latencies as JSON")
    );
    std::process::exit(0);
}

/// The latency of a `message.created` frame from someone other than `user` whose body is
/// `t:<sent>`; `None` for every other frame.
fn receipt_latency(text: &str, user: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value["type"] != "message.created" || value["data"]["sender"]["uuid"] == user {
        return None;
    }
    let sent: u64 = value["data"]["body"].as_str()?.strip_prefix("t:")?.parse().ok()?;
    Some(unix_micros().saturating_sub(sent))
}
