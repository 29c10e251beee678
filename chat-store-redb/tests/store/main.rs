//! RedbStore's integration tests, one test binary: the chat-core conformance suite over a
//! temporary redb store, and the engine's own contract (durable commits that survive a
//! reopen, range scans, snapshots, the table and the file lock).
//!
//! ```text
//! cargo test -p chat-store-redb --test store            # all of them
//! cargo test -p chat-store-redb --test store engine::   # the engine's
//! ```

mod engine;

use std::sync::Arc;

use chat_core::Store;

chat_core::conformance_tests!(async {
    Arc::new(chat_store_redb::temporary().await.expect("open a temporary redb store")) as Arc<dyn Store>
});

/// The storage kernel's own suite over a redb engine in a temporary file.
mod kernel_suite {
    chat_core::kernel_tests!(async {
        chat_store_redb::RedbStoreBuilder::new()
            .temporary()
            .open_engine()
            .expect("a temporary redb engine")
    });
}

/// The crate's modules never import each other in a cycle.
#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}

/// The crash test (chat-core's shared harness): SIGKILL at random moments, nothing
/// acknowledged lost (`CHAT_CRASH_CYCLES`, `CHAT_CRASH_SEED`).
#[cfg(unix)]
mod crash {
    chat_core::crash_tests!(|dir: std::path::PathBuf| async move {
        chat_store_redb::open(dir.join("chat.redb"))
            .await
            .expect("open the redb store")
    });
}
