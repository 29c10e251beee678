//! The configuration a host builds once: services, authentication and the web-layer limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chat_core::{ChatServices, Identity, Limits};

use crate::auth::Authenticator;
use crate::event_frames::EventFrames;
use crate::platform::PlatformKeys;
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::shutdown::Lifecycle;

/// Everything the router needs, built once by the host and cloned per request (cheap: `Arc`s
/// inside).
///
/// ```no_run
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # fn demo(services: chat_core::ChatServices, auth: Arc<dyn chat_axum::Authenticator>) {
/// use chat_axum::{ChatApi, RateLimit, WsConfig};
///
/// let api = ChatApi::new(services, auth)
///     .with_allowed_origins(["https://shop.example"])
///     .with_send_rate_limit(RateLimit::per_second(5).with_burst(20))
///     .with_ws_config(WsConfig::default().with_idle_timeout(Duration::from_secs(120)));
/// # }
/// ```
#[derive(Clone)]
pub struct ChatApi {
    pub(crate) services: ChatServices,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) platform_keys: Option<Arc<PlatformKeys>>,
    pub(crate) allowed_origins: Option<Arc<[String]>>,
    pub(crate) ws: WsConfig,
    pub(crate) send_limiter: Option<Arc<RateLimiter>>,
    pub(crate) typing_limiter: Option<Arc<RateLimiter>>,
    pub(crate) ws_connections: Arc<ConnectionCounts>,
    /// What the frames of one live event share, built once for all local recipients.
    pub(crate) event_frames: Arc<EventFrames>,
    /// Shutting sockets down.
    pub(crate) lifecycle: Arc<Lifecycle>,
    /// Where the host nests the router, for the URLs in resources.
    pub(crate) mount_path: Arc<str>,
}

impl std::fmt::Debug for ChatApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatApi")
            .field("services", &self.services)
            .field("platform_keys", &self.platform_keys)
            .field("allowed_origins", &self.allowed_origins)
            .field("ws", &self.ws)
            .field("send_limiter", &self.send_limiter)
            .field("typing_limiter", &self.typing_limiter)
            .finish_non_exhaustive()
    }
}

impl ChatApi {
    /// The API over the host's services and authentication; no origin allowlist, no send
    /// rate limit, default [`WsConfig`].
    pub fn new(services: ChatServices, authenticator: Arc<dyn Authenticator>) -> Self {
        Self {
            services,
            authenticator,
            platform_keys: None,
            allowed_origins: None,
            ws: WsConfig::default(),
            send_limiter: None,
            typing_limiter: None,
            ws_connections: Arc::default(),
            event_frames: Arc::default(),
            lifecycle: Arc::default(),
            mount_path: Arc::from(""),
        }
    }

    /// Says where the host nests [`crate::router`] (e.g. `"/api/v1/chat"`), so that the
    /// URLs in resources (an attachment's `url`) are paths clients can fetch. Default: none
    /// (the router at the root). A trailing `/` is dropped.
    pub fn with_mount_path(mut self, path: impl AsRef<str>) -> Self {
        self.mount_path = Arc::from(path.as_ref().trim_end_matches('/'));
        self
    }

    /// Where the router is mounted ([`Self::with_mount_path`]).
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// Closes every open WebSocket of this API (and any opened from now on) with 1001
    /// (going away), so clients reconnect at once, and returns once all are closed. Call it
    /// when the server shuts down, next to the HTTP server's graceful shutdown; bound the
    /// wait with a timeout of your choice (a client that never answers the close is dropped
    /// after a few seconds).
    pub async fn shutdown_websockets(&self) {
        self.lifecycle.shut_down().await;
    }

    /// Serves several platforms, each known by a public key: every request must then carry
    /// `X-PUBLIC-KEY` (or `?public_key=` on the WebSocket) naming a known key, 401 naming the
    /// header otherwise, and the identity the [`Authenticator`] returns must be in that key's
    /// tenant (a token of one platform with another platform's key is a 401). Without it,
    /// tenants come from the authenticator alone.
    pub fn with_platform_keys(mut self, keys: PlatformKeys) -> Self {
        self.platform_keys = Some(Arc::new(keys));
        self
    }

    /// The platform keys, if configured.
    pub fn platform_keys(&self) -> Option<&PlatformKeys> {
        self.platform_keys.as_deref()
    }

    /// Accepts WebSocket upgrades only from these origins (`scheme://host[:port]`, compared
    /// case-insensitively). Requests without an `Origin` header (non-browser clients) are not
    /// affected; browsers always send one. A mismatch answers 403 before any upgrade.
    pub fn with_allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        let origins: Vec<String> = origins
            .into_iter()
            .map(|origin| origin.into().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        self.allowed_origins = Some(origins.into());
        self
    }

    /// Limits how fast one user may send messages (HTTP `POST .../messages`); past it the
    /// answer is 429 with `Retry-After`.
    pub fn with_send_rate_limit(mut self, limit: RateLimit) -> Self {
        self.send_limiter = Some(Arc::new(RateLimiter::new(limit)));
        self
    }

    /// Limits how often one user may signal typing (HTTP `POST .../typing` and `typing` frames
    /// over the socket share one budget); past it HTTP answers 429 with `Retry-After` and the
    /// socket answers an `error` frame. Typing events fan out to every member, so a client
    /// that sends them in a loop costs everyone in its conversations.
    pub fn with_typing_rate_limit(mut self, limit: RateLimit) -> Self {
        self.typing_limiter = Some(Arc::new(RateLimiter::new(limit)));
        self
    }

    /// With other WebSocket settings.
    pub fn with_ws_config(mut self, config: WsConfig) -> Self {
        self.ws = config;
        self
    }

    /// The services the API calls.
    pub fn services(&self) -> &ChatServices {
        &self.services
    }

    /// The limits in force (those of the services).
    pub fn limits(&self) -> &Limits {
        self.services.limits()
    }

    /// The WebSocket settings.
    pub fn ws_config(&self) -> &WsConfig {
        &self.ws
    }
}

/// WebSocket settings. The frame size limit is [`Limits::ws_frame_max_bytes`] of the
/// services.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WsConfig {
    /// How often the server pings an idle client (default 25 s).
    pub ping_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed (default 60 s).
    pub idle_timeout: Duration,
    /// A single write that the client does not take within this time closes the socket: the
    /// client has stopped reading (default 10 s).
    pub send_timeout: Duration,
    /// Client frames per second allowed on average (default 10).
    pub frames_per_second: u32,
    /// Client frames allowed in a burst (default 30). Past the rate the socket is closed with
    /// code 1008.
    pub frame_burst: u32,
    /// Subprotocols the server may select (the first one the client also offers wins), for
    /// clients that pass a token as a second subprotocol. Empty by default.
    pub protocols: Vec<String>,
    /// Open sockets one user may hold at once on this node (default 16); one more answers
    /// 429 before the upgrade.
    pub max_connections_per_user: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            frames_per_second: 10,
            frame_burst: 30,
            protocols: Vec::new(),
            max_connections_per_user: 16,
        }
    }
}

impl WsConfig {
    /// With another ping interval.
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// With another idle timeout.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// With another send timeout.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// With another client frame rate: `per_second` on average, `burst` at once.
    pub fn with_frame_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.frames_per_second = per_second.max(1);
        self.frame_burst = burst.max(1);
        self
    }

    /// With another cap on a user's open sockets (at least 1).
    pub fn with_max_connections_per_user(mut self, max: usize) -> Self {
        self.max_connections_per_user = max.max(1);
        self
    }

    /// With subprotocols the server may select.
    pub fn with_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }
}

/// Open WebSocket connections per user on this node.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounts {
    counts: Mutex<HashMap<Identity, usize>>,
}

impl ConnectionCounts {
    /// Counts one more connection of `who` unless it holds `max` already; the count drops
    /// when the returned guard does.
    pub(crate) fn acquire(self: &Arc<Self>, who: &Identity, max: usize) -> Option<ConnectionGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(who.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ConnectionGuard {
            counts: Arc::clone(self),
            who: who.clone(),
        })
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    counts: Arc<ConnectionCounts>,
    who: Identity,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.who) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.who);
            }
        }
    }
}
