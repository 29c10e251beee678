//! Model-based property test (placeholder).
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;
/// Runs it.
pub fn run<F, Fut>(_make_store: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
}
