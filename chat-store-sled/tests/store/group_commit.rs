//! Group commit: in durable mode every write waits for a flush, and concurrent writers
//! share flushes instead of issuing one each.

use std::sync::Arc;
use std::time::Instant;

use chat_core::Store;
use chat_core::testing::Fixture;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_durable_sends_share_flushes() {
    let dir = common::open_durable().await;
    let store = dir.store.clone();
    let fx = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 4);
    let conversation = fx.group(0, &[1, 2, 3]).await;

    // One writer at a time: one flush per write.
    let start = store.commit_stats();
    let clock = Instant::now();
    const SEQUENTIAL: u64 = 20;
    for n in 0..SEQUENTIAL {
        fx.send((n % 4) as usize, conversation, "one at a time").await;
    }
    let sequential_time = clock.elapsed();
    let sequential = store.commit_stats();
    assert_eq!(sequential.durable_writes - start.durable_writes, SEQUENTIAL);
    assert_eq!(
        sequential.flushes - start.flushes,
        SEQUENTIAL,
        "a lone writer needs its own flush"
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
    let writes = concurrent.durable_writes - sequential.durable_writes;
    let flushes = concurrent.flushes - sequential.flushes;
    eprintln!(
        "group commit: {SEQUENTIAL} sequential sends: {SEQUENTIAL} flushes in {sequential_time:?}; \
         {writes} concurrent sends ({TASKS} tasks): {flushes} flushes in {concurrent_time:?}"
    );
    assert_eq!(writes, (TASKS * EACH) as u64);
    assert_eq!(concurrent.syncs, concurrent.flushes, "every group is synced");
    assert!(
        flushes * 2 <= writes,
        "concurrent writers must share flushes: {flushes} flushes for {writes} writes"
    );
}
