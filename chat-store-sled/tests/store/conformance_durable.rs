//! The whole conformance suite and the model-based property test on `SledStore` in its
//! default, durable mode over a real directory: every write awaits its flush.

use chat_core::testing::TestStore;

use crate::common;

chat_core::conformance_tests!(async { TestStore::from(common::open_durable().await) });
