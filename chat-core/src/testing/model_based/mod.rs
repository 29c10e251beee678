//! The model-based property test: random sequences of operations by several users, run
//! through the services on the store under test and on a plain model, answer by answer.
//!
//! The model keeps only facts (members, messages, flags) and *derives* every counter from
//! them on demand (unread counts, previews, stats), so it checks the stores' incremental
//! bookkeeping rather than repeating it. Each case runs in a fresh tenant, so one store
//! serves all cases. Timestamps are the store's to choose; the model adopts the ones the
//! store reports and checks that a conversation's activity never goes back.
//!
//! Each case starts with one to three conversations (`ops.rs`, `seed_strategy`), then up to
//! 39 random operations; the runner reports the share of operations that named an existing
//! conversation. Cases: 256 by default; set `CHAT_PROPTEST_CASES` for longer runs.
//!
//! Here is the runner; `ops.rs` generates the operations, `model.rs` is the plain model,
//! `outcome.rs` the answers both sides are compared by, `outbox.rs` the notifications a
//! worker round may and must send, `case.rs` runs one sequence.

mod case;
mod model;
mod model_records;
mod observed;
mod ops;
mod outbox;
mod outcome;

use std::future::Future;
use std::sync::Arc;

use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::store::Store;

use case::{Coverage, run_case};
use ops::case_strategy;

/// Default number of cases; `CHAT_PROPTEST_CASES` overrides it.
pub const DEFAULT_CASES: u32 = 256;

/// Runs the model-based test on the store `make_store` yields (`None` skips it), in a
/// runtime of its own. Panics with the smallest failing sequence found.
pub fn run<F, Fut>(make_store: F)
where
    F: FnOnce() -> Fut,
    Fut: Future,
    Fut::Output: crate::testing::IntoTestStore,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the model-based test");
    let Some(test_store) = crate::testing::IntoTestStore::into_test_store(runtime.block_on(make_store())) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::clone(&test_store.store);
    let cases = std::env::var("CHAT_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let coverage = std::sync::Mutex::new(Coverage::default());
    let result = runner.run(&case_strategy(), |ops| {
        let case = runtime
            .block_on(run_case(Arc::clone(&store), &ops))
            .map_err(TestCaseError::fail)?;
        coverage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .add(case);
        Ok(())
    });
    if let Err(error) = result {
        panic!("model-based test failed: {error}");
    }
    let coverage = coverage.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let share = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    eprintln!(
        "model-based test: {} cases, {} operations; {} named a conversation, {:.1}% of them an existing one; \
         {} cases ({:.1}%) never created one",
        coverage.cases,
        coverage.ops,
        coverage.on_a_conversation,
        share(coverage.on_an_existing_one, coverage.on_a_conversation),
        coverage.without_conversation,
        share(coverage.without_conversation, coverage.cases),
    );
    assert_eq!(
        coverage.without_conversation, 0,
        "every case starts with conversations (ops.rs, seed_strategy): {coverage:?}"
    );
}
