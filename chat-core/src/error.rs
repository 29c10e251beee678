//! The one error type every service and store returns.

use std::collections::BTreeMap;
use std::fmt;

/// Per-field validation messages, keyed by the field name of the HTTP contract
/// (`body`, `participant_uuid`, `title`, …) so a web layer can answer 422 without mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `message` for `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages per field.
    pub fn fields(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    /// `Ok(())` when empty, otherwise a [`ChatError::Validation`] with these errors.
    pub fn into_result(self) -> Result<(), ChatError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ChatError::Validation(self))
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field} {message}")?;
            }
        }
        Ok(())
    }
}

/// What went wrong, typed so a web layer maps it to a status without reading text:
/// `NotFound` -> 404, `Validation` -> 422, `PermissionDenied` -> 403, `Conflict` -> 409,
/// `RateLimited` -> 429, `TooLarge` -> 413, `NotEnabled` -> 501, `Backend` -> 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The conversation or message does not exist *for this actor*. A conversation the
    /// actor is not in gives exactly this error, so ids leak nothing.
    #[error("{what} not found")]
    NotFound {
        /// `"conversation"`, `"message"` or `"attachment"`.
        what: &'static str,
    },
    /// Input broke a rule; the fields say which.
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    /// The actor sees the object but may not do this to it (editing another user's message,
    /// removing someone from a group one does not own).
    #[error("not allowed: {reason}")]
    PermissionDenied {
        /// Why, in words safe to show the actor.
        reason: &'static str,
    },
    /// The request contradicts the object's state (editing a deleted message, adding
    /// participants to a direct conversation).
    #[error("conflict: {reason}")]
    Conflict {
        /// Why, in words safe to show the actor.
        reason: &'static str,
    },
    /// The actor hit a rate limit (conversations started per hour,
    /// [`crate::Limits::conversations_started_per_hour`]): try again after `retry_after`.
    /// A web layer answers 429 with `Retry-After`.
    #[error("rate limited: retry after {retry_after:?}")]
    RateLimited {
        /// How long until the next attempt can succeed.
        retry_after: std::time::Duration,
    },
    /// An upload passed its size limit ([`crate::Limits::attachment_max_bytes`]). A web
    /// layer answers 413.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was too large (`"attachment"`).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The host did not enable this feature (attachments without an object store). A web
    /// layer answers 501.
    #[error("{feature} are not enabled on this server")]
    NotEnabled {
        /// The feature (`"attachments"`).
        feature: &'static str,
    },
    /// The store, directory or bus failed. The source is for logs, never for clients.
    #[error("backend failure: {source}")]
    Backend {
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl ChatError {
    /// A validation error with one message for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        Self::Validation(errors)
    }

    /// The conversation is unknown to the actor.
    pub const fn conversation_not_found() -> Self {
        Self::NotFound { what: "conversation" }
    }

    /// The message is unknown to the actor.
    pub const fn message_not_found() -> Self {
        Self::NotFound { what: "message" }
    }

    /// The attachment is unknown to the actor.
    pub const fn attachment_not_found() -> Self {
        Self::NotFound { what: "attachment" }
    }

    /// Wraps a backend failure.
    pub fn backend(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Backend { source: source.into() }
    }

    /// True for [`ChatError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The field errors of a [`ChatError::Validation`].
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            Self::Validation(errors) => Some(errors),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type ChatResult<T> = Result<T, ChatError>;
