//! chat-bus-redis's integration tests, one test binary, against a real Redis (`REDIS_URL`;
//! skipped loudly without it, a failure in CI): the shared bus suite of chat-core, the
//! subscriptions a node holds and the resync cases, a restart of (and `CLIENT KILL` on) a
//! private `redis-server` in the middle of a stream, and live delivery end to end over two
//! server nodes.
//!
//! Every test uses a key prefix of its own (or a private server), so they run in parallel.
//!
//! ```text
//! cargo test -p chat-bus-redis --test bus                 # all of them
//! cargo test -p chat-bus-redis --test bus restart::       # one module
//! ```

mod common;
mod live_delivery;
mod restart;
mod subscriptions;
mod suite;

/// The crate's modules never import each other in a cycle.
#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}
