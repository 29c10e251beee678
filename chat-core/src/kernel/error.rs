//! The kernel's own failures; each reaches callers as [`ChatError::Backend`].

use crate::error::ChatError;

use super::engine::EngineError;

/// A failure of the kernel or its engine (never a domain error: those are [`ChatError`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The engine failed.
    #[error("storage engine: {0}")]
    Engine(#[source] EngineError),
    /// A stored value or key is not what the kernel wrote.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being written.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// An earlier commit failed, so writes gathered after it cannot be made durable: the
    /// store refuses writes until it is opened again.
    #[error("a commit failed earlier ({0}); writes are refused until the store is reopened")]
    Poisoned(String),
    /// The blocking task running an operation panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
    /// The keyspace was written by a newer or unknown layout.
    #[error("unsupported layout version {found} (this build reads {supported})")]
    Layout {
        /// The version found.
        found: u32,
        /// The version this build writes.
        supported: u32,
    },
}

impl KernelError {
    /// A [`KernelError::Corrupt`].
    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

impl From<KernelError> for ChatError {
    fn from(error: KernelError) -> Self {
        ChatError::backend(error)
    }
}

/// An engine failure as a [`ChatError`].
pub(crate) fn engine(error: EngineError) -> ChatError {
    KernelError::Engine(error).into()
}
