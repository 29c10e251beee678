//! `GET /ws`: the caller's live events over a WebSocket. The frames, both ways, are described
//! in the crate docs ("Live events") and in the operation's OpenAPI description below.
//!
//! The upgrade is authenticated first (401 and no `101` without an identity) and checked
//! against the origin allowlist (403). The subscription to the event bus is made before the
//! `101` is sent, so no event between the upgrade and the first read is missed.
//!
//! The parts, each in its own file:
//!
//! - this file: the upgrade handler ([`websocket`]) with its origin check;
//! - [`connection`]: one upgraded socket's loop: events out, client frames in, the frame rate
//!   limit, pings, the idle timeout and the closing handshake;
//! - [`frames`]: the frame types both ways (client frames, server frames and their `data`);
//! - [`render`]: an event as the JSON text frame its recipient receives;
//! - [`client_frame`]: parsing and running one client text frame (`typing`, `read`,
//!   `delivered`, `ping`);
//! - [`error_frame`]: a rejected client frame as an `error` frame.

mod client_frame;
mod connection;
mod error_frame;
mod frames;
mod render;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::ws::connection::Connection;

/// Open the live event stream.
///
/// Authenticated before the upgrade. Browsers cannot set headers on a WebSocket: hosts whose
/// authenticator accepts a token in the query string (`?token=`) or a subprotocol serve them
/// that way, and with platform keys the key may come as `?public_key=`.
///
/// Server frames: `{"type", "conversation_uuid", "data"}` with type `conversation.created`,
/// `conversation.updated` (data: the conversation resource as the recipient sees it),
/// `message.created`, `message.updated`, `message.deleted` (data: the message resource),
/// `conversation.read` (data: `{user, seq, read_at}`), `conversation.delivered` (data:
/// `{receipts: [{user, seq, delivered_at}]}`, the receipts of one batch), `message.reactions` (data: `{message_uuid, seq, reactions:
/// [{emoji, count, me}]}`), `typing` (data: `{user, expires_at}`); also `pong`, `error`
/// (`{message, errors?}`) and `resync` (the client fell behind: refetch, the socket closes
/// with 1013). A `message.created` written to a socket delivers the message for its
/// recipient (batched receipts, see `ConversationService::delivered_later`).
///
/// Client frames: `{"type": "typing", "conversation_uuid"}`, `{"type": "read",
/// "conversation_uuid", "up_to_seq"?}`, `{"type": "delivered", "conversation_uuid",
/// "up_to_seq"?}`, `{"type": "ping"}`. Oversized frames close the
/// socket (1009), frames past the rate limit too (1008); silent clients are closed (1001).
#[utoipa::path(
    get,
    path = "/ws",
    tag = "live",
    params(
        ("token" = Option<String>, Query, description = "A token for browsers, if the host's authenticator reads one from the query."),
        ("public_key" = Option<String>, Query, description = "The platform key for browsers, when the host serves several platforms (`X-PUBLIC-KEY` wins when both are sent)."),
    ),
    responses(
        (status = 101, description = "Switching protocols: live events follow as JSON text frames."),
        (status = 401, description = "Unauthenticated; no upgrade.", body = ErrorBody),
        (status = 403, description = "Origin not allowed.", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request.", body = ErrorBody),
        (status = 429, description = "The user has as many sockets open as allowed; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub(crate) async fn websocket(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(&api, &headers)?;
    let upgrade = upgrade.map_err(|_| ApiError::UpgradeRequired)?;
    let guard = api
        .ws_connections
        .acquire(&me, api.ws.max_connections_per_user)
        .ok_or(ApiError::TooManyRequests {
            retry_after: std::time::Duration::from_secs(1),
        })?;
    let frame_limit = api.limits().ws_frame_max_bytes;
    // Small buffers keep an idle socket cheap (tungstenite reserves 128 KiB for reading by
    // default); frames are bounded by `frame_limit` anyway, and events are written at once.
    let mut upgrade = upgrade
        .max_frame_size(frame_limit)
        .max_message_size(frame_limit)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(frame_limit.max(64 * 1024) * 4);
    if !api.ws.protocols.is_empty() {
        upgrade = upgrade.protocols(api.ws.protocols.clone());
    }
    let events = api.services.event_bus().subscribe_live(&me.tenant, &me.user).await;
    Ok(upgrade
        .on_failed_upgrade(|error| tracing::debug!(%error, "websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let lifecycle = std::sync::Arc::clone(&api.lifecycle);
            let (open, shutting_down) = lifecycle.opened();
            Connection::new(api, me, socket, events, shutting_down).run().await;
            drop(open);
            drop(guard);
        }))
}

fn check_origin(api: &ChatApi, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(allowed) = &api.allowed_origins else {
        return Ok(());
    };
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser: origin checks protect browsers' ambient credentials only.
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
        .map_err(|_| ApiError::OriginNotAllowed)?;
    if allowed.contains(&origin) {
        Ok(())
    } else {
        Err(ApiError::OriginNotAllowed)
    }
}
