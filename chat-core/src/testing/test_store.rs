//! [`TestStore`]: a store under test with whatever must outlive it (a temporary directory, a
//! schema dropped at the end), and [`IntoTestStore`], what the suites' macros accept. A
//! backend's tests hand these to `conformance_tests!` instead of a delegating wrapper.

use std::any::Any;
use std::sync::Arc;

use crate::store::Store;

/// A store for the suites, keeping its guard alive until the store is dropped.
pub struct TestStore {
    /// The store the cases run over.
    pub store: Arc<dyn Store>,
    /// Dropped after the store: a temporary directory, a schema guard, …
    guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl TestStore {
    /// `store` alone.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, guard: None }
    }

    /// `store`, keeping `guard` until the store is dropped.
    pub fn guarded(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Self {
        Self {
            store,
            guard: Some(Box::new(guard)),
        }
    }
}

/// What `conformance_tests!` and the model-based test accept from a backend's expression:
/// a store, a [`TestStore`], or either in an `Option` (`None` skips the test; say why on
/// stderr).
pub trait IntoTestStore {
    /// The store to run over, if any.
    fn into_test_store(self) -> Option<TestStore>;
}

impl IntoTestStore for Arc<dyn Store> {
    fn into_test_store(self) -> Option<TestStore> {
        Some(TestStore::new(self))
    }
}

impl IntoTestStore for TestStore {
    fn into_test_store(self) -> Option<TestStore> {
        Some(self)
    }
}

impl<T: IntoTestStore> IntoTestStore for Option<T> {
    fn into_test_store(self) -> Option<TestStore> {
        self.and_then(IntoTestStore::into_test_store)
    }
}
