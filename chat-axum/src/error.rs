//! JSON errors: every failure of the API answers with one of the envelopes of the contract.
//!
//! | status | body |
//! |---|---|
//! | 401 | `{"message": "Unauthenticated."}`; with platform keys, a missing or unknown key names `X-PUBLIC-KEY` |
//! | 403, 404, 405, 409, 413, 415 | `{"message": ...}` |
//! | 422 | `{"message": ..., "errors": {"field": ["..."]}}` |
//! | 429 | `{"message": ...}` and a `Retry-After` header |
//! | 500 | `{"message": ..., "request_id": ...}`; the cause goes to the log only |

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chat_core::{ChatError, FieldErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// The header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What went wrong, as the API answers it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No or bad credentials: 401.
    #[error("unauthenticated")]
    Unauthenticated,
    /// Platform keys are configured and the request's `X-PUBLIC-KEY` is missing or names no
    /// platform: 401 naming the header.
    #[error("missing or unknown platform key")]
    UnknownPlatform,
    /// The WebSocket `Origin` is not allowed: 403.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The caller sees the object but may not do this: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The conversation or message does not exist for the caller: 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No such route: 404.
    #[error("route not found")]
    RouteNotFound,
    /// The route exists, the method does not: 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request contradicts the object's state: 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The body is larger than the limit: 413.
    #[error("payload too large")]
    PayloadTooLarge,
    /// A body that is not declared as JSON: 415.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// `GET /ws` without a WebSocket upgrade: 426.
    #[error("upgrade required")]
    UpgradeRequired,
    /// Input broke a rule: 422 with the fields.
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    /// A rate limit was hit: 429 with `Retry-After`.
    #[error("too many requests")]
    TooManyRequests {
        /// How long until the next attempt may succeed.
        retry_after: Duration,
    },
    /// The server lacks what this needs (attachments without an object store): 501.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// Anything else: 500. The source is logged with the request id, never shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ApiError {
    /// A 422 with one message for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        Self::Validation(errors)
    }

    /// A 500 for `source`.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Internal(source.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::UnknownPlatform => StatusCode::UNAUTHORIZED,
            Self::OriginNotAllowed | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `message` of the body.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "Unauthenticated.".to_owned(),
            Self::UnknownPlatform => {
                "Unauthenticated: the X-PUBLIC-KEY header is missing or names no platform.".to_owned()
            }
            Self::OriginNotAllowed => "Origin not allowed.".to_owned(),
            Self::Forbidden(reason) | Self::Conflict(reason) => sentence(reason),
            Self::NotFound(what) => sentence(&format!("{what} not found")),
            Self::RouteNotFound => "Route not found.".to_owned(),
            Self::MethodNotAllowed => "Method not allowed.".to_owned(),
            Self::PayloadTooLarge => "The request body is too large.".to_owned(),
            Self::UnsupportedMediaType => "The request body must be JSON (Content-Type: application/json).".to_owned(),
            Self::UpgradeRequired => "Expected a WebSocket upgrade.".to_owned(),
            Self::Validation(_) => "The given data was invalid.".to_owned(),
            Self::TooManyRequests { .. } => "Too many requests.".to_owned(),
            Self::NotImplemented(feature) => sentence(&format!("{feature} are not enabled on this server")),
            Self::Internal(_) => "Server error.".to_owned(),
        }
    }
}

/// `"conversation not found"` -> `"Conversation not found."`.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|first| first.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        match error {
            ChatError::NotFound { what } => Self::NotFound(what),
            ChatError::Validation(errors) => Self::Validation(errors),
            ChatError::PermissionDenied { reason } => Self::Forbidden(reason.to_owned()),
            ChatError::Conflict { reason } => Self::Conflict(reason.to_owned()),
            ChatError::RateLimited { retry_after } => Self::TooManyRequests { retry_after },
            ChatError::TooLarge { .. } => Self::PayloadTooLarge,
            ChatError::NotEnabled { feature } => Self::NotImplemented(feature),
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// The body of every error but 422 and 500.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "Conversation not found.")]
    pub message: String,
}

/// The body of a 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    /// Always `"The given data was invalid."`.
    #[schema(example = "The given data was invalid.")]
    pub message: String,
    /// Messages per field of the request.
    #[schema(example = json!({"body": ["must not be empty"]}))]
    pub errors: BTreeMap<String, Vec<String>>,
}

/// The body of a 500.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerErrorBody {
    /// Always `"Server error."`.
    #[schema(example = "Server error.")]
    pub message: String,
    /// Quote it to the operator: the log line of the cause carries the same id.
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.message();
        match self {
            Self::Validation(errors) => {
                let body = ValidationErrorBody {
                    message,
                    errors: errors.fields().clone(),
                };
                (status, axum::Json(body)).into_response()
            }
            Self::Internal(source) => {
                let request_id = current_request_id();
                tracing::error!(request_id = %request_id, error = %source, source = ?source, "request failed");
                let mut response = (
                    status,
                    axum::Json(ServerErrorBody {
                        message,
                        request_id: request_id.clone(),
                    }),
                )
                    .into_response();
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                response
            }
            Self::TooManyRequests { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut response = (status, axum::Json(ErrorBody { message })).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                response
            }
            _ => (status, axum::Json(ErrorBody { message })).into_response(),
        }
    }
}

tokio::task_local! {
    static REQUEST_ID: Option<String>;
}

/// The request id of the request being served: the incoming `x-request-id` when it is a
/// plain token (what a host's request-id layer sets), otherwise a new UUID v7.
fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .flatten()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// An incoming id is used only if it is short and plain, so it cannot forge log lines.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    plain.then(|| text.to_owned())
}

/// Middleware: makes the incoming request id available to error responses.
pub(crate) async fn request_id_scope(request: Request, next: Next) -> Response {
    let incoming = request.headers().get(REQUEST_ID_HEADER).and_then(acceptable_request_id);
    REQUEST_ID.scope(incoming, next.run(request)).await
}

/// Fallback for unknown routes.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Fallback for known routes with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sentences() {
        assert_eq!(ApiError::NotFound("conversation").message(), "Conversation not found.");
        assert_eq!(
            ApiError::from(ChatError::conversation_not_found()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(ChatError::PermissionDenied {
                reason: "only the sender may edit"
            })
            .message(),
            "Only the sender may edit."
        );
    }

    #[test]
    fn only_plain_request_ids_are_taken() {
        assert_eq!(
            acceptable_request_id(&HeaderValue::from_static("abc-123")).as_deref(),
            Some("abc-123")
        );
        assert!(acceptable_request_id(&HeaderValue::from_static("a b")).is_none());
        assert!(acceptable_request_id(&HeaderValue::from_static("")).is_none());
    }
}
