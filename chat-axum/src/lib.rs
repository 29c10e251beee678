//! # chat-axum
//!
//! The HTTP API, live events over WebSocket and the OpenAPI document of the chat library, as
//! one axum [`Router`] a host nests under its own prefix.
//!
//! The host supplies two things: an [`Authenticator`] (request parts -> tenant and user, or
//! 401) and the [`ChatServices`](chat_core::ChatServices) built over its store and its
//! [`UserDirectory`](chat_core::UserDirectory). Everything else (validation, authorization,
//! profiles, events) lives in `chat-core`; this crate is the wire format.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use chat_axum::{AuthRejection, Authenticator, ChatApi};
//! use chat_core::{ChatServices, Identity, TenantId, UserId};
//!
//! struct MyAuth;
//!
//! #[async_trait::async_trait]
//! impl Authenticator for MyAuth {
//!     async fn authenticate(&self, parts: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
//!         // Look the token up in the host's session table; the query form is for browsers'
//!         // WebSockets, which cannot set headers.
//!         let token = chat_axum::auth::bearer_token(parts)
//!             .map(str::to_owned)
//!             .or_else(|| chat_axum::auth::upgrade_query_param(parts, "token"))
//!             .ok_or(AuthRejection::Unauthenticated)?;
//!         let user = UserId::new(token).map_err(|_| AuthRejection::Unauthenticated)?;
//!         Ok(Identity::new(TenantId::default(), user))
//!     }
//! }
//!
//! # fn demo(services: ChatServices) {
//! #[derive(Clone)]
//! struct HostState;
//!
//! let api = ChatApi::new(services, Arc::new(MyAuth))
//!     .with_allowed_origins(["https://shop.example"]);
//! let app: Router<HostState> = Router::new().nest("/api/v1/chat", chat_axum::router(api));
//! let app: Router = app.with_state(HostState);
//! # }
//! ```
//!
//! ## Choices made here
//!
//! - **Errors are JSON, always.** Malformed JSON, wrong types, unknown fields and malformed
//!   ids in paths or queries are 422 with `errors` per field; oversized bodies 413; unknown
//!   routes 404 and wrong methods 405, all as `{"message": ...}`. A 500 carries a
//!   `request_id` (the incoming `x-request-id` when it is a plain token, otherwise a new one)
//!   and logs the cause under that id; the body never shows internals.
//! - **Order of checks**: authentication (401), then path and query (422), then the body
//!   (413, 415, 422), then the service (404, 403, 409, 422). A conversation the caller is not
//!   in answers exactly like one that does not exist.
//! - **JSON bodies need `Content-Type: application/json`** (415 otherwise), which also keeps
//!   cross-site form posts out. Endpoints whose body is optional accept an empty body or JSON
//!   `null`. Server-owned fields (sender, seq, tenant, ids, timestamps) in a body are unknown
//!   fields: 422 `is not allowed`.
//! - **The document is exact.** `GET /openapi.json` carries the [`Limits`](chat_core::Limits)
//!   in force as lengths, ranges and patterns, and the server accepts exactly what it
//!   describes: query booleans are `true`/`1` or `false`/`0` (PHP and Laravel clients send
//!   the latter; empty is absent), integers are decimal digits, a whole JSON number like `2.0` is an integer, `client_message_id` is printable
//!   ASCII. Fuzzed with schemathesis (`examples/marketplace/fuzz/run.sh`).
//! - **Abuse limits** are the host's to set: sends and typing per user
//!   ([`ChatApi::with_send_rate_limit`], [`ChatApi::with_typing_rate_limit`], 429 with
//!   `Retry-After`), sockets per user ([`WsConfig::max_connections_per_user`], default 16),
//!   client frames per socket, body and frame sizes.
//! - **Platforms**: a deployment serving several platforms configures [`PlatformKeys`]
//!   ([`ChatApi::with_platform_keys`]); every authenticated request then needs a known
//!   `X-PUBLIC-KEY` (401 naming the header) and the authenticator's tenant must be the key's.
//! - **Contacts**: `GET /users?q=&limit=` lists public profiles from the host's
//!   [`UserDirectory::search`](chat_core::UserDirectory::search), never the caller.
//! - **Attachments**: `POST /conversations/{uuid}/attachments?name=` takes the raw file as
//!   a streamed body (not bound by the JSON body limit: the services stop it at
//!   [`Limits::attachment_max_bytes`](chat_core::Limits::attachment_max_bytes), 413, and a
//!   declared `Content-Length` past it is refused before a byte is read); downloads are
//!   members only, with `nosniff`, a sandboxing CSP ([`DOWNLOAD_CSP`]) and `inline` only for
//!   allowed raster images. Set [`ChatApi::with_mount_path`] so that attachment `url`s are
//!   paths clients can fetch.
//! - **Repeated sends**: a repeated `client_message_id` answers 200 with the stored message
//!   (201 only when a message was created), like find-or-create of direct conversations.
//! - **User ids** are the host's strings; `participant_uuid(s)` also accept JSON integers
//!   (`42` is user `"42"`) and answers show them as strings. `taggable_id` keeps its form.
//! - **WebSocket**: events are written in order with a send timeout; a client that stops
//!   reading either lags behind the bus (it is sent `{"type":"resync"}` and closed) or blocks
//!   a write past the timeout (closed). Pending events go out before a client frame is
//!   handled.
//!
//! ## Live events (`GET /ws`)
//!
//! The upgrade is authenticated like any request (401, no `101`), checked against the origin
//! allowlist (403) and the per-user socket cap (429). With [`PlatformKeys`], browsers pass
//! the platform key as `?public_key=` (they cannot set `X-PUBLIC-KEY` there).
//!
//! Server frames are JSON text, `{"type": ..., "conversation_uuid": ..., "data": ...}`:
//!
//! | type | data |
//! |---|---|
//! | `conversation.created`, `conversation.updated` | the conversation resource, as the recipient sees it |
//! | `message.created`, `message.updated`, `message.deleted` | the message resource |
//! | `conversation.read` | `{"user", "seq", "read_at"}`: a read receipt |
//! | `conversation.delivered` | `{"receipts": [{"user", "seq", "delivered_at"}]}`: delivery receipts written together |
//! | `message.reactions` | `{"message_uuid", "seq", "reactions": [{"emoji", "count", "me"}]}`: the message's whole summary |
//! | `typing` | `{"user", "expires_at"}` |
//! | `pong` | answer to a client `ping` (no `conversation_uuid`, no `data`) |
//! | `error` | `{"message", "errors"?}`: a client frame was refused |
//! | `resync` | the client fell behind: fetch the inbox and `messages?after=seq`; the socket closes (1013) |
//!
//! Client frames: `{"type": "typing", "conversation_uuid": ...}`,
//! `{"type": "read", "conversation_uuid": ..., "up_to_seq"?: n}`,
//! `{"type": "delivered", "conversation_uuid": ..., "up_to_seq"?: n}` and `{"type": "ping"}`.
//! A `message.created` written to a recipient's socket delivers the message for them
//! (receipts batched by the services: one store write per conversation per interval).
//! A frame larger than [`Limits::ws_frame_max_bytes`](chat_core::Limits) closes the socket
//! (1009), binary frames close it (1003), frames past the rate of [`WsConfig`] close it
//! (1008); every client frame counts against that rate, pongs included. The server pings
//! every [`ping_interval`](WsConfig::ping_interval); a client silent for
//! [`idle_timeout`](WsConfig::idle_timeout) is closed (1001), and a pong is a sign of life
//! only when it answers one of those pings (unsolicited pongs keep no socket open). A write
//! the client does not take within [`send_timeout`](WsConfig::send_timeout) drops the
//! socket. [`ChatApi::shutdown_websockets`] closes every socket with 1001 (going away).
#![forbid(unsafe_code)]

mod api;
pub mod auth;
pub mod error;
mod event_frames;
pub mod extract;
pub mod openapi;
pub mod platform;
pub mod rate_limit;
pub mod resources;
mod routes;
mod shutdown;
mod taggable_id;
#[cfg(feature = "webhook")]
pub mod webhook;
mod ws;

pub use api::{ChatApi, WsConfig};
pub use auth::{AuthRejection, Authenticator, Caller};
pub use error::ApiError;
pub use openapi::{openapi, openapi_value};
pub use platform::PlatformKeys;
pub use rate_limit::RateLimit;
pub use routes::attachments::DOWNLOAD_CSP;

use axum::Router;

/// The chat API as a router that carries its own state, ready to nest under any prefix of a
/// host router whatever the host's state type `S`.
///
/// Serves every endpoint of the HTTP contract, `GET /ws` and `GET /openapi.json`. Unknown
/// paths answer 404 and wrong methods 405, both as JSON. The request body limit of the
/// services' [`Limits`](chat_core::Limits) is applied here (413 past it).
pub fn router<S>(api: ChatApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes::build(api)
}
