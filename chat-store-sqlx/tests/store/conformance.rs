//! The whole conformance suite and the model-based property test on PgStore, each test in a
//! schema of its own against the real server (`DATABASE_URL`).

use crate::common;

chat_core::conformance_tests!(common::conformance_store());
