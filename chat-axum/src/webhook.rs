//! Webhooks (feature `webhook`): a ready [`Notifier`] that POSTs each notification as JSON
//! to a URL of the host's, signed with a shared secret the way Stripe and GitHub sign
//! theirs.
//!
//! # The request
//!
//! One `POST` per notification, a [`WebhookPayload`] as its JSON body (the conversation and
//! messages as the HTTP API renders them for the recipient), with:
//!
//! - `Content-Type: application/json`;
//! - `Chat-Signature: t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>`: the
//!   signing time and the signature of the time and the exact body bytes;
//! - `Chat-Webhook-Id: <notification id>`, for logs. Deduplicate on the body's `id` (it is
//!   signed, the header is not): it is the same on every retry, on every node, and
//!   delivery is at least once.
//!
//! A 2xx answer is a delivery. A 408, a 429, a 5xx, a timeout or a connection error is
//! retried within the call (by default twice more, after 0.5 s then 1 s); any other answer
//! fails the notification at once. Redirects are not followed. A call ends by its deadline
//! (20 s by default, under the worker's 30 s notifier timeout): what was delivered by then
//! counts, the rest fails. A failed notification goes back to the
//! [`chat_core::NotificationWorker`], which tries it again after its backoff.
//!
//! # Verifying a request
//!
//! Compute HMAC-SHA256 with the secret over the decimal timestamp, a `.`, and the raw body
//! as received (before any JSON parsing); compare it in constant time with the `v1` value
//! (there may be several, e.g. while a secret is rotated);
//! refuse timestamps further than a few minutes from your clock (a replayed request). A
//! Rust receiver calls [`verify_signature`]:
//!
//! ```
//! use chat_axum::webhook::{SIGNATURE_HEADER, WebhookNotifier, verify_signature};
//!
//! let secret = b"whsec-from-your-config";
//! let body = br#"{"id":"0190f0a4-...","messages":[]}"#;
//! // What the notifier sends (the receiver gets it as the `Chat-Signature` header):
//! let header = WebhookNotifier::signature(secret, 1_764_000_000, body);
//!
//! // The receiver, given the header, the raw body and its clock:
//! let now = 1_764_000_030;
//! assert!(verify_signature(secret, &header, body, now, 300).is_ok());
//! assert!(verify_signature(secret, &header, br#"{"id":"forged"}"#, now, 300).is_err());
//! assert!(verify_signature(b"another secret", &header, body, now, 300).is_err());
//! assert!(verify_signature(secret, &header, body, now + 3_600, 300).is_err());
//! # let _ = SIGNATURE_HEADER;
//! ```
//!
//! In another language it is the same few lines, e.g. Python:
//! `hmac.compare_digest(hmac.new(secret, f"{t}.".encode() + body, "sha256").hexdigest(), v1)`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::{Notification, NotificationId, Notifier, NotifyError};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::resources::{ConversationResource, MessageResource};

/// The `v1` signatures a header may carry at most (more is [`SignatureError::Malformed`]).
const MAX_SIGNATURES: usize = 8;

/// The JSON body of a webhook: one notification as its recipient may see it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct WebhookPayload {
    /// The notification's id: the same on every retry and node; deduplicate on it.
    pub id: uuid::Uuid,
    /// The tenant (platform) of the recipient.
    pub tenant: String,
    /// Who to tell.
    pub recipient_uuid: String,
    /// 1 on the first attempt; more after failures.
    pub attempt: u32,
    /// Unread messages in all (may exceed `messages`).
    pub unread_count: u64,
    /// The conversation as `GET /conversations/{uuid}` shows it to the recipient.
    pub conversation: ConversationResource,
    /// The newest unread messages, oldest first, as the history shows them to the recipient.
    pub messages: Vec<MessageResource>,
}

impl WebhookPayload {
    /// `notification` rendered for its recipient, attachment URLs under `mount_path` (where
    /// the host mounts the chat router, see `ChatApi::with_mount_path`).
    pub fn new(notification: &Notification, mount_path: &str) -> Self {
        let recipient = &notification.recipient;
        Self {
            id: *notification.id.as_uuid(),
            tenant: notification.tenant.as_str().to_owned(),
            recipient_uuid: recipient.as_str().to_owned(),
            attempt: notification.attempt,
            unread_count: notification.unread_count,
            conversation: ConversationResource::for_viewer(&notification.conversation, recipient),
            messages: notification
                .messages
                .iter()
                .map(|message| MessageResource::for_reader(message, recipient, mount_path))
                .collect(),
        }
    }
}

/// The header carrying `t=<unix seconds>,v1=<hex signature>`.
pub const SIGNATURE_HEADER: &str = "Chat-Signature";

/// The header carrying the notification's id.
pub const ID_HEADER: &str = "Chat-Webhook-Id";

/// Why a [`WebhookNotifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL does not parse, or is not `http` or `https`.
    #[error("invalid webhook URL: {0}")]
    Url(String),
    /// An empty secret would sign nothing a receiver could trust.
    #[error("the webhook secret is empty")]
    EmptySecret,
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),
}

/// Why one notification's POST failed (the source of the [`NotifyError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The receiver answered, but not with a 2xx.
    #[error("the webhook answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: a timeout, a refused connection, a TLS failure (the error carries no URL:
    /// its query may hold a token).
    #[error("the webhook could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// The call's deadline passed before this one was delivered.
    #[error("the webhook call's deadline passed")]
    Deadline,
    /// The notification did not serialize (a bug: it never happens with its own types).
    #[error("the notification did not serialize")]
    Body(#[source] serde_json::Error),
}

impl DeliveryError {
    /// Worth another try within the same call.
    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status } => *status == 408 || *status == 429 || *status >= 500,
            Self::Transport(_) => true,
            Self::Body(_) | Self::Deadline => false,
        }
    }
}

/// Why a signature did not verify ([`verify_signature`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The timestamp is further from now than the tolerance (possibly a replay).
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    /// No `v1` signature matches the body and secret.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a request's `Chat-Signature` `header` against its raw `body`: a `v1` signature
/// must be the HMAC-SHA256 under `secret` of the header's timestamp, `.` and the body
/// (compared in constant time), and the timestamp at most `tolerance_secs` from `now_unix`.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() || signatures.len() > MAX_SIGNATURES {
        return Err(SignatureError::Malformed);
    }
    if now_unix.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    let matches = signatures.iter().fold(subtle::Choice::from(0), |found, signature| {
        found | expected.as_slice().ct_eq(signature)
    });
    if bool::from(matches) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// A [`Notifier`] that POSTs each notification, signed, to one URL (see the module docs for
/// the request and how to verify it). Build it with [`WebhookNotifier::new`] and the
/// `with_*` settings; cheap to clone.
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Arc<[u8]>,
    retries: u32,
    retry_delay: Duration,
    concurrency: usize,
    deadline: Duration,
    mount_path: Arc<str>,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret, nor the URL's query (it may carry a token).
        f.debug_struct("WebhookNotifier")
            .field("host", &self.url.host_str())
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// POSTs to `url` (`http` or `https`) signing with `secret`, with a 10 s timeout per
    /// request, 2 retries of transient failures (after 0.5 s, then 1 s), up to 8 requests
    /// at once, a 20 s deadline per call and attachment URLs under `/api/v1/chat`.
    pub fn new(url: &str, secret: impl Into<Vec<u8>>) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(url).map_err(|error| WebhookError::Url(error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Url(format!(
                "the scheme {} is not http or https",
                url.scheme()
            )));
        }
        let secret: Vec<u8> = secret.into();
        if secret.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        let client = Self::client(Duration::from_secs(10))?;
        Ok(Self {
            client,
            url,
            secret: secret.into(),
            retries: 2,
            retry_delay: Duration::from_millis(500),
            concurrency: 8,
            deadline: Duration::from_secs(20),
            mount_path: Arc::from("/api/v1/chat"),
        })
    }

    fn client(timeout: Duration) -> Result<reqwest::Client, WebhookError> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WebhookError::Client)
    }

    /// The longest one request may take, connecting included.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, WebhookError> {
        self.client = Self::client(timeout)?;
        Ok(self)
    }

    /// Further tries of a transient failure within one call (0: none), the first after
    /// `delay`, each later one after twice the previous.
    pub fn with_retries(mut self, retries: u32, delay: Duration) -> Self {
        self.retries = retries;
        self.retry_delay = delay;
        self
    }

    /// The longest one call (a batch) may take: notifications not delivered by then fail
    /// and come back after the worker's backoff. Keep it under the worker's
    /// `with_notify_timeout`, which otherwise fails the whole batch, delivered ones too.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Where the host mounts the chat router, for the attachment URLs of the payload.
    pub fn with_mount_path(mut self, path: &str) -> Self {
        self.mount_path = Arc::from(path.trim_end_matches('/'));
        self
    }

    /// Requests in flight at once for one batch (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The `Chat-Signature` header value for `body` signed at `timestamp` (unix seconds).
    pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let signature = mac(secret, timestamp, body).finalize().into_bytes();
        format!("t={timestamp},v1={}", hex::encode(signature))
    }

    async fn deliver_one(&self, notification: &Notification) -> (NotificationId, Result<(), DeliveryError>) {
        (notification.id, self.deliver(notification).await)
    }

    /// POSTs one notification, retrying transient failures.
    async fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let body =
            serde_json::to_vec(&WebhookPayload::new(notification, &self.mount_path)).map_err(DeliveryError::Body)?;
        let mut delay = self.retry_delay;
        let mut attempt = 0;
        loop {
            let signature = Self::signature(&self.secret, chrono::Utc::now().timestamp(), &body);
            let outcome = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(ID_HEADER, notification.id.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(body.clone())
                .send()
                .await;
            let error = match outcome {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => DeliveryError::Status {
                    status: response.status().as_u16(),
                },
                Err(error) => DeliveryError::Transport(error.without_url()),
            };
            if attempt >= self.retries || !error.is_transient() {
                return Err(error);
            }
            attempt += 1;
            tracing::debug!(notification_id = %notification.id, attempt, %error, "webhook failed; retrying");
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        // At most `concurrency` requests in flight, the next one started as one ends, until
        // the deadline: then whatever is not delivered fails.
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut waiting = batch.iter();
        let mut running = futures_util::stream::FuturesUnordered::new();
        running.extend(waiting.by_ref().take(self.concurrency).map(|one| self.deliver_one(one)));
        let mut failed = Vec::new();
        let mut first_error = None;
        let mut delivered = std::collections::HashSet::new();
        loop {
            match tokio::time::timeout_at(deadline, running.next()).await {
                Ok(Some((id, Ok(())))) => {
                    delivered.insert(id);
                }
                Ok(Some((id, Err(error)))) => {
                    failed.push(id);
                    first_error.get_or_insert(error);
                }
                Ok(None) => break,
                Err(_) => {
                    let unfinished: Vec<NotificationId> = batch
                        .iter()
                        .map(|notification| notification.id)
                        .filter(|id| !delivered.contains(id) && !failed.contains(id))
                        .collect();
                    failed.extend(unfinished);
                    first_error.get_or_insert(DeliveryError::Deadline);
                    break;
                }
            }
            if let Some(next) = waiting.next() {
                running.push(self.deliver_one(next));
            }
        }
        // An empty list would mean "the whole batch": a deadline that found everything
        // delivered is a success.
        match first_error {
            Some(error) if !failed.is_empty() => Err(NotifyError::some(failed, error)),
            _ => Ok(()),
        }
    }
}
