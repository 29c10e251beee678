//! The system under test: a store, services over it, and the HTTP router on a loopback
//! listener; plus a minimal keep-alive HTTP/1.1 client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use bytes::Bytes;
use chat_axum::{AuthRejection, Authenticator, ChatApi};
use chat_core::{ChatResult, ChatServices, Identity, Profile, Store, TenantId, UserDirectory, UserId};
use chat_store_sled::{Durability, SledStore};
use chat_store_sqlx::PgStore;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Which backend a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SledStore in a directory under the output folder.
    Sled,
    /// PgStore in a fresh schema of `DATABASE_URL`.
    Postgres,
}

impl Backend {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sled => "sled",
            Self::Postgres => "postgres",
        }
    }
}

/// A directory that knows every user: profile name = id. The benchmark measures the
/// library, not a host's directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct EveryoneDirectory;

#[async_trait]
impl UserDirectory for EveryoneDirectory {
    async fn profiles(&self, _tenant: &TenantId, users: &[UserId]) -> ChatResult<HashMap<UserId, Profile>> {
        Ok(users
            .iter()
            .map(|user| (user.clone(), Profile::new(user.clone(), user.as_str())))
            .collect())
    }

    async fn search(&self, _tenant: &TenantId, _query: &str, _limit: usize) -> ChatResult<Vec<UserId>> {
        Ok(Vec::new())
    }
}

/// `Authorization: Bearer <user id>` (or `?token=<user id>`), default tenant.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenIsUser;

#[async_trait]
impl Authenticator for TokenIsUser {
    async fn authenticate(&self, parts: &Parts) -> Result<Identity, AuthRejection> {
        let token = chat_axum::auth::bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| chat_axum::auth::upgrade_query_param(parts, "token"))
            .ok_or(AuthRejection::Unauthenticated)?;
        let user = UserId::new(token).map_err(|_| AuthRejection::Unauthenticated)?;
        Ok(Identity::new(TenantId::default(), user))
    }
}

/// An identity in the default tenant.
pub fn identity(user: &str) -> Identity {
    Identity::new(TenantId::default(), user_id(user))
}

/// A user id from a benchmark-made string.
pub fn user_id(user: &str) -> UserId {
    UserId::new(user).expect("benchmark user ids are valid")
}

/// Where Postgres is.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store of either backend, with what is needed to clean it up.
#[derive(Clone)]
pub enum AnyStore {
    /// sled.
    Sled(SledStore),
    /// Postgres.
    Postgres(PgStore),
}

impl AnyStore {
    /// As a trait object.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sled(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The kernel's group-commit counters and the write-ahead log's syncs (sled);
    /// `None` on Postgres.
    pub fn commit_stats(&self) -> Option<(chat_core::kernel::CommitStats, u64)> {
        match self {
            Self::Sled(store) => Some((store.commit_stats(), store.engine().log_stats().syncs)),
            Self::Postgres(_) => None,
        }
    }

    /// Services over this store ([`services_over`]).
    pub fn services(&self) -> ChatServices {
        services_over(self.dyn_store())
    }
}

/// Services over `store` with the benchmark directory, without the limit on conversations
/// started (the find-or-create scenario starts thousands a second).
pub fn services_over(store: Arc<dyn Store>) -> ChatServices {
    let mut limits = chat_core::Limits::default();
    limits.conversations_started_per_hour = 0;
    limits.uploads_per_hour = 0;
    ChatServices::new(store, Arc::new(EveryoneDirectory)).with_limits(limits)
}

/// Opens a sled store in a fresh directory below `dir`.
pub async fn open_sled(dir: &Path, name: &str, durability: Durability) -> (SledStore, PathBuf) {
    let path = dir.join(format!("{name}-{}", uuid::Uuid::now_v7().simple()));
    let store = chat_store_sled::SledStoreBuilder::new()
        .path(&path)
        .durability(durability)
        .open()
        .await
        .expect("opening the sled store");
    (store, path)
}

/// A PgStore in a fresh schema `bench_<uuid>` with migrations run.
pub async fn open_postgres(max_connections: u32) -> PgStore {
    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
    PgStore::builder()
        .schema(schema)
        .max_connections(max_connections)
        .run_migrations(true)
        .connect(&database_url())
        .await
        .expect("connecting to Postgres (DATABASE_URL) and migrating a fresh schema")
}

/// Drops the store's schema.
pub async fn drop_postgres(store: &PgStore) {
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema().as_str());
    if let Err(error) = sqlx::query(&sql).execute(store.pool()).await {
        eprintln!("warning: could not drop schema {}: {error}", store.schema().as_str());
    }
    store.pool().close().await;
}

/// The chat router served on a loopback port; the server task ends with the runtime.
pub async fn serve(services: ChatServices) -> SocketAddr {
    let api = ChatApi::new(services, Arc::new(TokenIsUser));
    let app: axum::Router = chat_axum::router(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("server stopped: {error}");
        }
    });
    addr
}

/// One keep-alive HTTP/1.1 connection.
pub struct HttpClient {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl HttpClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connecting to the server");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Self { addr, sender }
    }

    /// Sends a request and returns status and body; panics on transport errors.
    pub async fn request(&mut self, method: &str, path: &str, token: &str, body: Option<String>) -> (u16, Bytes) {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("HTTP request");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("reading the response body")
            .to_bytes();
        (status, body)
    }
}
