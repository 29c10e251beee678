//! chat-store-sqlx's integration tests, one test binary, all against the real server
//! (`DATABASE_URL`; skipped loudly without it, a failure in CI): the conformance suite and
//! the model-based property test, recovery from dropped connections, migrations beside a
//! host's own, search and Store edge cases (also on the reference store), a pool defaulting
//! to REPEATABLE READ, two nodes on one database, and a notification worker SIGKILLed
//! mid-batch.
//!
//! Every test works in a schema (or a database) of its own and touches only its own
//! connections, so they run in parallel in this one process.
//!
//! ```text
//! cargo test -p chat-store-sqlx --test store                 # all of them
//! cargo test -p chat-store-sqlx --test store two_nodes::     # one module
//! ```

mod common;
mod conformance;
mod connection_loss;
mod member_state_migration;
mod migrations;
mod search;
mod store_edges;
mod strict_isolation;
mod two_nodes;
mod worker_kill;

/// The crate's modules never import each other in a cycle.
#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}
