//! The in-memory reference store passes the whole conformance suite.

use std::sync::Arc;

use chat_core::Store;
use chat_core::testing::MemoryStore;

chat_core::conformance_tests!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });

/// Two workers over one store never deliver a notification twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_one_memory_outbox() {
    let store = Arc::new(MemoryStore::new()) as Arc<dyn Store>;
    chat_core::testing::conformance::notifications::two_workers_share_the_outbox(store.clone(), store, 200).await;
}

/// The kernel's own suite over the memory engine.
mod kernel {
    chat_core::kernel_tests!(async { chat_core::kernel::MemoryEngine::new() });
}

/// The crate's modules never import each other in a cycle.
#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}
