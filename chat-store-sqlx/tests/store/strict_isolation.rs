//! PgStore on a pool whose connections default to REPEATABLE READ (a host's setting the
//! store cannot change): sends run in READ COMMITTED all the same, so concurrent senders,
//! retry keys and removals behave exactly as on a default server. Without the store's
//! fallback, `append_message` refuses to run outside READ COMMITTED and every send fails.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chat_core::Store;
use chat_core::testing::TestStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common;

async fn repeatable_read_store() -> Option<TestStore> {
    let url = common::database_url()?;
    let options = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL parses")
        .options([("default_transaction_isolation", r"repeatable\ read")]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await
        .expect("connect to DATABASE_URL");
    let isolation: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(&pool)
        .await
        .expect("SHOW transaction_isolation");
    assert_eq!(isolation, "repeatable read", "the connections' default took effect");
    let (store, schema) = common::migrated_store_on(&url, pool).await;
    Some(TestStore::guarded(Arc::new(store) as Arc<dyn Store>, schema))
}

chat_core::conformance_tests!(@cases repeatable_read_store();
    seq_is_dense_under_16_concurrent_senders,
    repeated_client_message_id_returns_the_stored_message,
    unread_counts_follow_sends_and_reads,
    removed_member_cannot_slip_a_message_in,
    non_participants_get_not_found_and_no_events,
);
