//! Invariant 14 when a node dies: a worker in a child process (this test binary, re-run in
//! child mode) claims a batch of due notifications and is SIGKILLed inside its notifier
//! call. The parent's worker then delivers every other notification at once, none of the
//! dead worker's (they are leased to it), and those too once the lease ends: every
//! notification exactly once, none lost.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::testing::fixtures::Fixture;
use chat_core::{
    ChatServices, InMemoryDirectory, Limits, Notification, NotificationId, NotificationWorker, Notifier, NotifyError,
    TenantId,
};
use chat_store_sqlx::PgStore;

use crate::common;

const CHILD_SCHEMA: &str = "CHAT_WORKER_KILL_SCHEMA";
const CHILD_TENANT: &str = "CHAT_WORKER_KILL_TENANT";
const DUE: usize = 200;
const CHILD_BATCH: usize = 50;
/// Long enough for the parent to drain everything else before it ends, on a loaded machine.
const LEASE: Duration = Duration::from_secs(15);

/// The dying worker's notifier: prints the ids it was handed, then never returns.
struct Hangs;

#[async_trait]
impl Notifier for Hangs {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        let ids: Vec<String> = batch.iter().map(|notification| notification.id.to_string()).collect();
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "HELD {} .", ids.join(","));
            let _ = out.flush();
        }
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// The dying worker, run only as the child of `a_worker_killed_mid_batch_loses_no_notification`
/// (which starts this binary with `--ignored --exact`): ignored in ordinary runs, a no-op
/// under `--include-ignored` without the parent's schema.
#[test]
#[ignore = "child process only: a_worker_killed_mid_batch_loses_no_notification runs it"]
fn worker_kill_child() {
    let Ok(schema) = std::env::var(CHILD_SCHEMA) else {
        return;
    };
    let tenant = TenantId::new(std::env::var(CHILD_TENANT).expect("tenant")).expect("tenant id");
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = PgStore::builder()
            .schema(schema.as_str())
            .build(common::pool(&url, 2).await)
            .await
            .expect("store");
        let services = ChatServices::new(Arc::new(store), Arc::new(InMemoryDirectory::new()));
        let worker = NotificationWorker::new(services, Arc::new(Hangs))
            .for_tenant(tenant)
            .with_batch_size(CHILD_BATCH)
            .with_lease(LEASE)
            .with_notify_timeout(Duration::from_secs(3600));
        let _ = worker.run_once().await;
    });
}

/// Notification ids handed over, in order.
#[derive(Default)]
struct Recording(Mutex<Vec<NotificationId>>);

#[async_trait]
impl Notifier for Recording {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(batch.iter().map(|notification| notification.id));
        Ok(())
    }
}

impl Recording {
    fn take(&self) -> Vec<NotificationId> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

async fn drain(worker: &NotificationWorker) {
    while worker.run_once().await.expect("a round").claimed > 0 {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_no_notification() {
    let Some(url) = common::database_url() else { return };
    let (store, schema) = common::migrated_store(&url, 8).await;
    let mut limits = Limits::default();
    limits.conversations_started_per_hour = 0;
    let mut fx = Fixture::with_limits(Arc::new(store), DUE + 1, limits);
    fx.services = fx.services.clone().with_notifications(Duration::ZERO);
    for recipient in 1..=DUE {
        let conversation = fx.direct(0, recipient).await;
        fx.send(0, conversation, "a new offer").await;
    }

    let module = module_path!().split_once("::").map_or("", |(_crate, module)| module);
    // The lease starts at the child's claim, after this moment: measured from here, the
    // first drain is surely inside it.
    let spawned_at = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            format!("{module}::worker_kill_child").as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SCHEMA, schema.name())
        .env(CHILD_TENANT, fx.tenant.as_str())
        .env("DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child worker");
    let stdout = child.stdout.take().expect("child stdout");
    let held_line = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).find_map(|line| {
            line.split_once("HELD ")
                .map(|(_, ids)| ids.trim_end_matches(" .").to_owned())
        })
    })
    .join()
    .expect("reader");
    let held_at = Instant::now();
    child.kill().expect("SIGKILL the child worker");
    let _ = child.wait();
    let held: BTreeSet<String> = held_line
        .expect("the child worker called its notifier")
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(held.len(), CHILD_BATCH, "the child held a full batch when it died");

    let notifier = Arc::new(Recording::default());
    let worker = NotificationWorker::new(fx.services.clone(), notifier.clone())
        .for_tenant(fx.tenant.clone())
        .with_batch_size(64);
    drain(&worker).await;
    let first: Vec<String> = notifier.take().iter().map(ToString::to_string).collect();
    assert!(spawned_at.elapsed() < LEASE, "the first drain ran within the lease");
    assert_eq!(
        first.len(),
        DUE - CHILD_BATCH,
        "everything but the dead worker's leased claims"
    );
    assert!(
        first.iter().all(|id| !held.contains(id)),
        "a leased claim is not taken early"
    );
    tokio::time::sleep(LEASE.saturating_sub(held_at.elapsed()) + Duration::from_millis(300)).await;
    drain(&worker).await;
    let second: Vec<String> = notifier.take().iter().map(ToString::to_string).collect();

    let all: Vec<&String> = first.iter().chain(&second).collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), DUE, "every due notification handed over once");
    assert_eq!(distinct.len(), DUE, "no id twice");
    assert!(
        held.iter().all(|id| distinct.contains(id)),
        "the dead worker's claims came back"
    );
    drop(schema);
}
