//! The demo host's routes around the chat router: the page, demo login, orders (and their
//! updates, posted into the chat as system messages), avatars.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_axum::{AuthRejection, Authenticator, ChatApi, RateLimit};
use chat_core::{ChatServices, Identity};
use serde::Deserialize;
use serde_json::json;

use crate::demo::{self, DemoTokens};
use crate::mailbox::DemoMailbox;
use crate::orders::{AdvanceError, OrderStates};

/// The Content-Security-Policy of every response: scripts, styles and images only from
/// this origin, WebSockets to it; message text can never run as code.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The demo's authenticator: `Authorization: Bearer <token>`, or `?token=` on the
/// browser's WebSocket upgrade only; the identity is in the user's platform's tenant (the router checks
/// it against `X-PUBLIC-KEY`). A real host checks its own sessions or JWTs here.
struct DemoAuthenticator {
    tokens: DemoTokens,
}

#[async_trait::async_trait]
impl Authenticator for DemoAuthenticator {
    async fn authenticate(&self, parts: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
        let token = chat_axum::auth::bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| chat_axum::auth::upgrade_query_param(parts, "token"))
            .ok_or(AuthRejection::Unauthenticated)?;
        self.tokens.user_of(&token).ok_or(AuthRejection::Unauthenticated)
    }
}

#[derive(Clone)]
struct HostState {
    tokens: DemoTokens,
    services: ChatServices,
    orders: OrderStates,
    mailbox: DemoMailbox,
}

impl HostState {
    /// The demo user of the request's bearer token.
    fn caller(&self, headers: &axum::http::HeaderMap) -> Option<Identity> {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.tokens.user_of(token))
    }
}

/// Messages a user may send per second by default (bursts of three times as many).
pub const DEFAULT_SEND_RATE: u32 = 10;

/// What the host configures around the chat.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Messages a user may send per second (bursts of three times that; 0: no limit, e.g.
    /// for load tests).
    pub send_rate: u32,
    /// Origins allowed to open the chat's WebSocket (`scheme://host[:port]`); a browser
    /// page from any other origin is refused (403) before the upgrade.
    pub allowed_origins: Vec<String>,
}

impl HostConfig {
    /// The defaults for a server whose page is served at `addr` (its own origin, as
    /// `127.0.0.1` and as `localhost`).
    pub fn for_addr(addr: std::net::SocketAddr) -> Self {
        let mut allowed_origins = vec![format!("http://{addr}")];
        if addr.ip().is_loopback() {
            allowed_origins.push(format!("http://localhost:{}", addr.port()));
        }
        Self {
            send_rate: DEFAULT_SEND_RATE,
            allowed_origins,
        }
    }
}

/// The application and the chat API inside it (for shutting sockets down).
pub struct Host {
    /// Every route: the page, the demo endpoints and the chat under `/api/v1/chat`.
    pub router: Router,
    /// The chat API the router serves.
    pub api: ChatApi,
    /// The demo's notifier: hand it to a `chat_core::NotificationWorker`, and the page's
    /// notifications panel (`GET /demo/notifications`) lists what it received.
    pub mailbox: DemoMailbox,
}

/// The whole application: the host's routes plus the chat router under `/api/v1/chat`.
///
/// Two platforms share it ([`demo::PLATFORMS`]): every chat request carries its platform's
/// `X-PUBLIC-KEY`, and a user sees only the users and conversations of their own platform.
/// WebSockets are accepted only from `config.allowed_origins`. Abuse limits: a user sends
/// at most `send_rate` messages a second (bursts of three times that; 0 turns the limit
/// off), signals typing at most twice a second (10 at once) and holds at most 16 sockets
/// (the default).
pub fn app(services: ChatServices, config: &HostConfig) -> Host {
    let tokens = DemoTokens::default();
    let mailbox = DemoMailbox::default();
    let state = HostState {
        tokens: tokens.clone(),
        services: services.clone(),
        orders: OrderStates::default(),
        mailbox: mailbox.clone(),
    };
    let send_rate = config.send_rate;
    let mut api = ChatApi::new(services, Arc::new(DemoAuthenticator { tokens: tokens.clone() }))
        .with_mount_path("/api/v1/chat")
        .with_platform_keys(demo::platform_keys())
        .with_allowed_origins(config.allowed_origins.iter().cloned())
        .with_typing_rate_limit(RateLimit::per_second(2).with_burst(10));
    if send_rate > 0 {
        api = api.with_send_rate_limit(RateLimit::per_second(send_rate).with_burst(send_rate.saturating_mul(3)));
    }
    let router = Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(static_file))
        .route("/demo/users", get(users))
        .route("/demo/login", post(login))
        .route("/demo/orders", get(orders))
        .route("/demo/orders/{id}/advance", post(advance_order))
        .route("/demo/notifications", get(notifications))
        .route("/demo/avatars/{file}", get(avatar))
        .route("/favicon.ico", get(favicon))
        .route("/favicon.svg", get(favicon))
        .nest("/api/v1/chat", chat_axum::router(api.clone()))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(with_security_headers));
    Host { router, api, mailbox }
}

/// Runs [`chat_core::AttachmentService::sweep`] every `every` (the first time after one
/// interval): bytes of deleted messages' attachments and of uploads never sent go.
pub fn spawn_attachment_sweep(services: ChatServices, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            timer.tick().await;
            match services.attachments().sweep().await {
                Ok(report) => tracing::info!(removed = report.removed, "attachment sweep"),
                Err(error) => tracing::warn!(%error, "attachment sweep failed; retried next time"),
            }
        }
    })
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not found."}))).into_response()
}

async fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A download keeps the chat's own, stricter policy (a sandbox for the file).
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", include_str!("../static/index.html"))
}

/// The page's script modules and style sheet, built into the binary.
async fn static_file(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", include_str!("../static/style.css")),
        "app.js" => ("text/javascript; charset=utf-8", include_str!("../static/app.js")),
        "chat-client.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../static/chat-client.js"),
        ),
        "page.js" => ("text/javascript; charset=utf-8", include_str!("../static/page.js")),
        "inbox.js" => ("text/javascript; charset=utf-8", include_str!("../static/inbox.js")),
        "conversation.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../static/conversation.js"),
        ),
        "attachments.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../static/attachments.js"),
        ),
        "people.js" => ("text/javascript; charset=utf-8", include_str!("../static/people.js")),
        "events.js" => ("text/javascript; charset=utf-8", include_str!("../static/events.js")),
        _ => return not_found().await,
    };
    asset(content_type, body)
}

async fn users() -> Json<serde_json::Value> {
    let users: Vec<_> = demo::USERS
        .iter()
        .map(|user| {
            json!({
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "avatar_url": demo::avatar_url(user.id),
                "platform_key": user.platform_key,
                "platform": demo::platform(user.platform_key).map(|platform| platform.name),
            })
        })
        .collect();
    Json(json!({"message": "Demo users.", "data": users}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user_id: String,
}

async fn login(
    State(state): State<HostState>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(login)) = body else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"message": "Send {\"user_id\": \"...\"}."})),
        )
            .into_response();
    };
    let client = client.map(|axum::Extension(axum::extract::ConnectInfo(peer))| peer.ip());
    match state.tokens.login(&login.user_id, client) {
        Ok(login) => Json(login).into_response(),
        Err(demo::LoginRefused::TooMany(retry)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry.as_secs().max(1).to_string())],
            Json(json!({"message": "Too many logins; try again later."})),
        )
            .into_response(),
        Err(demo::LoginRefused::UnknownUser) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"message": "Unknown demo user.", "errors": {"user_id": ["is not a demo user"]}})),
        )
            .into_response(),
    }
}

fn unauthenticated() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthenticated."}))).into_response()
}

async fn orders(State(state): State<HostState>, headers: axum::http::HeaderMap) -> Response {
    let Some(me) = state.caller(&headers) else {
        return unauthenticated();
    };
    let orders: Vec<_> = demo::orders_of(me.user.as_str())
        .into_iter()
        .map(|order| {
            let status = state.orders.status(order.id);
            let mut value = json!(order);
            value["status"] = json!(status);
            value
        })
        .collect();
    Json(json!({"message": "Your orders.", "data": orders})).into_response()
}

/// `GET /demo/notifications`: what the caller would have been e-mailed, newest first.
async fn notifications(State(state): State<HostState>, headers: axum::http::HeaderMap) -> Response {
    let Some(me) = state.caller(&headers) else {
        return unauthenticated();
    };
    Json(json!({"message": "Your notifications.", "data": state.mailbox.of(&me)})).into_response()
}

/// `POST /demo/orders/{id}/advance`: the seller moves the order on; the buyer and seller's
/// conversation about it gets a system message ("Order #1001 … was shipped.").
async fn advance_order(
    State(state): State<HostState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(me) = state.caller(&headers) else {
        return unauthenticated();
    };
    let Ok(id) = id.parse::<i64>() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "No such order of yours."})),
        )
            .into_response();
    };
    match state.orders.advance(&state.services, &me, id).await {
        Ok((status, conversation)) => Json(json!({
            "message": "Order updated.",
            "data": {"id": id, "status": status, "conversation_uuid": conversation.as_uuid()},
        }))
        .into_response(),
        Err(AdvanceError::NotYours) => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "No such order of yours."})),
        )
            .into_response(),
        Err(AdvanceError::Finished) => (
            StatusCode::CONFLICT,
            Json(json!({"message": "The order is delivered already."})),
        )
            .into_response(),
        Err(AdvanceError::Chat(error)) => {
            tracing::warn!(order = id, %error, "posting an order update failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": "The order update could not be posted."})),
            )
                .into_response()
        }
    }
}

/// The page's icon (a speech bubble), for `/favicon.ico` too, so browsers find one.
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M4 6h24v16H12l-6 5v-5H4z" fill="#233047"/></svg>"##,
    )
        .into_response()
}

async fn avatar(Path(file): Path<String>) -> Response {
    let svg = file.strip_suffix(".svg").and_then(demo::avatar_svg);
    match svg {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            svg,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not found."}))).into_response(),
    }
}
