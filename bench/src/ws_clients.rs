//! WebSocket clients in a child process of their own.
//!
//! The bench re-runs itself as `chat-bench __ws-clients URL COUNT AUTH [RECEIPTS]`: the
//! child opens COUNT connections, says `ready <connected> <failed>` on stdout, records the
//! latency of every `message.created` frame it receives from another user (bodies are
//! `t:<sent>`, the send time in microseconds since the Unix epoch, a clock both processes
//! share), and on `report` from stdin answers `latencies <JSON array>` and exits.
//!
//! With RECEIPTS `last` (the group fan-out), every connection counts, the sender's own
//! included, and a message is recorded once, when the last connection has received it: the
//! child then says `delivered <sent> <latency of the last receipt>` at once, so the sender
//! can wait for it, and `latencies` holds one latency per message that reached them all.
//!
//! With the clients apart, the server's process holds only the server side: its resident
//! memory growth is the server's cost per connection, and each process needs only one
//! file descriptor per connection (10,000 clients fit under a 20,000 limit).
//!
//! The baseline server runs apart too: `chat-bench __ws-echo` serves a bare
//! tokio-tungstenite echo on a loopback port it prints (`listening <addr>`) until its stdin
//! closes, so its memory is measured in a process that never held anything else.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// What the clients record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipts {
    /// The latency of every `message.created` from another user.
    EachFromOthers,
    /// Per message, the latency of its last receipt once every connection has it (the
    /// sender's included), announced as it happens (see [`Clients::next_delivery`]).
    LastOfAll,
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
        Self::start_with(url, count, auth, Receipts::EachFromOthers).await
    }

    /// [`Clients::start`] recording `receipts`.
    pub async fn start_with(url: &str, count: usize, auth: Auth, receipts: Receipts) -> Self {
        let auth_arg = match auth {
            Auth::Bearer => "bearer",
            Auth::None => "none",
        };
        let receipts_arg = match receipts {
            Receipts::EachFromOthers => "each",
            Receipts::LastOfAll => "last",
        };
        let (mut child, stdout, line) =
            spawn_self(&[CHILD_COMMAND, url, &count.to_string(), auth_arg, receipts_arg]).await;
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

    /// CPU time the client process has used so far, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        crate::measure::cpu_secs_of(self.child.id()?)
    }

    /// With [`Receipts::LastOfAll`]: waits up to `timeout` for the next message to reach
    /// every connection; its send time (the `t:` of its body) and the latency of its last
    /// receipt, in microseconds. `None` on timeout.
    pub async fn next_delivery(&mut self, timeout: Duration) -> Option<(u64, u64)> {
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .ok()?
            .expect("reading the client process")?;
        let mut words = line.strip_prefix("delivered ")?.split_whitespace();
        Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
    }

    /// The delivery latencies (microseconds) the clients saw; ends the process.
    pub async fn finish(mut self) -> Vec<u64> {
        self.stdin.write_all(b"report\n").await.expect("asking for the report");
        self.stdin.flush().await.expect("asking for the report");
        let line = loop {
            let line = self
                .stdout
                .next_line()
                .await
                .expect("reading the report")
                .expect("the client process ended without a report");
            // Announcements of [`Receipts::LastOfAll`] nobody waited for.
            if !line.starts_with("delivered ") {
                break line;
            }
        };
        let latencies = line
            .strip_prefix("latencies ")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("unexpected report from the client process: {line}"));
        let _ = self.child.wait().await;
        latencies
    }
}

/// The child's side: `args` are URL, COUNT, AUTH and optionally RECEIPTS.
pub async fn run_child(args: &[String]) {
    let (url, count, auth, last_of_all) = match args {
        [url, count, auth] => (url, count, auth, false),
        [url, count, auth, receipts] if receipts == "each" || receipts == "last" => {
            (url, count, auth, receipts == "last")
        }
        _ => {
            eprintln!("usage: chat-bench {CHILD_COMMAND} URL COUNT bearer|none [each|last]");
            std::process::exit(2);
        }
    };
    let count: usize = count.parse().expect("client count");
    let bearer = auth == "bearer";
    let receipts: Arc<Mutex<Vec<u64>>> = Arc::default();
    // `last`: receipts so far per message (by send time), and how many make all.
    let pending: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let everyone = Arc::new(AtomicUsize::new(usize::MAX));
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
            let (pending, everyone) = (Arc::clone(&pending), Arc::clone(&everyone));
            readers.push(tokio::spawn(async move {
                let (mut write, mut read) = socket.split();
                while let Some(Ok(frame)) = read.next().await {
                    match frame {
                        WsMessage::Text(text) if last_of_all => {
                            let Some((_, sent)) = created_frame(text.as_str()) else {
                                if text.as_str().starts_with(r#"{"type":"resync""#) {
                                    eprintln!("client {user}: resync (fell behind); its socket closes");
                                }
                                continue;
                            };
                            let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
                            let seen = pending.entry(sent).or_insert(0);
                            *seen += 1;
                            if *seen >= everyone.load(Ordering::Relaxed) {
                                pending.remove(&sent);
                                let latency = unix_micros().saturating_sub(sent);
                                receipts.lock().unwrap_or_else(PoisonError::into_inner).push(latency);
                                println!("delivered {sent} {latency}");
                            }
                        }
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
    everyone.store(readers.len(), Ordering::Relaxed);
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
    let (sender, sent) = created_frame(text)?;
    (sender != user).then(|| unix_micros().saturating_sub(sent))
}

/// The sender and the `t:<sent>` of a `message.created` frame; `None` for every other frame.
fn created_frame(text: &str) -> Option<(String, u64)> {
    // The server writes `type` first: other kinds (a group's `conversation.updated` lists
    // every participant, tens of KiB) are skipped without parsing them.
    if text.starts_with(r#"{"type":""#) && !text.starts_with(r#"{"type":"message.created""#) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value["type"] != "message.created" {
        return None;
    }
    let sender = value["data"]["sender"]["uuid"].as_str()?.to_owned();
    let sent: u64 = value["data"]["body"].as_str()?.strip_prefix("t:")?.parse().ok()?;
    Some((sender, sent))
}
