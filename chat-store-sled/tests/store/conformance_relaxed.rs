//! The whole conformance suite and the model-based property test on `SledStore` in
//! relaxed mode over a temporary database (one fresh database per test).

use std::sync::Arc;

use chat_core::Store;
use chat_store_sled::SledStore;

chat_core::conformance_tests!(async {
    Arc::new(SledStore::temporary().await.expect("a temporary sled store")) as Arc<dyn Store>
});
