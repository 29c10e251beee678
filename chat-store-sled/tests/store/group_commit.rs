//! Group commit: in durable mode every write waits for a synced write of the write-ahead
//! log, and concurrent writers share those instead of issuing one each.

use std::sync::Arc;
use std::time::Instant;

use chat_core::Store;
use chat_core::testing::Fixture;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_durable_sends_share_log_syncs() {
    let dir = common::open_durable().await;
    let store = dir.store.clone();
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
    let conversation = fx.group(0, &[1, 2, 3]).await;

    // One writer at a time: one log write and sync per write.
    let start = store.commit_stats();
    let syncs_at_start = store.engine().log_stats().syncs;
    let clock = Instant::now();
    const SEQUENTIAL: u64 = 20;
    for n in 0..SEQUENTIAL {
        fx.send((n % 4) as usize, conversation, "one at a time").await;
    }
    let sequential_time = clock.elapsed();
    let sequential = store.commit_stats();
    assert_eq!(sequential.writes - start.writes, SEQUENTIAL);
    assert_eq!(
        sequential.groups - start.groups,
        SEQUENTIAL,
        "a lone writer needs its own group"
    );

    // Many writers at once: they share.
    const TASKS: usize = 32;
    const EACH: usize = 8;
    let clock = Instant::now();
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
    let concurrent_time = clock.elapsed();
    let concurrent = store.commit_stats();
    let writes = concurrent.writes - sequential.writes;
    let groups = concurrent.groups - sequential.groups;
    eprintln!(
        "group commit: {SEQUENTIAL} sequential sends: {SEQUENTIAL} groups in {sequential_time:?}; \
         {writes} concurrent sends ({TASKS} tasks): {groups} groups in {concurrent_time:?}"
    );
    assert_eq!(writes, (TASKS * EACH) as u64);
    assert_eq!(
        store.engine().log_stats().syncs - syncs_at_start,
        concurrent.groups - start.groups,
        "every group is one synced write of the log"
    );
    // How many share a group depends on how long the sync takes against a transaction
    // (sled runs those one at a time); fewer groups than writes shows that they share.
    assert!(
        groups < writes,
        "concurrent writers must share groups: {groups} groups for {writes} writes"
    );
}
