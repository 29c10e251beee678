//! The whole conformance suite and the model-based property test on `SledStore` in its
//! default, durable mode over a real directory: every write awaits its flush.

use std::sync::Arc;

use chat_core::Store;

use crate::common;

chat_core::conformance_tests!(async { Arc::new(common::open_durable().await) as Arc<dyn Store> });
