//! `GET /ws`: the caller's live events over a WebSocket. The frames, both ways, are described
//! in the crate docs ("Live events") and in the operation's OpenAPI description below.
//!
//! The upgrade is authenticated first (401 and no `101` without an identity) and checked
//! against the origin allowlist (403). The subscription to the event bus is made before the
//! `101` is sent, so no event between the upgrade and the first read is missed.

use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use chat_core::{ChatError, ChatResult, ConversationId, Event, EventPayload, EventStream, Identity, StreamError};
use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{ChatApi, WsConfig};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::parse_json;
use crate::rate_limit::{RateLimit, TokenBucket};
use crate::resources::{ConversationResource, MessageResource, timestamp};

/// Open the live event stream.
///
/// Authenticated before the upgrade. Browsers cannot set headers on a WebSocket: hosts whose
/// authenticator accepts a token in the query string (`?token=`) or a subprotocol serve them
/// that way.
///
/// Server frames: `{"type", "conversation_uuid", "data"}` with type `conversation.created`,
/// `conversation.updated` (data: the conversation resource as the recipient sees it),
/// `message.created`, `message.updated`, `message.deleted` (data: the message resource),
/// `conversation.read` (data: `{user, seq, read_at}`), `typing` (data: `{user,
/// expires_at}`); also `pong`, `error` (`{message, errors?}`) and `resync` (the client fell
/// behind: refetch, the socket closes with 1013).
///
/// Client frames: `{"type": "typing", "conversation_uuid"}`, `{"type": "read",
/// "conversation_uuid", "up_to_seq"?}`, `{"type": "ping"}`. Oversized frames close the
/// socket (1009), frames past the rate limit too (1008); silent clients are closed (1001).
#[utoipa::path(
    get,
    path = "/ws",
    tag = "live",
    params(("token" = Option<String>, Query, description = "A token for browsers, if the host's authenticator reads one from the query.")),
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
            Connection::new(api, me, socket, events).run().await;
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

/// A frame the client sends: `{"type": "typing" | "read" | "ping", ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: ClientFrameKind,
    /// The conversation of `typing` and `read`.
    #[serde(default)]
    conversation_uuid: Option<Uuid>,
    /// For `read`: up to this seq (default: the newest message).
    #[serde(default, deserialize_with = "crate::resources::optional_seq")]
    up_to_seq: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ClientFrameKind {
    /// The client is typing in a conversation.
    Typing,
    /// The client read a conversation up to a seq or the newest message.
    Read,
    /// Keep-alive at the application level; answered with `pong`.
    Ping,
}

/// A frame the server sends.
#[derive(Debug, Serialize)]
struct ServerFrame<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_uuid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// `data` of `conversation.read`.
#[derive(Debug, Serialize)]
struct ReadReceipt<'a> {
    user: &'a str,
    seq: u64,
    #[serde(serialize_with = "timestamp::serialize")]
    read_at: DateTime<Utc>,
}

/// `data` of `typing`.
#[derive(Debug, Serialize)]
struct Typing<'a> {
    user: &'a str,
    #[serde(serialize_with = "timestamp::serialize")]
    expires_at: DateTime<Utc>,
}

/// `type: error`.
#[derive(Debug, Serialize)]
struct ErrorFrame {
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

fn frame_text<T: Serialize>(kind: &'static str, conversation: Option<ConversationId>, data: Option<T>) -> String {
    let frame = ServerFrame {
        kind,
        conversation_uuid: conversation.map(|id| *id.as_uuid()),
        data,
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| format!("{{\"type\":\"{kind}\"}}"))
}

/// Why a connection ends.
enum Exit {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer sent a close frame: finish the handshake.
    PeerClosed,
    /// Drop without a close frame (the peer is gone or not reading).
    Drop,
}

/// Client frames taken at a ping tick before the idle check.
const MAX_FRAMES_PER_TICK: usize = 64;

/// How long a closing socket waits for the peer's close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

struct Connection {
    api: ChatApi,
    me: Identity,
    socket: WebSocket,
    events: EventStream,
    frame_rate: RateLimit,
    frames: TokenBucket,
    last_seen: Instant,
}

impl Connection {
    fn new(api: ChatApi, me: Identity, socket: WebSocket, events: EventStream) -> Self {
        let WsConfig {
            frames_per_second,
            frame_burst,
            ..
        } = api.ws;
        let frame_rate = RateLimit::per_second(frames_per_second).with_burst(frame_burst);
        Self {
            api,
            me,
            socket,
            events,
            frames: TokenBucket::full(&frame_rate),
            frame_rate,
            last_seen: Instant::now(),
        }
    }

    async fn run(mut self) {
        tracing::debug!(tenant = %self.me.tenant, user = %self.me.user, "websocket connected");
        let exit = self.serve().await;
        let closing = match exit {
            Exit::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                self.send(Message::Close(Some(frame))).await
            }
            Exit::PeerClosed => true,
            Exit::Drop => false,
        };
        if closing {
            // The closing handshake: read until the peer's close (or our reply to it) is
            // through, so the peer sees a clean close rather than a reset.
            let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
            let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
        }
        tracing::debug!(tenant = %self.me.tenant, user = %self.me.user, "websocket closed");
    }

    async fn serve(&mut self) -> Exit {
        let ping_every = self.api.ws.ping_interval;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // Pending events go out before client frames are handled.
                biased;
                event = self.events.recv() => match event {
                    Ok(event) => {
                        if let Some(exit) = self.deliver(&event).await {
                            return exit;
                        }
                    }
                    Err(StreamError::Lagged { skipped }) => {
                        tracing::debug!(user = %self.me.user, skipped, "websocket client fell behind: resync");
                        if !self.send_text(frame_text::<()>("resync", None, None)).await {
                            return Exit::Drop;
                        }
                        return Exit::Close(close_code::AGAIN, "resync");
                    }
                    Err(_) => return Exit::Close(close_code::RESTART, "event bus closed"),
                },
                frame = self.socket.recv() => {
                    if let Some(exit) = self.on_frame(frame).await {
                        return exit;
                    }
                }
                _ = ping.tick() => {
                    // Frames that arrived while events were being written count as activity.
                    for _ in 0..MAX_FRAMES_PER_TICK {
                        let Some(frame) = self.socket.recv().now_or_never() else { break };
                        if let Some(exit) = self.on_frame(frame).await {
                            return exit;
                        }
                    }
                    if self.last_seen.elapsed() >= self.api.ws.idle_timeout {
                        return Exit::Close(close_code::AWAY, "idle");
                    }
                    if !self.send(Message::Ping(Default::default())).await {
                        return Exit::Drop;
                    }
                }
            }
        }
    }

    /// Handles what the socket gave: a frame, an error or its end.
    async fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Option<Exit> {
        match frame {
            None => Some(Exit::Drop),
            Some(Ok(Message::Close(_))) => Some(Exit::PeerClosed),
            Some(Err(error)) => {
                tracing::debug!(user = %self.me.user, %error, "websocket read failed");
                Some(Exit::Close(close_code::SIZE, "frame too large or malformed"))
            }
            Some(Ok(message)) => {
                self.last_seen = Instant::now();
                self.receive(message).await
            }
        }
    }

    /// Sends one message unless the client does not take it in time.
    async fn send(&mut self, message: Message) -> bool {
        match tokio::time::timeout(self.api.ws.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::debug!(user = %self.me.user, "websocket client stopped reading: dropped");
                false
            }
        }
    }

    async fn send_text(&mut self, text: String) -> bool {
        self.send(Message::Text(text.into())).await
    }

    /// Sends an event to the client, rendered for it.
    async fn deliver(&mut self, event: &Event) -> Option<Exit> {
        if event.tenant != self.me.tenant || !event.recipients.contains(&self.me.user) {
            return None;
        }
        let text = match render(&self.me, event) {
            Ok(text) => text,
            Err(error) => {
                // The client misses this event: tell it to catch up from the store.
                tracing::warn!(user = %self.me.user, %error, "rendering a live event failed");
                frame_text::<()>("resync", None, None)
            }
        };
        (!self.send_text(text).await).then_some(Exit::Drop)
    }

    /// Handles one client frame.
    async fn receive(&mut self, message: Message) -> Option<Exit> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return Some(Exit::Close(close_code::UNSUPPORTED, "text frames only")),
            Message::Ping(_) => return self.take_frame_token(),
            Message::Pong(_) | Message::Close(_) => return None,
        };
        if let Some(exit) = self.take_frame_token() {
            return Some(exit);
        }
        let reply = match client_frame(&self.api, &self.me, text.as_str()).await {
            Ok(reply) => reply,
            Err(error) => Some(error_frame(error)),
        };
        match reply {
            Some(text) => (!self.send_text(text).await).then_some(Exit::Drop),
            None => None,
        }
    }

    fn take_frame_token(&mut self) -> Option<Exit> {
        self.frames
            .take(&self.frame_rate)
            .err()
            .map(|_| Exit::Close(close_code::POLICY, "rate limit exceeded"))
    }
}

/// Parses and runs one client text frame for `me`: the text to answer with, if any, or the
/// rejection (sent to the client as an `error` frame; always a 4xx kind of error unless the
/// store fails).
async fn client_frame(api: &ChatApi, me: &Identity, text: &str) -> Result<Option<String>, ApiError> {
    let frame = parse_json::<ClientFrame>(text.as_bytes())?;
    if frame.kind == ClientFrameKind::Ping {
        return Ok(Some(frame_text::<()>("pong", None, None)));
    }
    let Some(conversation) = frame.conversation_uuid.map(ConversationId::from_uuid) else {
        return Err(ApiError::invalid("conversation_uuid", "is required"));
    };
    if frame.kind == ClientFrameKind::Typing {
        if let Some(limiter) = &api.typing_limiter {
            limiter
                .check(me)
                .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
        }
        api.services.messages().typing(me, conversation).await?;
    } else {
        api.services
            .conversations()
            .mark_read(me, conversation, frame.up_to_seq)
            .await?;
    }
    Ok(None)
}

fn error_frame(error: ApiError) -> String {
    let message = error.message();
    let errors = match error {
        ApiError::Validation(errors) => Some(errors.fields().clone()),
        ApiError::Internal(source) => {
            tracing::error!(error = %source, "websocket frame failed");
            None
        }
        _ => None,
    };
    let frame = ErrorFrame {
        kind: "error",
        message,
        errors,
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| "{\"type\":\"error\"}".to_owned())
}

/// The event as the JSON text frame `me` receives.
///
/// Events arrive rendered by the services (one directory batch for all recipients); only
/// the recipient's own fields are picked here, from its row in the event.
fn render(me: &Identity, event: &Event) -> ChatResult<String> {
    let conversation = Some(event.conversation_id);
    let kind = event.payload.type_name();
    let text = match &event.payload {
        EventPayload::ConversationCreated(view) | EventPayload::ConversationUpdated(view) => frame_text(
            kind,
            conversation,
            Some(ConversationResource::for_viewer(view, &me.user)),
        ),
        EventPayload::MessageCreated(view)
        | EventPayload::MessageUpdated(view)
        | EventPayload::MessageDeleted(view) => frame_text(kind, conversation, Some(MessageResource::from(view))),
        EventPayload::ConversationRead { user, seq, read_at } => frame_text(
            kind,
            conversation,
            Some(ReadReceipt {
                user: user.as_str(),
                seq: *seq,
                read_at: *read_at,
            }),
        ),
        EventPayload::Typing { user, expires_at } => frame_text(
            kind,
            conversation,
            Some(Typing {
                user: user.as_str(),
                expires_at: *expires_at,
            }),
        ),
        other => {
            // A kind this crate does not know yet: its own serialization's `data`.
            let mut value = serde_json::to_value(other).map_err(ChatError::backend)?;
            let data = value.get_mut("data").map(serde_json::Value::take);
            frame_text(kind, conversation, data)
        }
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse() {
        let uuid = Uuid::now_v7();
        let frame: ClientFrame = serde_json::from_str(&format!(
            r#"{{"type":"read","conversation_uuid":"{uuid}","up_to_seq":3}}"#
        ))
        .expect("read");
        assert_eq!(frame.kind, ClientFrameKind::Read);
        assert_eq!(frame.up_to_seq, Some(3));
        assert_eq!(frame.conversation_uuid, Some(uuid));
        let frame: ClientFrame = serde_json::from_str(r#"{"type":"ping"}"#).expect("ping");
        assert_eq!(frame.kind, ClientFrameKind::Ping);
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","x":1}"#).is_err());
        assert_eq!(frame_text::<()>("pong", None, None), r#"{"type":"pong"}"#);
    }

    #[test]
    fn error_frames_carry_fields() {
        let text = error_frame(ApiError::invalid("conversation_uuid", "must be a valid UUID"));
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "error");
        assert_eq!(value["errors"]["conversation_uuid"][0], "must be a valid UUID");
    }

    /// Arbitrary text and arbitrary JSON thrown at the client frame handler: it never panics
    /// and every rejection is a client error (4xx), never a server error.
    mod frames_property {
        use std::sync::Arc;

        use chat_core::testing::MemoryStore;
        use chat_core::{ChatServices, InMemoryDirectory, Profile, StartDirect, TenantId, UserId};
        use proptest::prelude::*;

        use super::*;
        use crate::auth::{AuthRejection, Authenticator};

        struct NoAuth;

        #[async_trait::async_trait]
        impl Authenticator for NoAuth {
            async fn authenticate(&self, _: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
                Err(AuthRejection::Unauthenticated)
            }
        }

        fn setup(runtime: &tokio::runtime::Runtime) -> (ChatApi, Identity, Uuid) {
            let tenant = TenantId::default();
            let ana = UserId::new("ana").expect("user");
            let bo = UserId::new("bo").expect("user");
            let directory = InMemoryDirectory::new()
                .with_profile(&tenant, Profile::new(ana.clone(), "Ana"))
                .with_profile(&tenant, Profile::new(bo.clone(), "Bo"));
            let services = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory));
            let me = Identity::new(tenant, ana);
            let input = StartDirect {
                counterpart: bo,
                tag: None,
                metadata: Default::default(),
            };
            let (view, _) = runtime
                .block_on(services.conversations().start_direct(&me, input))
                .expect("conversation");
            let api = ChatApi::new(services, Arc::new(NoAuth));
            (api, me, *view.conversation.id.as_uuid())
        }

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
                ),
                ".{0,40}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::btree_map(".{0,12}", inner, 0..6)
                        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// Frames close to valid ones: known and unknown types, real, random and malformed
        /// conversation ids, any `up_to_seq`, sometimes an extra field.
        fn near_frame(conversation: Uuid) -> impl Strategy<Value = String> {
            let kind = prop_oneof![
                Just(serde_json::json!("typing")),
                Just(serde_json::json!("read")),
                Just(serde_json::json!("ping")),
                json_value(),
            ];
            let id = prop_oneof![
                Just(serde_json::json!(conversation.to_string())),
                any::<u128>().prop_map(|n| serde_json::json!(Uuid::from_u128(n).to_string())),
                json_value(),
            ];
            (
                kind,
                prop::option::of(id),
                prop::option::of(json_value()),
                prop::option::of((".{0,10}", json_value())),
            )
                .prop_map(|(kind, id, seq, extra)| {
                    let mut frame = serde_json::Map::new();
                    frame.insert("type".into(), kind);
                    if let Some(id) = id {
                        frame.insert("conversation_uuid".into(), id);
                    }
                    if let Some(seq) = seq {
                        frame.insert("up_to_seq".into(), seq);
                    }
                    if let Some((key, value)) = extra {
                        frame.insert(key, value);
                    }
                    serde_json::Value::Object(frame).to_string()
                })
        }

        fn check(
            runtime: &tokio::runtime::Runtime,
            api: &ChatApi,
            me: &Identity,
            text: &str,
        ) -> Result<(), TestCaseError> {
            match runtime.block_on(client_frame(api, me, text)) {
                Ok(_) => Ok(()),
                Err(error) => {
                    prop_assert!(error.status().is_client_error(), "{text:?} -> {:?}", error.status());
                    Ok(())
                }
            }
        }

        fn cases() -> u32 {
            std::env::var("CHAT_PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(512)
        }

        #[test]
        fn arbitrary_text_and_json_frames_are_answered_with_4xx_at_worst() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let (api, me, conversation) = setup(&runtime);
            let config = ProptestConfig::with_cases(cases());
            proptest!(config, |(bytes in prop::collection::vec(any::<u8>(), 0..256),
                               value in json_value(),
                               frame in near_frame(conversation))| {
                check(&runtime, &api, &me, &String::from_utf8_lossy(&bytes))?;
                check(&runtime, &api, &me, &value.to_string())?;
                check(&runtime, &api, &me, &frame)?;
            });
        }

        #[test]
        fn valid_frames_are_accepted() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let (api, me, conversation) = setup(&runtime);
            for text in [
                r#"{"type":"ping"}"#.to_owned(),
                format!(r#"{{"type":"typing","conversation_uuid":"{conversation}"}}"#),
                format!(r#"{{"type":"read","conversation_uuid":"{conversation}","up_to_seq":3.0}}"#),
            ] {
                assert!(runtime.block_on(client_frame(&api, &me, &text)).is_ok(), "{text}");
            }
            let stranger = format!(r#"{{"type":"read","conversation_uuid":"{}"}}"#, Uuid::now_v7());
            let error = runtime
                .block_on(client_frame(&api, &me, &stranger))
                .expect_err("not a member");
            assert_eq!(error.status(), axum::http::StatusCode::NOT_FOUND);
        }
    }
}
