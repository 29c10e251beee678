//! One upgraded socket: the [`Connection`] loop sends the caller's events, handles its
//! frames within the frame rate limit, pings it, closes it when idle and finishes the closing
//! handshake.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use chat_core::{Event, EventPayload, EventStream, Identity, StreamError};
use futures_util::FutureExt as _;

use crate::api::{ChatApi, WsConfig};
use crate::rate_limit::{RateLimit, TokenBucket};
use crate::ws::client_frame::client_frame;
use crate::ws::error_frame::error_frame;
use crate::ws::frames::frame_text;
use crate::ws::render::render;

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

/// Resolves once the server shuts down.
async fn shutting_down(receiver: &mut tokio::sync::watch::Receiver<bool>) {
    // The sender lives as long as the API this connection holds, so this cannot fail.
    let _ = receiver.wait_for(|down| *down).await;
}

/// One upgraded socket of `me`, with its event subscription and frame rate limit.
pub(super) struct Connection {
    api: ChatApi,
    me: Identity,
    socket: WebSocket,
    events: EventStream,
    frame_rate: RateLimit,
    frames: TokenBucket,
    last_seen: Instant,
    /// Turns true when the server shuts down.
    shutting_down: tokio::sync::watch::Receiver<bool>,
    /// The number of the last ping sent (its payload, big-endian).
    pings_sent: u64,
    /// The number of the last ping the client answered.
    pings_answered: u64,
}

impl Connection {
    pub(super) fn new(
        api: ChatApi,
        me: Identity,
        socket: WebSocket,
        events: EventStream,
        shutting_down: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
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
            shutting_down,
            pings_sent: 0,
            pings_answered: 0,
        }
    }

    /// Serves the socket until it ends, then closes it.
    pub(super) async fn run(mut self) {
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
                () = shutting_down(&mut self.shutting_down) => {
                    return Exit::Close(close_code::AWAY, "server shutting down");
                }
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
                    self.pings_sent += 1;
                    let payload = self.pings_sent.to_be_bytes().to_vec();
                    if !self.send(Message::Ping(payload.into())).await {
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
            Some(Ok(message)) => self.receive(message).await,
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
    async fn deliver(&mut self, event: &Arc<Event>) -> Option<Exit> {
        if event.tenant != self.me.tenant || !event.recipients.contains(&self.me.user) {
            return None;
        }
        let text = match render(&self.me, event, &self.api) {
            Ok(text) => text,
            Err(error) => {
                // The client misses this event: tell it to catch up from the store.
                tracing::warn!(user = %self.me.user, %error, "rendering a live event failed");
                frame_text::<()>("resync", None, None)
            }
        };
        if !self.send_text(text).await {
            return Some(Exit::Drop);
        }
        // The message reached one of the recipient's devices: a receipt, batched by the
        // services (one store write per conversation per batch, not one per frame).
        if let EventPayload::MessageCreated(view) = &event.payload {
            if !view.is_from(&self.me.user) {
                self.api
                    .services
                    .conversations()
                    .delivered_later(&self.me, event.conversation_id, view.message.seq)
                    .await;
            }
        }
        None
    }

    /// Handles one client frame. Every frame counts against the frame rate, pongs included
    /// (a pong flood is a flood); only a pong answering one of our pings, or a frame the
    /// client chose to send (text, ping), shows the client is alive.
    async fn receive(&mut self, message: Message) -> Option<Exit> {
        if let Message::Close(_) = message {
            return None;
        }
        if let Some(exit) = self.take_frame_token() {
            return Some(exit);
        }
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return Some(Exit::Close(close_code::UNSUPPORTED, "text frames only")),
            Message::Ping(_) => {
                self.last_seen = Instant::now();
                return None;
            }
            Message::Pong(payload) => {
                if let Some(answered) = self.answered_ping(&payload) {
                    self.pings_answered = answered;
                    self.last_seen = Instant::now();
                }
                return None;
            }
            Message::Close(_) => return None,
        };
        self.last_seen = Instant::now();
        let reply = match client_frame(&self.api, &self.me, text.as_str()).await {
            Ok(reply) => reply,
            Err(error) => Some(error_frame(error)),
        };
        match reply {
            Some(text) => (!self.send_text(text).await).then_some(Exit::Drop),
            None => None,
        }
    }

    /// The number of the ping `payload` answers, if it is one we sent and that was not
    /// answered yet; `None` for an unsolicited pong.
    fn answered_ping(&self, payload: &[u8]) -> Option<u64> {
        let number = u64::from_be_bytes(payload.try_into().ok()?);
        (number > self.pings_answered && number <= self.pings_sent).then_some(number)
    }

    fn take_frame_token(&mut self) -> Option<Exit> {
        self.frames
            .take(&self.frame_rate)
            .err()
            .map(|_| Exit::Close(close_code::POLICY, "rate limit exceeded"))
    }
}
