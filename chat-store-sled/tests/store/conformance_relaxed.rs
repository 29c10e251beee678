//! The whole conformance suite and the model-based property test on `SledStore` in
//! relaxed mode over a temporary database (one fresh database per test).

use std::sync::Arc;

use chat_core::Store;

chat_core::conformance_tests!(async {
    Arc::new(chat_store_sled::temporary().await.expect("a temporary sled store")) as Arc<dyn Store>
});
