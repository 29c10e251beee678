//! The crash test of the embedded stores (feature `testing`): a child process (the calling
//! crate's test binary, re-run in child mode) sends messages to
//! several conversations from several senders, marks some read, deletes a few, and prints
//! reacts and marks delivered, and prints
//! every acknowledged operation; the parent kills it with SIGKILL at random moments,
//! reopens the database and checks that nothing acknowledged was lost and that every
//! invariant holds: seq dense, unread counts and previews consistent with the messages,
//! counters consistent with the inbox, no direct conversation duplicated, acknowledged
//! reactions and delivery watermarks kept, delivered never below read. The children also
//! upload attachments (to a local object store beside the database) and send them: after
//! each kill every attached file's bytes are there, and after a sweep the object store holds
//! exactly the files of messages that are not deleted, with no record left half-way. The
//! sends leave offline notifications (invariant 14): after each kill every participant with
//! unread messages has its pending notification, none without, and the outbox's due index
//! yields exactly those.
//!
//! `CHAT_CRASH_CYCLES` sets the number of kill/reopen cycles (default 20) and
//! `CHAT_CRASH_SEED` the random seed (printed, so a failure can be replayed).

//!
//! A store over the kernel runs it with one line in its tests (see [`crate::crash_tests!`]):
//!
//! ```ignore
//! mod crash {
//!     chat_core::crash_tests!(|dir| async move { my_store::open(&dir).await.expect("open") });
//! }
//! ```

use crate::store::ConversationStore;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::backend::InboxCursor;
use crate::kernel::{KvEngine, KvStore};
use crate::model::LastMessage;
use crate::store::{HistoryQuery, InboxQuery, NewDirect, NewGroup, NewMessage, ReactionChange, ReadUpTo};
use crate::testing::fixtures::sample_png;
use crate::{
    ArchiveFilter, ChatError, ConversationId, ConversationKind, ConversationRecord, Identity, Message, MessageId, Tag,
    TenantId, UserId,
};
use crate::{Attachment, AttachmentId, ChatServices, InMemoryDirectory, Limits};
use object_store::ObjectStoreExt;

const USERS: usize = 4;
const CHILD_DIR: &str = "CHAT_CRASH_CHILD_DIR";
const CHILD_RUN: &str = "CHAT_CRASH_CHILD_RUN";
const CHILD_GROUP: &str = "CHAT_CRASH_CHILD_GROUP";
const SENDER_TASKS: u64 = 6;
/// The children send with offline notifications on: each send leaves its recipients'
/// outbox rows in its own transaction, so a kill between the send and the notification
/// loses none.
const NOTIFY_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Each sender task reacts with its own emoji, so that no two tasks race on one reaction.
const TASK_EMOJI: [&str; SENDER_TASKS as usize] = ["👍", "❤️", "🎉", "😂", "😮", "🙏"];

fn user(n: usize) -> UserId {
    UserId::new(format!("u{n}")).expect("user id")
}

fn tenant() -> TenantId {
    TenantId::new("crash").expect("tenant id")
}

/// User `n` of the crash tenant, as the caller of a store operation.
fn caller(n: usize) -> Identity {
    Identity::new(tenant(), user(n))
}

/// The direct conversations the child finds or creates: pairs, and one pair with a tag.
fn direct_keys() -> Vec<(usize, usize, Option<i64>)> {
    vec![
        (0, 1, None),
        (0, 2, None),
        (1, 2, None),
        (2, 3, None),
        (0, 3, None),
        (1, 3, None),
        (0, 1, Some(7)),
    ]
}

fn direct_key_name(key: &(usize, usize, Option<i64>)) -> String {
    format!("{}-{}-{:?}", key.0, key.1, key.2)
}

/// The object store of the attachments, beside the database (sled ignores other files).
fn objects(dir: &std::path::Path) -> Arc<object_store::local::LocalFileSystem> {
    let path = dir.join("objects");
    std::fs::create_dir_all(&path).expect("objects directory");
    Arc::new(object_store::local::LocalFileSystem::new_with_prefix(path).expect("local object store"))
}

/// Services over `store` with attachments in `dir`'s object store, and these limits.
fn services<E: KvEngine>(store: &KvStore<E>, dir: &std::path::Path, limits: Limits) -> ChatServices {
    ChatServices::new(Arc::new(store.clone()), Arc::new(InMemoryDirectory::new()))
        .with_limits(limits)
        .with_attachments(objects(dir))
}

/// xorshift64*: small, deterministic, good enough to pick moments and targets.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Prints one complete line with a single write, ending in " ." so that the parent can
/// tell it from a line cut short.
fn report(line: String) {
    let mut out = std::io::stdout().lock();
    let line = format!("{line} .\n");
    out.write_all(line.as_bytes()).expect("stdout");
    out.flush().expect("stdout");
}

/// The child: runs only when the parent set `CHAT_CRASH_CHILD_DIR` (a no-op otherwise, as
/// under `cargo test -- --include-ignored`).
/// Opens the store in that directory with `open` and writes until it is killed, printing
/// every acknowledged operation. [`crate::crash_tests!`] calls it from the
/// `crash_child_writer` test it generates.
pub fn child<E, F, Fut>(open: F)
where
    E: KvEngine,
    F: FnOnce(PathBuf) -> Fut,
    Fut: std::future::Future<Output = KvStore<E>>,
{
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let run: u64 = std::env::var(CHILD_RUN)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("run number");
    let group: ConversationId = std::env::var(CHILD_GROUP)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("group id");
    // The test harness has printed "test crash::crash_child_writer ... " without a newline.
    std::io::stdout().write_all(b"\n").expect("stdout");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = std::path::PathBuf::from(dir);
        let store = open(dir.clone()).await;
        // No hourly upload budget: the children upload as fast as they can.
        let limits = Limits {
            uploads_per_hour: 0,
            ..Limits::default()
        };
        let services = services(&store, &dir, limits);
        report("OPEN".to_owned());
        let mut conversations: Vec<(ConversationId, Vec<usize>)> = vec![(group, (0..USERS).collect())];
        for key in direct_keys() {
            // Alternate who asks, so that symmetry is exercised across restarts.
            let (creator, counterpart) = if run % 2 == 0 { (key.0, key.1) } else { (key.1, key.0) };
            let (record, created) = store
                .find_or_create_direct(
                    &caller(creator),
                    NewDirect {
                        counterpart: user(counterpart),
                        tag: key.2.map(|id| Tag::new("Order", id).expect("tag")),
                        metadata: Default::default(),
                    },
                )
                .await
                .expect("find or create");
            report(format!(
                "CONV {} {} {created}",
                direct_key_name(&key),
                record.conversation.id
            ));
            conversations.push((record.conversation.id, vec![key.0, key.1]));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tasks = Vec::new();
        for task in 0..SENDER_TASKS {
            let store = store.clone();
            let services = services.clone();
            let conversations = conversations.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new((run + 1) * 7919 + task * 104_729);
                let mut mine: Vec<(ConversationId, usize, MessageId, String)> = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let (conversation, members) = &conversations[rng.below(conversations.len() as u64) as usize];
                    let sender = members[rng.below(members.len() as u64) as usize];
                    let roll = rng.below(20);
                    if roll == 0 && !mine.is_empty() {
                        // Repeat an earlier client_message_id: must return the same message.
                        let (conversation, sender, id, cmid) = mine[rng.below(mine.len() as u64) as usize].clone();
                        let appended = store
                            .append_message(
                                &caller(sender),
                                NewMessage {
                                    notify_after: Some(NOTIFY_AFTER),
                                    attachments: Vec::new(),
                                    conversation_id: conversation,
                                    body: "a repeat".to_owned(),
                                    client_message_id: Some(cmid),
                                    reply_to: None,
                                    metadata: Default::default(),
                                },
                            )
                            .await
                            .expect("repeat");
                        assert!(
                            !appended.created && appended.message.id == id,
                            "a repeat returns the original"
                        );
                    } else if roll == 1 && !mine.is_empty() {
                        let (conversation, sender, id, _) = mine[rng.below(mine.len() as u64) as usize].clone();
                        store
                            .delete_message(&caller(sender), conversation, id)
                            .await
                            .expect("delete");
                        report(format!("DEL {conversation} {id}"));
                    } else if roll == 2 && !mine.is_empty() {
                        let (conversation, _, id, _) = mine[rng.below(mine.len() as u64) as usize].clone();
                        let members = &conversations.iter().find(|(c, _)| *c == conversation).expect("known").1;
                        let reactor = members[rng.below(members.len() as u64) as usize];
                        let emoji = TASK_EMOJI[task as usize];
                        let change = ReactionChange {
                            conversation,
                            message: id,
                            emoji: emoji.to_owned(),
                            present: true,
                            max_distinct: 20,
                        };
                        match store.set_reaction(&caller(reactor), change).await {
                            Ok(_) => report(format!("REACT {conversation} {id} {reactor} {emoji}")),
                            Err(ChatError::Conflict { .. }) => {} // deleted meanwhile
                            Err(error) => panic!("react: {error}"),
                        }
                    } else if roll == 3 {
                        let recipient = members[rng.below(members.len() as u64) as usize];
                        let (record, _) = store
                            .mark_delivered(&caller(recipient), *conversation, ReadUpTo::Newest)
                            .await
                            .expect("mark delivered");
                        let seq = record.participant(&user(recipient)).map_or(0, |p| p.last_delivered_seq);
                        report(format!("DELIV {conversation} {recipient} {seq}"));
                    } else if roll == 4 {
                        // Upload a photo (streamed in parts, a window for the kill) and send it.
                        n += 1;
                        let cmid = format!("r{run}-t{task}-{n}");
                        let mut photo = sample_png(64, 48);
                        photo.resize(96 * 1024, 7);
                        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = photo
                            .chunks(8 * 1024)
                            .map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk)))
                            .collect();
                        let uploaded = services
                            .attachments()
                            .upload(
                                &caller(sender),
                                *conversation,
                                "photo.png",
                                futures_util::stream::iter(chunks),
                            )
                            .await
                            .expect("upload");
                        let appended = store
                            .append_message(
                                &caller(sender),
                                NewMessage {
                                    notify_after: Some(NOTIFY_AFTER),
                                    attachments: vec![uploaded.id],
                                    conversation_id: *conversation,
                                    body: format!("body {cmid}"),
                                    client_message_id: Some(cmid.clone()),
                                    reply_to: None,
                                    metadata: Default::default(),
                                },
                            )
                            .await
                            .expect("send with an attachment");
                        let message = appended.message;
                        report(format!(
                            "ATT {conversation} {} {} {sender} {cmid} {}",
                            message.seq, message.id, uploaded.id
                        ));
                        mine.push((*conversation, sender, message.id, cmid));
                    } else if roll < 6 {
                        let reader = members[rng.below(members.len() as u64) as usize];
                        let (record, _) = store
                            .mark_read(&caller(reader), *conversation, ReadUpTo::Newest)
                            .await
                            .expect("mark read");
                        let seq = record.participant(&user(reader)).map_or(0, |p| p.last_read_seq);
                        report(format!("READ {conversation} {reader} {seq}"));
                    } else {
                        n += 1;
                        let cmid = format!("r{run}-t{task}-{n}");
                        let appended = store
                            .append_message(
                                &caller(sender),
                                NewMessage {
                                    notify_after: Some(NOTIFY_AFTER),
                                    attachments: Vec::new(),
                                    conversation_id: *conversation,
                                    body: format!("body {cmid}"),
                                    client_message_id: Some(cmid.clone()),
                                    reply_to: None,
                                    metadata: Default::default(),
                                },
                            )
                            .await
                            .expect("send");
                        let message = appended.message;
                        report(format!(
                            "ACK {conversation} {} {} {sender} {cmid}",
                            message.seq, message.id
                        ));
                        mine.push((*conversation, sender, message.id, cmid));
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("sender task");
        }
    });
}

mod verify;

use verify::{Acknowledged, verify};

/// The child's test by its path inside the test binary, which `--exact` matches: the
/// path of the module that invoked [`crate::crash_tests!`] without the crate name
/// (`crash::crash_child_writer`).
fn child_test_name(module: &str) -> String {
    match module.split_once("::") {
        Some((_crate, module)) => format!("{module}::crash_child_writer"),
        None => "crash_child_writer".to_owned(),
    }
}

fn spawn_child(module: &str, dir: &std::path::Path, run: u64, group: ConversationId) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            child_test_name(module).as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_RUN, run.to_string())
        .env(CHILD_GROUP, group.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child writer")
}

/// The parent: `CHAT_CRASH_CYCLES` times, runs the child over `dir`, kills it with SIGKILL
/// at a random moment, reopens the store with `open` and checks that every acknowledged
/// write is there and every invariant holds (`verify.rs`). `module` is the path of the
/// module holding the child's test (`module_path!()` there). [`crate::crash_tests!`] calls
/// it from the test it generates.
pub fn parent<E, F, Fut>(module: &str, dir: &std::path::Path, open: F)
where
    E: KvEngine,
    F: Fn(PathBuf) -> Fut,
    Fut: std::future::Future<Output = KvStore<E>>,
{
    let cycles: u64 = std::env::var("CHAT_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("CHAT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash test: {cycles} cycles, CHAT_CRASH_SEED={seed}");
    let mut rng = Rng::new(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let group = runtime.block_on(async {
        let store = open(dir.to_path_buf()).await;
        store
            .create_group(
                &caller(0),
                NewGroup {
                    members: (1..USERS).map(user).collect(),
                    title: "crash group".to_owned(),
                    tag: None,
                    metadata: Default::default(),
                },
            )
            .await
            .expect("group")
            .conversation
            .id
    });

    let mut acked = Acknowledged::default();
    let mut early_kills = 0;
    let mut killed_before_open = 0;
    let mut per_cycle = Vec::new();
    let started = Instant::now();
    for run in 0..cycles {
        let mut child = spawn_child(module, dir, run, group);
        let stdout = child.stdout.take().expect("child stdout");
        let stderr = child.stderr.take().expect("child stderr");
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            text
        });
        let mut lines = Vec::new();
        if rng.below(4) == 0 {
            // Kill while the child starts, opens or recovers the database.
            early_kills += 1;
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        } else {
            // Kill while it writes: after its first acknowledgement, at a random moment.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match lines_rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => {
                        let ack = line.starts_with("ACK ");
                        lines.push(line);
                        if ack {
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Ok(Some(status)) = child.try_wait() {
                            panic!(
                                "the child exited early ({status}): {}",
                                errors.join().unwrap_or_default()
                            );
                        }
                        assert!(Instant::now() < deadline, "the child never acknowledged a send");
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        panic!("the child closed its output: {}", errors.join().unwrap_or_default())
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(rng.below(250)));
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("wait for the child");
        assert!(!status.success(), "the child must die by the signal");
        reader.join().expect("reader thread");
        lines.extend(lines_rx.try_iter());
        let stderr_text = errors.join().unwrap_or_default();
        if !lines.iter().any(|line| line == "OPEN .") {
            killed_before_open += 1;
        }
        let before = acked.messages.len();
        for line in &lines {
            if !acked.take(line) && !line.is_empty() && !line.starts_with("running") && !line.starts_with("test ") {
                // Test-harness chatter or a line cut short by the kill.
                eprintln!("(ignored child line: {line:?})");
            }
        }
        assert!(
            !stderr_text.contains("panicked"),
            "the child panicked before being killed:\n{stderr_text}"
        );
        let stored = runtime.block_on(async {
            let store = open(dir.to_path_buf()).await;
            verify(&store, dir, group, &acked).await
        });
        per_cycle.push((acked.messages.len() - before, stored));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "crash test: {cycles} SIGKILLs ({early_kills} aimed at start-up, {killed_before_open} before the store \
         was open), {} acknowledged sends, {} reads, {} deletes, {} reactions, {} mark-delivered calls, all \
         present; {} messages stored; {:.1}s",
        acked.messages.len(),
        acked.read_calls,
        acked.deleted.len(),
        acked.reactions.len(),
        acked.delivery_calls,
        per_cycle.last().map_or(0, |c| c.1),
        elapsed.as_secs_f64()
    );
    eprintln!(
        "crash test: {} acknowledged sends with an attachment, every file present",
        acked.attached.len()
    );
    eprintln!("crash test: (acknowledged in cycle, stored after it): {per_cycle:?}");
    assert!(
        !acked.messages.is_empty(),
        "the children must have acknowledged some sends"
    );
}

/// Generates the crash test (`acknowledged_writes_survive_sigkill_at_random_moments`) and
/// its child (`crash_child_writer`) over the kernel store the given closure opens in a
/// directory (`|dir: PathBuf| async move { ... }`, returning a `KvStore`). Invoke it in a
/// module of its own; the calling crate needs `tempfile` as a dev-dependency. Unix only
/// (the parent kills its child with SIGKILL).
#[macro_export]
macro_rules! crash_tests {
    ($open:expr) => {
        /// The crash test's child, run only as the child process of
        /// `acknowledged_writes_survive_sigkill_at_random_moments` (which starts this
        /// binary with `--ignored --exact`): ignored in ordinary runs, a no-op under
        /// `--include-ignored` without the parent's directory.
        #[test]
        #[ignore = "child process only: acknowledged_writes_survive_sigkill_at_random_moments runs it"]
        fn crash_child_writer() {
            $crate::testing::crash::child($open);
        }

        /// Acknowledged writes survive SIGKILL at random moments (`CHAT_CRASH_CYCLES`,
        /// `CHAT_CRASH_SEED`).
        #[test]
        fn acknowledged_writes_survive_sigkill_at_random_moments() {
            let dir = ::tempfile::tempdir().expect("temporary directory");
            $crate::testing::crash::parent(module_path!(), dir.path(), $open);
        }
    };
}
