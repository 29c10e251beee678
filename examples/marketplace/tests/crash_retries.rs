//! Crash with retries: the example server is killed with SIGKILL at random moments while
//! several clients send over HTTP, each retrying an unacknowledged send with the same
//! `client_message_id` until it is acknowledged. After the restarts every message is present
//! exactly once, seqs are dense, and unread counts and previews agree with the messages.
//! Every tenth send carries a photo uploaded just before it (an upload cut short is simply
//! made again): every acknowledged one keeps its attachment, whose bytes download whole.
//!
//! Runs on sled and redb always and on Postgres when `DATABASE_URL` is set (required when
//! `CI` is; without it the test says SKIPPED on the terminal). Each run counts the retries
//! answered 200 "already sent" (a kill landed between the send's commit and its answer, the
//! case the retry key exists for) and fails when a full run (1,000 sends or more) saw none.
//! `CHAT_CRASH_SENDS` (default 1000) and `CHAT_CRASH_CLIENTS` (default 4) scale it; the long
//! run is `CHAT_CRASH_SENDS=10000`.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a client sent: (conversation index, message uuid, client_message_id, the attachment
/// and the photo number it carries).
type Sent = (usize, String, String, Option<(String, usize)>);

const USERS: [&str; 4] = ["buyer-ana", "buyer-jose", "seller-ines", "seller-renee"];
/// (buyer, seller, order): the conversations the clients write into.
const CONVERSATIONS: [(&str, &str, i64); 3] = [
    ("buyer-ana", "seller-ines", 1001),
    ("buyer-jose", "seller-ines", 1003),
    ("buyer-ana", "seller-renee", 1002),
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A tiny HTTP/1.1 client (one request per connection), enough for this test and free of
/// the connection pooling that would hide a restart: the status and the (de-chunked) body.
async fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Option<(u16, Vec<u8>)> {
    let request = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        // Every demo user of this test is on the marketplace platform.
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-PUBLIC-KEY: {}\r\n",
            marketplace::demo::MARKET_KEY
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some((content_type, payload)) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.ok()?;
        if let Some((_, payload)) = body {
            stream.write_all(payload).await.ok()?;
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
        let head = String::from_utf8(raw[..split].to_vec()).ok()?;
        let body = raw[split + 4..].to_vec();
        let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(&body)?
        } else {
            body
        };
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .ok()
        .flatten()
}

/// [`http_raw`] with a JSON body and answer.
async fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Option<(u16, Value)> {
    let payload = body.map(Value::to_string);
    let (status, answer) = http_raw(
        port,
        method,
        path,
        token,
        payload.as_deref().map(|text| ("application/json", text.as_bytes())),
    )
    .await?;
    let json = if answer.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&answer).ok()?
    };
    Some((status, json))
}

fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line = rest.windows(2).position(|window| window == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).ok()?.trim(), 16).ok()?;
        let after = &rest[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// The photo every tenth send carries: a PNG head made unique by `n`.
fn photo(n: usize) -> Vec<u8> {
    let mut bytes = chat_core::testing::fixtures::sample_png(32, 24);
    bytes.extend_from_slice(format!("photo {n}").as_bytes());
    bytes.resize(20 * 1024, (n % 251) as u8);
    bytes
}

/// Uploads `bytes` until acknowledged (a new upload after a restart; one cut short is swept
/// later); the attachment's uuid.
async fn upload_until_acknowledged(
    port: u16,
    user: &str,
    token: &mut String,
    conversation: &str,
    bytes: &[u8],
) -> String {
    let path = format!("/api/v1/chat/conversations/{conversation}/attachments?name=photo.png");
    loop {
        match http_raw(port, "POST", &path, Some(token), Some(("image/png", bytes))).await {
            Some((201, answer)) => {
                let answer: Value = serde_json::from_slice(&answer).expect("upload answer");
                return answer["data"]["uuid"].as_str().expect("attachment uuid").to_owned();
            }
            Some((401, _)) => *token = login(port, user).await,
            Some((status, answer)) if status < 500 => {
                panic!("upload refused with {status}: {}", String::from_utf8_lossy(&answer))
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

struct Server {
    port: u16,
    /// `MARKETPLACE_ENGINE` of the embedded store (unused with a database).
    engine: &'static str,
    data_dir: std::path::PathBuf,
    database: Option<(String, String)>,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_marketplace"));
        command
            .args(["--addr", &format!("127.0.0.1:{}", self.port), "--data-dir"])
            .arg(&self.data_dir)
            .env("RUST_LOG", "warn")
            .env("MARKETPLACE_SEND_RATE", "0")
            .env("MARKETPLACE_ENGINE", self.engine)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command.env_remove("DATABASE_URL");
        if let Some((url, schema)) = &self.database {
            command.env("DATABASE_URL", url).env("MARKETPLACE_PG_SCHEMA", schema);
        }
        self.child = Some(command.spawn().expect("start the example server"));
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            if let Some((200, _)) = http(self.port, "GET", "/demo/users", None, None).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the example server did not come up");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn login(port: u16, user: &str) -> String {
    loop {
        if let Some((200, body)) = http(port, "POST", "/demo/login", None, Some(&json!({"user_id": user}))).await
            && let Some(token) = body["token"].as_str()
        {
            return token.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a send was acknowledged: after how many tries, and whether the answer was 200 (the
/// message was already stored: a try before this one was committed and its answer lost to
/// a kill) or 201 (stored by this try).
#[derive(Clone, Copy, Debug)]
struct Acknowledgement {
    tries: usize,
    already_sent: bool,
}

/// Sends until acknowledged, logging in again after a restart; returns the message uuid and
/// how it was acknowledged. A first try answered 200 is a failure: nothing had that
/// `client_message_id` yet.
async fn send_until_acknowledged(
    port: u16,
    user: &str,
    token: &mut String,
    conversation: &str,
    client_id: &str,
    attachment: Option<&str>,
) -> (String, Acknowledgement) {
    let mut body = json!({"body": format!("{client_id} from {user}"), "client_message_id": client_id});
    if let Some(attachment) = attachment {
        body["attachment_ids"] = json!([attachment]);
    }
    let mut tries = 0;
    loop {
        tries += 1;
        match http(
            port,
            "POST",
            &format!("/api/v1/chat/conversations/{conversation}/messages"),
            Some(token),
            Some(&body),
        )
        .await
        {
            Some((status @ (200 | 201), answer)) => {
                let already_sent = status == 200;
                assert!(
                    !(already_sent && tries == 1),
                    "{client_id}: a first try answered 200 (already sent): {answer}"
                );
                let uuid = answer["data"]["uuid"].as_str().expect("message uuid").to_owned();
                return (uuid, Acknowledgement { tries, already_sent });
            }
            Some((401, _)) => *token = login(port, user).await,
            Some((status, answer)) if status < 500 => panic!("send refused with {status}: {answer}"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Sends of the default run; a run this long must have had a retry answered 200.
const FULL_RUN: usize = 1000;

/// The crash run on the embedded `engine` (sled or redb), or on Postgres when `database`
/// (URL and schema) is given; `store` names it in the report.
async fn crash_while_sending(store: &str, engine: &'static str, database: Option<(String, String)>) {
    let sends = env_usize("CHAT_CRASH_SENDS", FULL_RUN);
    let clients = env_usize("CHAT_CRASH_CLIENTS", 4).clamp(1, USERS.len());
    let data_dir = std::env::temp_dir().join(format!("crash-retries-{}", uuid::Uuid::now_v7().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut server = Server {
        port,
        engine,
        data_dir: data_dir.clone(),
        database,
        child: None,
    };
    server.start();
    server.wait_ready().await;

    // The conversations, started before the crashes.
    let mut conversation_ids = Vec::new();
    for (buyer, seller, order) in CONVERSATIONS {
        let token = login(port, buyer).await;
        let body = json!({"participant_uuid": seller, "taggable_type": "App\\Models\\Order", "taggable_id": order});
        let (status, answer) = http(port, "POST", "/api/v1/chat/conversations", Some(&token), Some(&body))
            .await
            .expect("start");
        assert!(status == 201 || status == 200, "start conversation: {status} {answer}");
        conversation_ids.push(answer["data"]["uuid"].as_str().expect("uuid").to_owned());
    }

    let done = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for &user in USERS.iter().take(clients) {
        let mine: Vec<(usize, String)> = CONVERSATIONS
            .iter()
            .enumerate()
            .filter(|(_, (buyer, seller, _))| *buyer == user || *seller == user)
            .map(|(index, _)| (index, conversation_ids[index].clone()))
            .collect();
        let count = sends / clients;
        let acknowledged = Arc::clone(&acknowledged);
        tasks.push(tokio::spawn(async move {
            let mut token = login(port, user).await;
            let mut sent = Vec::new();
            for n in 0..count {
                let (index, conversation) = &mine[n % mine.len()];
                let client_id = format!("{user}-{n}");
                let attachment = if n % 10 == 9 {
                    Some(upload_until_acknowledged(port, user, &mut token, conversation, &photo(n)).await)
                } else {
                    None
                };
                let (uuid, how) =
                    send_until_acknowledged(port, user, &mut token, conversation, &client_id, attachment.as_deref())
                        .await;
                acknowledged.fetch_add(1, Ordering::Relaxed);
                sent.push(((*index, uuid, client_id, attachment.map(|id| (id, n))), how));
            }
            sent
        }));
    }

    // The killer: SIGKILL at random moments, restart, repeat until the clients are done.
    let mut kills = 0;
    let mut seed = u64::from(port) ^ 0x9E37_79B9_7F4A_7C15;
    let all_done = async {
        let mut results = Vec::new();
        for task in tasks {
            results.extend(task.await.expect("client task"));
        }
        done.store(true, Ordering::Relaxed);
        results
    };
    tokio::pin!(all_done);
    let results = loop {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pause = Duration::from_millis(15 + (seed >> 33) % 150);
        tokio::select! {
            results = &mut all_done => break results,
            () = tokio::time::sleep(pause) => {
                server.kill();
                kills += 1;
                server.start();
                server.wait_ready().await;
            }
        }
    };
    assert!(done.load(Ordering::Relaxed));
    let (results, answers): (Vec<Sent>, Vec<Acknowledgement>) = results.into_iter().unzip();

    // Check every conversation as each of its participants sees it.
    let mut checked = 0;
    let mut attachments_checked = 0;
    for (index, conversation) in conversation_ids.iter().enumerate() {
        let (buyer, seller, _) = CONVERSATIONS[index];
        let token = login(port, buyer).await;
        let mut messages: Vec<Value> = Vec::new();
        loop {
            let after = messages.last().and_then(|m| m["seq"].as_u64()).unwrap_or(0);
            let path = format!("/api/v1/chat/conversations/{conversation}/messages?after={after}&limit=100");
            let (status, page) = http(port, "GET", &path, Some(&token), None).await.expect("history");
            assert_eq!(status, 200, "{page}");
            let rows = page["data"].as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                break;
            }
            messages.extend(rows);
        }
        let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
        assert_eq!(
            seqs,
            (1..=messages.len() as u64).collect::<Vec<_>>(),
            "seq dense in conversation {index}"
        );
        let stored: HashMap<&str, &Value> = messages.iter().filter_map(|m| Some((m["uuid"].as_str()?, m))).collect();
        let mine: Vec<&Sent> = results.iter().filter(|(i, _, _, _)| *i == index).collect();
        assert_eq!(
            messages.len(),
            mine.len(),
            "conversation {index}: every acknowledged send stored exactly once"
        );
        let mut client_ids = HashSet::new();
        for (_, uuid, client_id, attachment) in &mine {
            let message = stored
                .get(uuid.as_str())
                .unwrap_or_else(|| panic!("acknowledged message {uuid} lost"));
            assert_eq!(message["client_message_id"].as_str(), Some(client_id.as_str()));
            let files = message["attachments"].as_array().cloned().unwrap_or_default();
            match attachment {
                Some((id, n)) => {
                    assert_eq!(files.len(), 1, "message {uuid} keeps its attachment");
                    assert_eq!(files[0]["uuid"].as_str(), Some(id.as_str()));
                    let url = files[0]["url"].as_str().expect("url");
                    let (status, bytes) = http_raw(port, "GET", url, Some(&token), None).await.expect("download");
                    assert_eq!(status, 200, "attachment {id} downloads");
                    assert!(bytes == photo(*n), "attachment {id} is whole");
                    attachments_checked += 1;
                }
                None => assert!(files.is_empty(), "message {uuid} has no attachment"),
            }
            assert!(
                client_ids.insert(client_id.clone()),
                "client id {client_id} stored twice"
            );
            checked += 1;
        }
        for user in [buyer, seller] {
            let token = login(port, user).await;
            let (_, view) = http(
                port,
                "GET",
                &format!("/api/v1/chat/conversations/{conversation}"),
                Some(&token),
                None,
            )
            .await
            .expect("conversation");
            let me = view["data"]["participants"]
                .as_array()
                .and_then(|all| all.iter().find(|p| p["uuid"] == user))
                .cloned()
                .expect("participant");
            let read = me["pivot"]["last_read_seq"].as_u64().expect("last_read_seq");
            let unread = messages
                .iter()
                .filter(|m| m["seq"].as_u64().is_some_and(|seq| seq > read) && m["sender"]["uuid"] != user)
                .count() as u64;
            assert_eq!(
                view["data"]["unread_count"].as_u64(),
                Some(unread),
                "unread count of {user} in {index}"
            );
            let newest = messages.last().and_then(|m| m["body"].as_str());
            assert_eq!(view["data"]["last_message_text"].as_str(), newest, "preview of {index}");
        }
    }
    let list_token = login(port, "seller-ines").await;
    let (_, inbox) = http(
        port,
        "GET",
        "/api/v1/chat/conversations?limit=100",
        Some(&list_token),
        None,
    )
    .await
    .expect("inbox");
    assert_eq!(
        inbox["data"].as_array().map(Vec::len),
        Some(2),
        "no conversation duplicated"
    );
    let retried = answers.iter().filter(|how| how.tries > 1).count();
    let already_sent = answers.iter().filter(|how| how.already_sent).count();
    let share = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    eprintln!(
        "crash with retries ({store}): {} sends acknowledged, {checked} messages checked ({attachments_checked} \
         with a photo, each downloaded whole), {kills} SIGKILLs, 0 lost; {retried} sends retried, {already_sent} \
         of them answered 200 \"already sent\" ({:.1}% of the retried sends: the kill landed between the \
         commit and the answer)",
        acknowledged.load(Ordering::Relaxed),
        share(already_sent, retried)
    );
    assert!(
        kills > 0 || sends < 50,
        "the test must have crashed the server at least once"
    );
    // The one case where retrying with the same client_message_id matters: the send was
    // stored and its answer lost. A full run must have seen it, or it proved nothing of it.
    assert!(
        already_sent > 0 || sends < FULL_RUN,
        "no retry was answered 200 in {sends} sends ({retried} retried, {kills} SIGKILLs): no kill landed \
         between a commit and its answer, so the retry key was never exercised"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_crash_with_retries_loses_nothing() {
    crash_while_sending("sled", "sled", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_crash_with_retries_loses_nothing() {
    crash_while_sending("redb", "redb", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_with_retries_loses_nothing() {
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set DATABASE_URL: the Postgres tests may not skip there"
        );
        chat_core::testing::say_loudly(
            "SKIPPED: DATABASE_URL not set, the Postgres crash-with-retries test did not run",
        );
        return;
    };
    let schema = format!("crash_{}", uuid::Uuid::now_v7().simple());
    crash_while_sending("Postgres", "sled", Some((url.clone(), schema.clone()))).await;
    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await;
    }
}
