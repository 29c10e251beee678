//! Authentication: the host's [`Authenticator`] turns request parts into an [`Identity`].
//!
//! The identity is the only source of the tenant, the sender and the membership checks;
//! request bodies never name them. The same authenticator guards plain requests and the
//! WebSocket upgrade, which is authenticated before it is accepted.
//!
//! Browsers cannot set headers on a WebSocket, so a host may accept a token from the query
//! string of the WebSocket upgrade, and only there ([`upgrade_query_param`]: a credential in
//! any other URL ends up in logs, history and `Referer` headers, so it is not read). This
//! crate never logs URIs; if the host logs requests (a `TraceLayer`), log [`redacted_uri`]
//! instead of the raw URI so such tokens stay out of logs.

use std::borrow::Cow;

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{Uri, header};
use chat_core::Identity;

use crate::error::ApiError;

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// Missing, expired or unknown credentials: 401 `{"message": "Unauthenticated."}`.
    #[error("unauthenticated")]
    Unauthenticated,
    /// The host could not check the credentials (its session store failed): 500, logged.
    #[error("authentication failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        match rejection {
            AuthRejection::Unauthenticated => Self::Unauthenticated,
            AuthRejection::Failed(source) => Self::Internal(source),
        }
    }
}

/// The host's authentication, implemented over its own sessions or tokens.
///
/// Called once per HTTP request and once per WebSocket upgrade, before anything else.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The tenant and user of the request, or a rejection.
    async fn authenticate(&self, parts: &Parts) -> Result<Identity, AuthRejection>;
}

/// The authenticated caller of a request: an extractor (with the [`ChatApi`](crate::ChatApi)
/// state) that answers 401 without an identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(pub Identity);

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// True for a WebSocket upgrade request: HTTP/1.1 `Upgrade: websocket`, or HTTP/2's
/// extended `CONNECT` (RFC 8441).
pub fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts.method == axum::http::Method::CONNECT
        || parts
            .headers
            .get_all(header::UPGRADE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| {
                value
                    .split(',')
                    .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"))
            })
}

/// The percent-decoded, non-empty value of query parameter `name`, only on a WebSocket
/// upgrade ([`is_websocket_upgrade`]); `None` on every other request, so a credential put in
/// a plain URL (a download link, say) authenticates nothing. What a host's
/// [`Authenticator`] reads for browsers' WebSockets, which cannot send headers.
pub fn upgrade_query_param(parts: &Parts, name: &str) -> Option<String> {
    is_websocket_upgrade(parts).then(|| query_param(parts, name)).flatten()
}

/// The first non-empty value of the query parameter `name`, percent-decoded (`+` is a
/// space); for browsers' WebSockets, which cannot send an `Authorization` header.
pub(crate) fn query_param(parts: &Parts, name: &str) -> Option<String> {
    let query = parts.uri.query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key).as_deref() == Some(name))
            .then(|| percent_decode(value))
            .flatten()
            .filter(|value| !value.is_empty())
    })
}

/// Decodes `%XX` escapes and `+`; `None` for broken escapes or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = text.get(index + 1..index + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameter names whose values [`redacted_uri`] hides.
pub const SECRET_QUERY_PARAMS: &[&str] = &["token", "access_token", "auth", "key", "api_key", "jwt", "ticket"];

/// The URI with the values of secret query parameters ([`SECRET_QUERY_PARAMS`]) replaced by
/// `[redacted]`: what a host's request log should show.
///
/// ```
/// let uri: axum::http::Uri = "/chat/ws?token=s3cret&x=1".parse().unwrap();
/// assert_eq!(chat_axum::auth::redacted_uri(&uri), "/chat/ws?token=[redacted]&x=1");
/// ```
pub fn redacted_uri(uri: &Uri) -> Cow<'_, str> {
    let Some(query) = uri.query() else {
        return Cow::Borrowed(uri.path());
    };
    let redacted: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _))
                if SECRET_QUERY_PARAMS
                    .iter()
                    .any(|secret| key.eq_ignore_ascii_case(secret)) =>
            {
                Cow::Owned(format!("{key}=[redacted]"))
            }
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(format!("{}?{}", uri.path(), redacted.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, authorization: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn query_credentials_count_only_on_a_websocket_upgrade() {
        let upgrade = |value: &str| {
            Request::builder()
                .uri("/ws?token=xyz")
                .header(header::UPGRADE, value)
                .body(())
                .expect("request")
                .into_parts()
                .0
        };
        assert_eq!(
            upgrade_query_param(&upgrade("websocket"), "token").as_deref(),
            Some("xyz")
        );
        assert_eq!(
            upgrade_query_param(&upgrade("WebSocket"), "token").as_deref(),
            Some("xyz")
        );
        assert_eq!(upgrade_query_param(&upgrade("h2c"), "token"), None);
        assert_eq!(upgrade_query_param(&parts("/ws?token=xyz", None), "token"), None);
        assert_eq!(
            upgrade_query_param(&parts("/conversations/x/attachments/y?token=xyz", None), "token"),
            None
        );
        let connect = Request::builder()
            .method(axum::http::Method::CONNECT)
            .uri("/ws?token=xyz")
            .body(())
            .expect("request")
            .into_parts()
            .0;
        assert_eq!(upgrade_query_param(&connect, "token").as_deref(), Some("xyz"));
    }

    #[test]
    fn tokens_from_header_and_query() {
        assert_eq!(bearer_token(&parts("/", Some("Bearer abc"))), Some("abc"));
        assert_eq!(bearer_token(&parts("/", Some("bearer  abc "))), Some("abc"));
        assert_eq!(bearer_token(&parts("/", Some("Basic abc"))), None);
        assert_eq!(bearer_token(&parts("/", Some("Bearer "))), None);
        assert_eq!(
            query_param(&parts("/ws?a=1&token=xyz", None), "token").as_deref(),
            Some("xyz")
        );
        assert_eq!(query_param(&parts("/ws?token=", None), "token"), None);
        assert_eq!(
            query_param(&parts("/ws?token=a%2Bb+c", None), "token").as_deref(),
            Some("a+b c")
        );
        assert_eq!(query_param(&parts("/ws?token=%zz", None), "token"), None);
    }

    #[test]
    fn redaction_hides_secret_values_only() {
        let uri: Uri = "/ws?x=1&TOKEN=abc&access_token=def".parse().expect("uri");
        assert_eq!(redacted_uri(&uri), "/ws?x=1&TOKEN=[redacted]&access_token=[redacted]");
        let uri: Uri = "/conversations".parse().expect("uri");
        assert_eq!(redacted_uri(&uri), "/conversations");
    }
}
