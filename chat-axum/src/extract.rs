//! Extractors that answer like the rest of the API: every rejection is a JSON [`ApiError`]
//! (422 naming the field, 413, 415), never axum's plain-text 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chat_core::{ConversationId, FieldErrors, MessageId, UserId};
use serde::de::DeserializeOwned;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::ApiError;

impl FromRequestParts<ChatApi> for Caller {
    type Rejection = ApiError;

    /// Checks the platform key when [`PlatformKeys`](crate::PlatformKeys) are configured
    /// (401 naming `X-PUBLIC-KEY` when it is missing or unknown), asks the host's
    /// [`Authenticator`](crate::Authenticator) of the API, and checks that the identity
    /// belongs to the key's platform (401 otherwise).
    async fn from_request_parts(parts: &mut Parts, api: &ChatApi) -> Result<Self, Self::Rejection> {
        if let Some(keys) = &api.platform_keys {
            keys.tenant_of_request(parts)?;
        }
        let identity = api.authenticator.authenticate(parts).await?;
        if let Some(keys) = &api.platform_keys {
            keys.check(parts, &identity)?;
        }
        Ok(Self(identity))
    }
}

/// The error key used when a body is not JSON at all or not an object.
pub const BODY_ERROR_FIELD: &str = "json";

/// A JSON request body. Requires `Content-Type: application/json` (415), fits the body limit
/// (413) and deserializes into `T`, where any failure is a 422 naming the field: missing
/// (`is required`), unknown (`is not allowed`, with `deny_unknown_fields`) or of the wrong
/// type.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_json = is_json(&request);
        let bytes = read_body(request, state).await?;
        if !declared_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(Self)
    }
}

/// As [`ApiJson`], but an empty body (with any or no content type) or a JSON `null` is
/// `T::default()`: for endpoints whose body is optional (`POST .../read`, `.../archive`, …).
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_json = is_json(&request);
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !declared_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        if bytes.trim_ascii() == b"null" {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(Self)
    }
}

fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid(BODY_ERROR_FIELD, "could not be read")
        }
    })
}

/// Deserializes a JSON object in `bytes` as `T`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid(BODY_ERROR_FIELD, "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid(BODY_ERROR_FIELD, "is not valid JSON"))?;
    Ok(value)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;

    let inner = error.inner();
    if !matches!(inner.classify(), Category::Data) {
        return ApiError::invalid(BODY_ERROR_FIELD, "is not valid JSON");
    }
    let prefix = path_key(error.path());
    let text = without_location(&inner.to_string());
    let join = |name: &str| match &prefix {
        Some(prefix) => format!("{prefix}.{name}"),
        None => name.to_owned(),
    };
    if let Some(name) = backticked(&text, "missing field `") {
        return ApiError::invalid(join(name), "is required");
    }
    if let Some(name) = backticked(&text, "unknown field `") {
        // serde_path_to_error already includes the unknown key in the path.
        let field = prefix.clone().unwrap_or_else(|| name.to_owned());
        return ApiError::invalid(field, "is not allowed");
    }
    if let Some(name) = backticked(&text, "duplicate field `") {
        return ApiError::invalid(join(name), "is given more than once");
    }
    ApiError::invalid(prefix.unwrap_or_else(|| BODY_ERROR_FIELD.to_owned()), text)
}

/// `participant_uuids.2`, or `None` at the root.
fn path_key(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;

    let parts: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

fn without_location(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text.to_owned(),
    }
}

fn backticked<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// The typed query string. Every parameter is taken as text and checked by the handler, so a
/// malformed value is a 422 naming the parameter; unknown parameters are ignored.
#[derive(Clone, Debug, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let field = backticked(detail, "duplicate field `").unwrap_or("query");
                ApiError::invalid(field, "is malformed")
            })?;
        Ok(Self(value))
    }
}

/// Parses optional query text into typed values, collecting errors per parameter.
#[derive(Debug, Default)]
pub(crate) struct QueryCheck {
    errors: FieldErrors,
}

impl QueryCheck {
    /// Decimal digits only (no sign, no spaces), as the document's integer describes.
    pub(crate) fn number<N: std::str::FromStr>(&mut self, field: &str, value: Option<&str>) -> Option<N> {
        let value = value?;
        let parsed = if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
            value.parse().ok()
        } else {
            None
        };
        if parsed.is_none() {
            self.errors.add(field, "must be a non-negative integer");
        }
        parsed
    }

    /// `true` or `1`, `false` or `0` (PHP and Laravel clients send the latter); empty is
    /// `false`.
    pub(crate) fn boolean(&mut self, field: &str, value: Option<&str>) -> Option<bool> {
        match value? {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => {
                self.errors.add(field, "must be true, false, 1 or 0");
                None
            }
        }
    }

    pub(crate) fn add(&mut self, field: &str, message: &str) {
        self.errors.add(field, message);
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

async fn path_params(parts: &mut Parts) -> Result<Vec<(String, String)>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|rejection| {
            if rejection.status().is_server_error() {
                ApiError::internal(rejection.body_text())
            } else {
                ApiError::invalid("path", "must be valid UTF-8")
            }
        })?;
    Ok(params
        .iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| ApiError::internal(format!("route has no path parameter `{name}`")))
}

fn uuid_param(errors: &mut FieldErrors, name: &str, value: &str) -> Option<uuid::Uuid> {
    match uuid::Uuid::parse_str(value) {
        Ok(uuid) => Some(uuid),
        Err(_) => {
            errors.add(name, "must be a valid UUID");
            None
        }
    }
}

/// The `{uuid}` of `/conversations/{uuid}/…`; a malformed one is a 422 on `uuid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationPath(pub ConversationId);

impl<S: Send + Sync> FromRequestParts<S> for ConversationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts).await?;
        let mut errors = FieldErrors::new();
        let conversation = uuid_param(&mut errors, "uuid", param(&params, "uuid")?);
        match conversation {
            Some(uuid) => Ok(Self(ConversationId::from_uuid(uuid))),
            None => Err(ApiError::Validation(errors)),
        }
    }
}

/// The `{uuid}` and `{message_uuid}` of `/conversations/{uuid}/messages/{message_uuid}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessagePath {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
}

impl<S: Send + Sync> FromRequestParts<S> for MessagePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts).await?;
        let mut errors = FieldErrors::new();
        let conversation = uuid_param(&mut errors, "uuid", param(&params, "uuid")?);
        let message = uuid_param(&mut errors, "message_uuid", param(&params, "message_uuid")?);
        match (conversation, message) {
            (Some(conversation), Some(message)) => Ok(Self {
                conversation: ConversationId::from_uuid(conversation),
                message: MessageId::from_uuid(message),
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// The `{uuid}` and `{attachment_uuid}` of `/conversations/{uuid}/attachments/{attachment_uuid}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachmentPath {
    /// The conversation.
    pub conversation: ConversationId,
    /// The attachment.
    pub attachment: chat_core::AttachmentId,
}

impl<S: Send + Sync> FromRequestParts<S> for AttachmentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts).await?;
        let mut errors = FieldErrors::new();
        let conversation = uuid_param(&mut errors, "uuid", param(&params, "uuid")?);
        let attachment = uuid_param(&mut errors, "attachment_uuid", param(&params, "attachment_uuid")?);
        match (conversation, attachment) {
            (Some(conversation), Some(attachment)) => Ok(Self {
                conversation: ConversationId::from_uuid(conversation),
                attachment: chat_core::AttachmentId::from_uuid(attachment),
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// The `{uuid}`, `{message_uuid}` and `{emoji}` of
/// `/conversations/{uuid}/messages/{message_uuid}/reactions/{emoji}` (percent-decoded; the
/// services check the emoji).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionPath {
    /// The conversation and the message.
    pub message: MessagePath,
    /// The emoji, as sent.
    pub emoji: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ReactionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let message = MessagePath::from_request_parts(parts, state).await?;
        let params = path_params(parts).await?;
        Ok(Self {
            message,
            emoji: param(&params, "emoji")?.to_owned(),
        })
    }
}

/// The `{uuid}` and `{user}` of `/conversations/{uuid}/participants/{user}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantPath {
    /// The conversation.
    pub conversation: ConversationId,
    /// The participant, a host user id.
    pub user: UserId,
}

impl<S: Send + Sync> FromRequestParts<S> for ParticipantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts).await?;
        let mut errors = FieldErrors::new();
        let conversation = uuid_param(&mut errors, "uuid", param(&params, "uuid")?);
        let user = user_param(&mut errors, "user", param(&params, "user")?);
        match (conversation, user) {
            (Some(conversation), Some(user)) => Ok(Self {
                conversation: ConversationId::from_uuid(conversation),
                user,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// The host user id in path parameter `name`, or its messages added to `errors`.
fn user_param(errors: &mut FieldErrors, name: &str, value: &str) -> Option<UserId> {
    match UserId::new(value) {
        Ok(user) => Some(user),
        Err(error) => {
            for message in error
                .field_errors()
                .into_iter()
                .flat_map(|e| e.fields().values())
                .flatten()
            {
                errors.add(name, message.clone());
            }
            None
        }
    }
}

/// The `{user}` of `/blocks/{user}`: a host user id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedUserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for BlockedUserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts).await?;
        let mut errors = FieldErrors::new();
        match user_param(&mut errors, "user", param(&params, "user")?) {
            Some(user) => Ok(Self(user)),
            None => Err(ApiError::Validation(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        tags: Vec<u32>,
    }

    fn field_of(error: ApiError) -> (String, Vec<String>) {
        match error {
            ApiError::Validation(errors) => {
                let (field, messages) = errors.fields().iter().next().expect("one field");
                (field.clone(), messages.clone())
            }
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let (field, messages) = field_of(parse_json::<Body>(br#"{"tags": []}"#).expect_err("missing"));
        assert_eq!((field.as_str(), messages[0].as_str()), ("name", "is required"));
        let (field, messages) = field_of(parse_json::<Body>(br#"{"name": "a", "evil": 1}"#).expect_err("unknown"));
        assert_eq!((field.as_str(), messages[0].as_str()), ("evil", "is not allowed"));
        let (field, _) = field_of(parse_json::<Body>(br#"{"name": 5}"#).expect_err("type"));
        assert_eq!(field, "name");
        let (field, _) = field_of(parse_json::<Body>(br#"{"name": "a", "tags": [1, "x"]}"#).expect_err("item"));
        assert_eq!(field, "tags.1");
        let (field, _) = field_of(parse_json::<Body>(br#"{"name": "#).expect_err("syntax"));
        assert_eq!(field, BODY_ERROR_FIELD);
        let (field, _) = field_of(parse_json::<Body>(br#"[1]"#).expect_err("not an object"));
        assert_eq!(field, BODY_ERROR_FIELD);
        let (field, _) = field_of(parse_json::<Body>(br#"{"name": "a"} x"#).expect_err("trailing"));
        assert_eq!(field, BODY_ERROR_FIELD);
        assert!(parse_json::<Body>(br#"{"name": "a"}"#).is_ok());
    }
}
