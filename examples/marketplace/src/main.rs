//! A small marketplace that embeds the chat: demo buyers and sellers, orders, a toy login,
//! the chat API under `/api/v1/chat` and a web page.
//!
//! Run with `cargo run -p marketplace` and open <http://127.0.0.1:3000>.
//!
//! - `--addr HOST:PORT` or `MARKETPLACE_ADDR` (default `127.0.0.1:3000`)
//! - `--data-dir DIR` or `MARKETPLACE_DATA_DIR` (default `./data`): the sled store
//! - `DATABASE_URL`: use Postgres instead, with the Postgres event bus so several instances
//!   on one database share live events; `MARKETPLACE_PG_SCHEMA` names the schema (default
//!   `chat`).
//! - `REDIS_URL` (with `DATABASE_URL`): carry the live events over Redis pub/sub instead
//!   (`chat-bus-redis`), for many instances or high event rates; the channels' key prefix is
//!   the schema name. Ignored (with a warning) without `DATABASE_URL`: sled serves one node.
//! - `MARKETPLACE_SEND_RATE`: messages per second a user may send (default 10; 0: no limit).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chat_core::{ChatServices, EventBus, Store};
use tracing_subscriber::EnvFilter;

/// Where to listen and what to store in.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    data_dir: PathBuf,
    database_url: Option<String>,
    redis_url: Option<String>,
    pg_schema: String,
    send_rate: u32,
}

impl Config {
    fn from_env_and_args() -> Result<Self, String> {
        let mut addr = std::env::var("MARKETPLACE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let mut data_dir = std::env::var("MARKETPLACE_DATA_DIR").unwrap_or_else(|_| "./data".to_owned());
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--addr" => addr = args.next().ok_or("--addr needs a value like 127.0.0.1:3000")?,
                "--data-dir" => data_dir = args.next().ok_or("--data-dir needs a directory")?,
                "-h" | "--help" => {
                    return Err(
                        "usage: marketplace [--addr HOST:PORT] [--data-dir DIR]  (DATABASE_URL selects Postgres)"
                            .into(),
                    );
                }
                other => return Err(format!("unknown argument {other:?}; try --help")),
            }
        }
        let addr = addr.parse().map_err(|error| format!("bad address {addr:?}: {error}"))?;
        let database_url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
        let redis_url = std::env::var("REDIS_URL").ok().filter(|url| !url.is_empty());
        let pg_schema = std::env::var("MARKETPLACE_PG_SCHEMA").unwrap_or_else(|_| "chat".to_owned());
        let send_rate = match std::env::var("MARKETPLACE_SEND_RATE") {
            Ok(value) => value
                .parse()
                .map_err(|_| format!("MARKETPLACE_SEND_RATE must be a whole number, got {value:?}"))?,
            Err(_) => marketplace::host::DEFAULT_SEND_RATE,
        };
        Ok(Self {
            addr,
            data_dir: PathBuf::from(data_dir),
            database_url,
            redis_url,
            pg_schema,
            send_rate,
        })
    }
}

/// The store and the event bus: sled with the in-process bus, or Postgres with its bus.
async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, Option<Arc<dyn EventBus>>), String> {
    match &config.database_url {
        Some(url) => {
            let store = chat_store_sqlx::PgStore::builder()
                .schema(config.pg_schema.as_str())
                .run_migrations(true)
                .connect(url)
                .await
                .map_err(|error| format!("cannot open Postgres: {error}"))?;
            let bus: Arc<dyn EventBus> = match &config.redis_url {
                Some(redis_url) => {
                    let bus = chat_bus_redis::RedisEventBus::builder()
                        .key_prefix(config.pg_schema.as_str())
                        .connect(redis_url)
                        .await
                        .map_err(|error| format!("cannot start the Redis event bus: {error}"))?;
                    tracing::info!(schema = %config.pg_schema, "storing in Postgres, live events over Redis pub/sub");
                    Arc::new(bus)
                }
                None => {
                    let bus = chat_store_sqlx::PgEventBus::connect(&store)
                        .await
                        .map_err(|error| format!("cannot start the Postgres event bus: {error}"))?;
                    tracing::info!(schema = %config.pg_schema, "storing in Postgres, live events over LISTEN/NOTIFY");
                    Arc::new(bus)
                }
            };
            Ok((Arc::new(store), Some(bus)))
        }
        None => {
            if config.redis_url.is_some() {
                tracing::warn!(
                    "REDIS_URL is used with DATABASE_URL only; sled serves one node with the in-process bus"
                );
            }
            let store = chat_store_sled::SledStore::open(&config.data_dir)
                .await
                .map_err(|error| format!("cannot open the sled store in {}: {error}", config.data_dir.display()))?;
            tracing::info!(data_dir = %config.data_dir.display(), "storing in sled");
            Ok((Arc::new(store), None))
        }
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    if let Err(message) = run().await {
        eprintln!("marketplace: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env_and_args()?;
    let (store, bus) = open_store(&config).await?;
    let mut services = ChatServices::new(store, Arc::new(marketplace::demo::directory()));
    if let Some(bus) = bus {
        services = services.with_event_bus(bus);
    }
    let app = marketplace::host::app(services, config.send_rate);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.addr))?;
    let local = listener.local_addr().map_err(|error| error.to_string())?;
    println!("marketplace chat demo: open http://{local}/  (Ctrl-C to stop)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
        .map_err(|error| format!("server error: {error}"))
}
