//! The sync reaches the kernel: a durable writer process run under `strace -f -c` makes at
//! least one `fdatasync` per group commit (and the store's counters agree). Skipped, with a
//! line on the terminal, only where `strace` is missing or may not trace (a probe of
//! `strace true` fails); `CHAT_REQUIRE_STRACE=1` makes that a failure instead. Once the
//! probe traced, a writer that fails (a panic, a refused durable send) fails the test.

use std::process::Command;
use std::sync::Arc;

use chat_core::Store;
use chat_core::testing::Fixture;

const CHILD_DIR: &str = "CHAT_SYNC_CHILD_DIR";
const SEQUENTIAL: usize = 50;
const TASKS: usize = 16;
const EACH: usize = 25;

/// The writer, run only as the child of [`every_group_commit_is_fdatasynced`] (which starts
/// this binary with `--ignored --exact sync::sync_child_writer`): ignored in ordinary runs,
/// and a no-op under `--include-ignored` without the parent's directory.
#[test]
#[ignore = "child process only: every_group_commit_is_fdatasynced runs it"]
fn sync_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = chat_store_sled::open(dir).await.expect("open the store in the child");
        let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
        let conversation = fx.group(0, &[1, 2, 3]).await;
        for n in 0..SEQUENTIAL {
            fx.send(n % 4, conversation, "one at a time").await;
        }
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let fx = fx.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..EACH {
                    fx.send(task % 4, conversation, "all together").await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("sender");
        }
        let stats = store.commit_stats();
        let syncs = store.engine().log_stats().syncs;
        println!("\nSTATS {} {} {}", stats.writes, stats.groups, syncs);
    });
}

/// The `calls` column of `syscall` in an `strace -c` summary (0 when absent).
fn calls(summary: &str, syscall: &str) -> u64 {
    summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.last() == Some(&syscall) && fields.len() >= 5).then(|| fields[3].parse().ok())?
        })
        .next()
        .unwrap_or(0)
}

/// Why strace cannot be used here, or `None` when it traces: missing, or refused by the
/// sandbox (ptrace not permitted). Probed on `true`, so that a failing writer is never
/// taken for a strace that cannot trace.
fn strace_unusable() -> Option<String> {
    match Command::new("strace")
        .args(["-f", "-c", "-o", "/dev/null", "true"])
        .output()
    {
        Err(error) => Some(format!("strace could not be started: {error}")),
        Ok(probe) if !probe.status.success() => Some(format!(
            "strace cannot trace here ({}): {}",
            probe.status,
            String::from_utf8_lossy(&probe.stderr).trim()
        )),
        Ok(_) => None,
    }
}

#[test]
fn every_group_commit_is_fdatasynced() {
    if let Some(why) = strace_unusable() {
        let required = std::env::var("CHAT_REQUIRE_STRACE").is_ok_and(|v| v == "1");
        assert!(!required, "CHAT_REQUIRE_STRACE=1 but {why}");
        chat_core::testing::say_loudly(&format!(
            "SKIPPED: sync::every_group_commit_is_fdatasynced did not run: {why}"
        ));
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let summary_path = dir.path().join("strace.txt");
    let data = dir.path().join("data");
    let exe = std::env::current_exe().expect("test binary");
    let output = Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync,sync_file_range", "-o"])
        .arg(&summary_path)
        .arg(exe)
        .args([
            "sync::sync_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, &data)
        .output()
        .expect("strace, which the probe just ran");
    // strace exits with the traced writer's status: a failure here is the writer's.
    assert!(
        output.status.success(),
        "the durable writer failed under strace ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stats: Vec<u64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("STATS "))
        .expect("the child's STATS line")
        .split_whitespace()
        .map(|field| field.parse().expect("a number"))
        .collect();
    let (writes, groups, syncs) = (stats[0], stats[1], stats[2]);
    let summary = std::fs::read_to_string(&summary_path).expect("strace summary");
    let fdatasync = calls(&summary, "fdatasync");
    let fsync = calls(&summary, "fsync");
    let sync_file_range = calls(&summary, "sync_file_range");
    eprintln!(
        "{writes} durable writes, {groups} groups, {syncs} syncs counted by the store; \
         strace: {fdatasync} fdatasync, {fsync} fsync, {sync_file_range} sync_file_range"
    );
    // The fixture's setup (a group) and every send.
    assert!(writes > (SEQUENTIAL + TASKS * EACH) as u64, "{writes} writes");
    assert_eq!(syncs, groups, "one sync per group");
    assert!(
        fdatasync >= groups,
        "every group must be fdatasynced: {fdatasync} fdatasync calls for {groups} groups"
    );
}
