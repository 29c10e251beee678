//! SledStore's integration tests, one test binary: the conformance suite in both durability
//! modes, group commit and its fdatasync (under strace), opening and reopening, recovery
//! from the write-ahead log, the SIGKILL crash test and the (ignored) scale check.
//!
//! ```text
//! cargo test -p chat-store-sled --test store                 # all of them
//! cargo test -p chat-store-sled --test store crash::         # one module
//! ```

mod common;
mod conformance_durable;
mod conformance_relaxed;
mod group_commit;
mod open;
mod recovery;
mod reopen;
mod scale;
mod sync;

/// The storage kernel's own suite over a (temporary, Relaxed) sled engine.
mod kernel_suite {
    chat_core::kernel_tests!(async {
        chat_store_sled::SledStoreBuilder::new()
            .temporary()
            .durability(chat_store_sled::Durability::Relaxed)
            .open_engine()
            .expect("a temporary sled engine")
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
        crate::common::open_store(&dir).await.expect("open the sled store")
    });
}
