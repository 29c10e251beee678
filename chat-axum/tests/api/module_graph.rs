//! The crate's modules depend on each other one way (the shared check of
//! `chat_core::testing::module_graph`).

#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    chat_core::testing::module_graph::assert_no_import_cycles(env!("CARGO_MANIFEST_DIR"));
}
