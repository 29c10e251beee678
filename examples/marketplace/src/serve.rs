//! Serving the application over HTTP/1.1 with the limits a public server needs: a
//! header-read timeout, an idle keep-alive timeout and a cap on open connections (or
//! half-open connections exhaust memory and file descriptors), and JSON bodies for the
//! errors of the HTTP layer itself (414, 431, 400) wherever the server can shape them.
//!
//! Built from hyper's HTTP/1 connection builder, hyper-util's tokio glue and a tokio
//! semaphore; a host with its own server sets the same three limits there.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// The limits of the HTTP layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// A client must send a request's whole head within this time from when the connection
    /// waits for it (default 10 s): slowloris clients that trickle headers are closed.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no bytes either way for this long is closed (default
    /// 60 s).
    pub idle_timeout: Duration,
    /// Open connections at most, WebSockets included (default 4096); past it new ones wait
    /// in the listen backlog instead of costing memory and descriptors.
    pub max_connections: usize,
    /// Longest request target (path and query) answered (default 8 KiB): 414 JSON past it.
    pub max_uri_bytes: usize,
    /// Most header bytes answered (default 16 KiB): 431 JSON past it.
    pub max_header_bytes: usize,
    /// Most headers answered (default 100): 431 JSON past it.
    pub max_headers: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let limits = HeadLimits {
        max_uri_bytes: config.max_uri_bytes,
        max_header_bytes: config.max_header_bytes,
        max_headers: config.max_headers,
    };
    let router = router
        .layer(axum::middleware::from_fn(move |request, next| {
            head_limits(limits, request, next)
        }))
        .layer(axum::middleware::map_response(json_errors));
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (closing, _) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.map_err(io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or similar: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            permit,
            router.clone(),
            config.clone(),
            closing.subscribe(),
        ));
    }
    closing.send_replace(true);
    // Every connection holds a slot: all slots back means all connections are done.
    let all = u32::try_from(config.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
    Ok(())
}

/// One connection: HTTP/1.1 with upgrades, closed when idle or on shutdown.
async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    permit: OwnedSemaphorePermit,
    router: Router,
    config: ServeConfig,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
        _permit: permit,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // hyper's own limits stay above ours, so ours answer (as JSON) first.
        .max_headers(config.max_headers.saturating_mul(2).max(100));
    let connection = builder
        .serve_connection(io, TowerToHyperService::new(with_peer(router, peer)))
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let check_every = (config.idle_timeout / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(check_every);
    let mut closing_sent = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            _ = ticks.tick() => {
                if activity.idle_for() >= config.idle_timeout {
                    tracing::debug!("idle keep-alive connection closed");
                    connection.as_mut().graceful_shutdown();
                    // Past the grace of one more timeout, drop it whatever it does.
                    if activity.idle_for() >= config.idle_timeout.saturating_mul(2) {
                        return;
                    }
                }
            }
            changed = closing.changed(), if !closing_sent => {
                closing_sent = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// When a connection last moved bytes.
struct Activity {
    started: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// A TCP stream that records its activity and holds its connection slot (also after a
/// WebSocket upgrade, which takes the stream over).
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[derive(Clone, Copy, Debug)]
struct HeadLimits {
    max_uri_bytes: usize,
    max_header_bytes: usize,
    max_headers: usize,
}

/// `router` with the peer's address in every request's extensions (`ConnectInfo`, for
/// handlers that limit per client), added per request rather than by layering the router
/// per connection.
fn with_peer(
    router: Router,
    peer: std::net::SocketAddr,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    tower::ServiceExt::map_request(router, move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        request
    })
}

/// 414 and 431 as JSON, below hyper's own limits (which answer with empty bodies).
async fn head_limits(limits: HeadLimits, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    if target > limits.max_uri_bytes {
        return error(StatusCode::URI_TOO_LONG, "The request target is too long.");
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > limits.max_headers || header_bytes > limits.max_header_bytes {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "The request headers are too large.",
        );
    }
    next.run(request).await
}

/// Any error answer that is not JSON yet (axum's plain-text rejections, empty bodies) gets
/// a JSON body `{"message": ...}` like every other error.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = status.canonical_reason().unwrap_or("Error").to_owned() + ".";
    let body = serde_json::json!({ "message": message }).to_string();
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn error(status: StatusCode, message: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({"message": message}))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
