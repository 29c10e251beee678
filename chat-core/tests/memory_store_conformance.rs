//! The in-memory reference store passes the whole conformance suite.

use std::sync::Arc;

use chat_core::Store;
use chat_core::testing::MemoryStore;

chat_core::conformance_tests!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
