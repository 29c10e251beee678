//! A pool made by `PgStoreBuilder::connect` pings only connections idle for a minute, so a
//! connection the server dropped in between is found by the operation that uses it. That
//! operation fails with a typed backend error (never a panic, never a half write), the
//! connection is replaced, and the store goes on working. (With sqlx's default ping on
//! every acquire no operation would fail here: the test asserts that some do.)

use std::sync::Arc;

use chat_core::testing::fixtures::Fixture;
use chat_core::{ChatError, SendMessage, Store};
use chat_store_sqlx::PgStore;

use crate::common;

const POOL_SIZE: u32 = 4;

#[tokio::test]
async fn operations_recover_after_the_server_drops_every_pooled_connection() {
    let Some(url) = common::database_url() else { return };
    let schema = common::TestSchema::new(&url);
    let application = format!("chat_loss_{}", uuid::Uuid::now_v7().simple());
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = PgStore::builder()
        .schema(schema.name())
        .max_connections(POOL_SIZE)
        .run_migrations(true)
        .connect(&format!("{url}{separator}application_name={application}"))
        .await
        .expect("store");
    let fixture = Fixture::new(Arc::new(store.clone()) as Arc<dyn Store>, 2);
    let conversation = fixture.direct(0, 1).await;
    for index in 0..8 {
        fixture.send(0, conversation, &format!("before {index}")).await;
    }

    // Every connection back in the pool (sqlx pings a released connection in the
    // background), so that nothing but the next operations can notice the drop.
    let pool = store.pool();
    for _ in 0..200 {
        if pool.num_idle() == pool.size() as usize {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let admin = common::pool(&url, 1).await;
    let dropped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE application_name = $1) t",
    )
    .bind(&application)
    .fetch_one(&admin)
    .await
    .expect("terminating the pool's connections");
    assert!(dropped >= 1, "the pool had open connections to drop");

    let mut failures = 0;
    let mut acknowledged = Vec::new();
    for index in 0..(POOL_SIZE as usize + 4) {
        let body = format!("after {index}");
        match fixture
            .messages()
            .send(fixture.user(0), conversation, SendMessage::text(body.clone()))
            .await
        {
            Ok(_) => acknowledged.push(body),
            Err(ChatError::Backend { .. }) => failures += 1,
            Err(other) => panic!("a dropped connection must surface as a backend error: {other:?}"),
        }
    }
    println!(
        "dropped {dropped} pooled connections; {failures} of {} sends failed",
        failures + acknowledged.len()
    );
    assert!(
        failures >= 1,
        "connections idle for less than PING_IDLE_AFTER are used without a ping, so the drop is noticed"
    );
    assert!(
        failures <= dropped as usize,
        "each dropped connection fails at most one operation ({failures} failures, {dropped} dropped)"
    );
    assert!(acknowledged.len() >= 4, "the store works again after the drop");

    let history = fixture
        .messages()
        .history(fixture.user(1), conversation, None, None, Some(100))
        .await
        .expect("history");
    let bodies: Vec<&str> = history.iter().map(|view| view.message.body.as_str()).collect();
    let after: Vec<&str> = bodies
        .iter()
        .copied()
        .filter(|body| body.starts_with("after"))
        .collect();
    assert_eq!(
        after, acknowledged,
        "exactly the acknowledged sends are stored, in order"
    );
    assert_eq!(bodies.len(), 8 + acknowledged.len());
    assert!(
        history
            .windows(2)
            .all(|pair| pair[1].message.seq == pair[0].message.seq + 1),
        "seq stays dense"
    );
}
