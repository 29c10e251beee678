//! The crate's error type and its mapping into [`chat_core::ChatError`].

use chat_core::ChatError;

/// What can go wrong in the Redis event bus.
///
/// Every variant converts into [`ChatError::Backend`] (via `From`); the source is kept for
/// logs and never shown to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBusError {
    /// The key prefix is empty, longer than 64 bytes, or holds whitespace or control
    /// characters.
    #[error("invalid key prefix {prefix:?}: use 1 to 64 bytes without whitespace or control characters")]
    InvalidKeyPrefix {
        /// The rejected prefix.
        prefix: String,
    },
    /// Connecting, publishing or subscribing failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Encoding an event failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<RedisBusError> for ChatError {
    fn from(error: RedisBusError) -> Self {
        ChatError::backend(error)
    }
}
