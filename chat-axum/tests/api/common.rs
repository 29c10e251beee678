//! The test host: a memory store, a directory of named users, a token authenticator and the
//! router, called in process (`oneshot`) or served on 127.0.0.1:0.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chat_axum::{AuthRejection, Authenticator, ChatApi};
use chat_core::testing::MemoryStore;
use chat_core::{
    ChatError, ChatResult, ChatServices, Identity, InMemoryDirectory, InProcessEventBus, Limits, Profile, TenantId,
    UserDirectory, UserId,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The tenant of the test users.
pub const TENANT: &str = "acme";

/// The user whose profile lookup fails, to provoke a 500.
pub const EXPLODING_USER: &str = "explode";

/// Names of `u0`, `u1`, … (accents on purpose).
pub const NAMES: [&str; 6] = [
    "Ana Souza",
    "Bruno Díaz",
    "Chloé Martin",
    "Darío Pérez",
    "Emeka Obi",
    "Fatima Zahra",
];

/// The batch interval of socket delivery receipts in apps that do not ask for another: long
/// enough that no `conversation.delivered` from a batch lands among the frames a test
/// expects in order (the receipts have tests of their own: `message_features`).
pub const HELD_RECEIPTS: Duration = Duration::from_secs(3600);

/// How many users (`u0` … `u255`) the directory knows: a group of the default maximum size.
pub const GROUP_USERS: usize = 256;

/// Tokens are `tenant:user`; `?token=` is accepted too (for browsers' WebSockets).
pub struct TokenAuth;

#[async_trait]
impl Authenticator for TokenAuth {
    async fn authenticate(&self, parts: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
        let token = chat_axum::auth::bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| chat_axum::auth::upgrade_query_param(parts, "token"))
            .ok_or(AuthRejection::Unauthenticated)?;
        let (tenant, user) = token.split_once(':').ok_or(AuthRejection::Unauthenticated)?;
        let tenant = TenantId::new(tenant).map_err(|_| AuthRejection::Unauthenticated)?;
        let user = UserId::new(user).map_err(|_| AuthRejection::Unauthenticated)?;
        Ok(Identity::new(tenant, user))
    }
}

/// The in-memory directory, counting batch lookups, failing for [`EXPLODING_USER`].
pub struct CountingDirectory {
    inner: InMemoryDirectory,
    pub profile_calls: AtomicUsize,
}

#[async_trait]
impl UserDirectory for CountingDirectory {
    async fn profiles(&self, tenant: &TenantId, users: &[UserId]) -> ChatResult<HashMap<UserId, Profile>> {
        self.profile_calls.fetch_add(1, Ordering::SeqCst);
        if users.iter().any(|user| user.as_str() == EXPLODING_USER) {
            return Err(ChatError::backend(
                "connection to users-db.internal:5432 refused (password=hunter2)",
            ));
        }
        self.inner.profiles(tenant, users).await
    }

    async fn search(&self, tenant: &TenantId, query: &str, limit: usize) -> ChatResult<Vec<UserId>> {
        self.inner.search(tenant, query, limit).await
    }
}

/// What a call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

/// The test host.
pub struct TestApp {
    pub router: Router,
    pub api: ChatApi,
    pub directory: Arc<CountingDirectory>,
    /// Where attachments go.
    pub objects: Arc<object_store::memory::InMemory>,
}

pub fn user(index: usize) -> UserId {
    UserId::new(format!("u{index}")).expect("user id")
}

/// The bearer token of user `index`.
pub fn token(index: usize) -> String {
    format!("{TENANT}:u{index}")
}

impl TestApp {
    pub fn new() -> Self {
        Self::build(Limits::default(), 256, |api| api)
    }

    pub fn build(limits: Limits, bus_capacity: usize, configure: impl FnOnce(ChatApi) -> ChatApi) -> Self {
        Self::build_with_receipts(limits, bus_capacity, HELD_RECEIPTS, configure)
    }

    /// A default app whose batched socket delivery receipts are written every `interval`.
    pub fn with_receipts_every(interval: Duration) -> Self {
        Self::build_with_receipts(Limits::default(), 256, interval, |api| api)
    }

    /// As [`TestApp::build`], writing batched socket receipts every `receipts`.
    pub fn build_with_receipts(
        limits: Limits,
        bus_capacity: usize,
        receipts: Duration,
        configure: impl FnOnce(ChatApi) -> ChatApi,
    ) -> Self {
        Self::assemble(limits, bus_capacity, receipts, |services| services, configure)
    }

    /// A default app whose services also get `policy`.
    pub fn with_message_policy(policy: Arc<dyn chat_core::policy::MessagePolicy>) -> Self {
        Self::assemble(
            Limits::default(),
            256,
            HELD_RECEIPTS,
            |services| services.with_message_policy(policy),
            |api| api,
        )
    }

    fn assemble(
        limits: Limits,
        bus_capacity: usize,
        receipts: Duration,
        services: impl FnOnce(ChatServices) -> ChatServices,
        configure: impl FnOnce(ChatApi) -> ChatApi,
    ) -> Self {
        let tenant = TenantId::new(TENANT).expect("tenant");
        let mut directory = InMemoryDirectory::new();
        for (index, name) in NAMES.iter().enumerate() {
            let mut profile =
                Profile::new(user(index), *name).with_avatar_url(format!("https://cdn.test/u{index}.png"));
            if index == 0 {
                // A public field the host chose to show.
                profile
                    .extra
                    .insert("headline".into(), Value::from("Ceramics from Porto"));
            }
            directory = directory.with_profile(&tenant, profile);
        }
        // Enough plain members beyond the named users for the largest group.
        for index in NAMES.len()..GROUP_USERS {
            directory = directory.with_profile(&tenant, Profile::new(user(index), format!("Member {index}")));
        }
        // Same user ids in another tenant: tenants never see each other.
        let other = TenantId::new("other").expect("tenant");
        for index in 0..2 {
            directory = directory.with_profile(&other, Profile::new(user(index), format!("Other {index}")));
        }
        let directory = Arc::new(CountingDirectory {
            inner: directory,
            profile_calls: AtomicUsize::new(0),
        });
        let objects = Arc::new(object_store::memory::InMemory::new());
        let services_of = services;
        let services = ChatServices::new(Arc::new(MemoryStore::new()), directory.clone())
            .with_event_bus(Arc::new(InProcessEventBus::with_capacity(bus_capacity)))
            .with_limits(limits)
            .with_delivery_batch_interval(receipts)
            .with_attachments(objects.clone());
        let api = configure(ChatApi::new(services_of(services), Arc::new(TokenAuth)));
        Self {
            router: chat_axum::router(api.clone()),
            api,
            directory,
            objects,
        }
    }

    pub fn profile_calls(&self) -> usize {
        self.directory.profile_calls.load(Ordering::SeqCst)
    }

    /// Sends a request built by the caller.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// `method path` as user `as_user` (None: unauthenticated) with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, as_user: Option<usize>, body: Option<Value>) -> Answer {
        self.call_token(method, path, as_user.map(token).as_deref(), body).await
    }

    pub async fn call_token(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&body).expect("json"))
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, as_user: usize) -> Answer {
        self.call(Method::GET, path, Some(as_user), None).await
    }

    pub async fn post(&self, path: &str, as_user: usize, body: Value) -> Answer {
        self.call(Method::POST, path, Some(as_user), Some(body)).await
    }

    /// Starts the direct conversation of `a` and `b`; its uuid.
    pub async fn direct(&self, a: usize, b: usize) -> String {
        let answer = self
            .post(
                "/conversations",
                a,
                serde_json::json!({"participant_uuid": format!("u{b}")}),
            )
            .await;
        assert!(answer.status.is_success(), "{answer:?}");
        answer.json["data"]["uuid"].as_str().expect("uuid").to_owned()
    }

    /// Creates a group of `owner` with `members`; its uuid.
    pub async fn group(&self, owner: usize, members: &[usize]) -> String {
        let ids: Vec<String> = members.iter().map(|member| format!("u{member}")).collect();
        let answer = self
            .post(
                "/conversations/groups",
                owner,
                serde_json::json!({"participant_uuids": ids, "title": "Team"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.json["data"]["uuid"].as_str().expect("uuid").to_owned()
    }

    /// Sends `body` as `sender`; the message resource.
    pub async fn message(&self, sender: usize, conversation: &str, body: &str) -> Value {
        let answer = self
            .post(
                &format!("/conversations/{conversation}/messages"),
                sender,
                serde_json::json!({"body": body}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.json["data"].clone()
    }
}

/// Asserts `value` is a timestamp in the wire format `2025-10-15T10:30:00.000000Z`.
pub fn assert_timestamp(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("not a timestamp: {value}"));
    let bytes = text.as_bytes();
    assert_eq!(bytes.len(), 27, "{text}");
    assert!(text.ends_with('Z') && bytes[10] == b'T' && bytes[19] == b'.', "{text}");
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}
