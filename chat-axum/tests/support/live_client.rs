//! The client side of the live-delivery tests (chat-axum's `live_delivery` and
//! chat-bus-redis's two-node one include this file): a client that follows its conversation
//! over the socket and recovers over HTTP, counting what the socket repeated or reordered.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use chat_axum::{AuthRejection, Authenticator};
use chat_core::{ConversationId, Identity, TenantId, UserId};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

/// The bearer token is the user id, in the default tenant.
pub struct UserIdTokens;

#[async_trait]
impl Authenticator for UserIdTokens {
    async fn authenticate(&self, parts: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
        let token = chat_axum::auth::bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| chat_axum::auth::upgrade_query_param(parts, "token"))
            .ok_or(AuthRejection::Unauthenticated)?;
        let user = UserId::new(token).map_err(|_| AuthRejection::Unauthenticated)?;
        Ok(Identity::new(TenantId::default(), user))
    }
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

pub fn user(index: usize) -> UserId {
    UserId::new(format!("u{index}")).expect("user id")
}

/// The messages of `conversation` after `after`, over HTTP through the same router.
async fn catch_up(router: &Router, user: usize, conversation: ConversationId, after: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut after = after;
    loop {
        let request = Request::get(format!(
            "/conversations/{conversation}/messages?after={after}&limit=100"
        ))
        .header(header::AUTHORIZATION, format!("Bearer u{user}"))
        .body(Body::empty())
        .expect("request");
        let response = router.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let page: Value = serde_json::from_slice(&body).expect("json");
        let page_seqs: Vec<u64> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .collect();
        let Some(&last) = page_seqs.last() else { return seqs };
        after = last;
        seqs.extend(page_seqs);
    }
}

#[derive(Default, Debug)]
pub struct ClientReport {
    pub seqs: Vec<u64>,
    pub socket_duplicates: usize,
    pub socket_reorders: usize,
    pub recoveries: usize,
}

/// One client: follows its conversation over the socket, recovering over HTTP after a gap,
/// a `resync`, a closed socket, or (when `drop_after` is set) a deliberate disconnect.
pub async fn client(
    addr: SocketAddr,
    router: Router,
    me: usize,
    conversation: ConversationId,
    expected: u64,
    drop_after: Option<u64>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut dropped = false;
    let url = format!("ws://{addr}/ws?token=u{me}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    'sessions: while report.seqs.len() < expected as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client u{me} did not get every message in time"
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
        // Whatever was sent while no socket was open comes over HTTP.
        let last = report.seqs.last().copied().unwrap_or(0);
        let missed = catch_up(&router, me, conversation, last).await;
        if !missed.is_empty() && last > 0 {
            report.recoveries += 1;
        }
        report.seqs.extend(missed);
        let mut socket_seen = std::collections::HashSet::new();
        let mut socket_last = 0;
        while report.seqs.len() < expected as usize {
            let frame = match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(_)) | None) => continue 'sessions,
                Err(_) => {
                    // Quiet socket: the store is the truth.
                    let last = report.seqs.last().copied().unwrap_or(0);
                    report.seqs.extend(catch_up(&router, me, conversation, last).await);
                    continue;
                }
            };
            let Message::Text(text) = frame else { continue };
            let event: Value = serde_json::from_str(text.as_str()).expect("json frame");
            match event["type"].as_str() {
                Some("resync") => {
                    report.recoveries += 1;
                    continue 'sessions;
                }
                Some("message.created") => {
                    let seq = event["data"]["seq"].as_u64().expect("seq");
                    if !socket_seen.insert(seq) {
                        report.socket_duplicates += 1;
                    }
                    if seq < socket_last {
                        report.socket_reorders += 1;
                    }
                    socket_last = socket_last.max(seq);
                    let last = report.seqs.last().copied().unwrap_or(0);
                    if seq == last + 1 {
                        report.seqs.push(seq);
                    } else if seq > last + 1 {
                        report.recoveries += 1;
                        report.seqs.extend(catch_up(&router, me, conversation, last).await);
                    }
                    if drop_after.is_some_and(|at| !dropped && seq >= at) {
                        dropped = true;
                        drop(socket);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue 'sessions;
                    }
                }
                _ => {}
            }
        }
    }
    report
}
