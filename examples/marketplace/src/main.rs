//! A small marketplace that embeds the chat: demo buyers and sellers on two platforms,
//! orders, a toy login, the chat API under `/api/v1/chat` and a web page.
//!
//! Run with `cargo run -p marketplace` and open <http://127.0.0.1:3000>;
//! `marketplace --help` lists every setting.
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_core::policy::ContactMasking;
use chat_core::{ChatServices, EventBus, NotificationWorker, Store};
use marketplace::host::{DEFAULT_SEND_RATE, HostConfig};
use marketplace::serve::ServeConfig;
use tracing_subscriber::EnvFilter;

/// `marketplace --help`: every knob, as flags or environment variables.
const HELP: &str = "\
marketplace: the chat library's example host (two demo platforms, a web page, the chat API
under /api/v1/chat).

usage: marketplace [--addr HOST:PORT] [--data-dir DIR] [--help]

settings (flag or environment variable, default in brackets):
  --addr HOST:PORT, MARKETPLACE_ADDR       where to listen [127.0.0.1:3000]
  --data-dir DIR, MARKETPLACE_DATA_DIR     the embedded store's directory, and attachments in
                                           its attachments/ folder [./data]
  MARKETPLACE_ENGINE                       the embedded store's engine: sled or redb (the
                                           file chat.redb in the data directory) [sled]
  DATABASE_URL                             store in Postgres instead (with its event bus, so
                                           several instances share live events) [unset: sled]
  REDIS_URL                                with DATABASE_URL: carry live events over Redis
                                           pub/sub instead (many instances or high event
                                           rates; key prefix: the schema) [unset]
  MARKETPLACE_PG_SCHEMA                    the Postgres schema of the chat's tables [chat]
  MARKETPLACE_SEND_RATE                    messages a user may send per second, bursts of 3x
                                           (0: no limit) [10]
  MARKETPLACE_ALLOWED_ORIGINS              comma-separated origins allowed to open the
                                           WebSocket [the server's own: http://ADDR, and
                                           http://localhost:PORT on loopback]
  MARKETPLACE_HEADER_TIMEOUT               seconds a client has to send a request's headers [10]
  MARKETPLACE_IDLE_TIMEOUT                 seconds an idle keep-alive connection stays open [60]
  MARKETPLACE_MAX_CONNECTIONS              open connections at most, WebSockets included [4096]
  MARKETPLACE_NOTIFY_AFTER                 seconds a message waits unread before its recipient
                                           is notified (the page's notifications panel) [30]
  RUST_LOG                                 log filter, e.g. info or chat_axum=debug [info]
  NO_COLOR                                 set: no colours in logs (never on a non-terminal)

Ctrl-C closes WebSockets with 1001 (going away) and lets requests in flight finish.
";

/// How long a message waits unread before the demo "e-mails" its recipient: short, so the
/// notifications panel fills while you watch (a real host waits minutes).
const NOTIFY_AFTER: Duration = Duration::from_secs(30);

/// How often the example sweeps attachments nobody can read any more.
const ATTACHMENT_SWEEP_EVERY: Duration = Duration::from_secs(60 * 60);

/// Where to listen, what to store in and how to serve.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    data_dir: PathBuf,
    engine: Engine,
    database_url: Option<String>,
    redis_url: Option<String>,
    pg_schema: String,
    send_rate: u32,
    notify_after: Duration,
    allowed_origins: Option<Vec<String>>,
    serve: ServeConfig,
}

/// The embedded store's engine (without `DATABASE_URL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// `chat-store-sled`, the default.
    Sled,
    /// `chat-store-redb`.
    Redb,
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim() {
            "" | "sled" => Ok(Self::Sled),
            "redb" => Ok(Self::Redb),
            other => Err(format!("MARKETPLACE_ENGINE must be sled or redb, got {other:?}")),
        }
    }
}

/// What the command line asked for.
enum Command {
    Run(Box<Config>),
    Help,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a number, got {value:?}")),
        Err(_) => Ok(default),
    }
}

fn env_seconds(name: &str, default: Duration) -> Result<Duration, String> {
    let seconds = env_number(name, default.as_secs_f64())?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{name} must be a positive number of seconds"))
}

impl Config {
    fn from_env_and_args() -> Result<Command, String> {
        let mut addr = std::env::var("MARKETPLACE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let mut data_dir = std::env::var("MARKETPLACE_DATA_DIR").unwrap_or_else(|_| "./data".to_owned());
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--addr" => addr = args.next().ok_or("--addr needs a value like 127.0.0.1:3000")?,
                "--data-dir" => data_dir = args.next().ok_or("--data-dir needs a directory")?,
                "-h" | "--help" => return Ok(Command::Help),
                other => return Err(format!("unknown argument {other:?}; try --help")),
            }
        }
        let addr = addr.parse().map_err(|error| format!("bad address {addr:?}: {error}"))?;
        let engine = std::env::var("MARKETPLACE_ENGINE").unwrap_or_default().parse()?;
        let database_url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
        let redis_url = std::env::var("REDIS_URL").ok().filter(|url| !url.is_empty());
        let pg_schema = std::env::var("MARKETPLACE_PG_SCHEMA").unwrap_or_else(|_| "chat".to_owned());
        let send_rate = env_number("MARKETPLACE_SEND_RATE", DEFAULT_SEND_RATE)?;
        let notify_after = env_seconds("MARKETPLACE_NOTIFY_AFTER", NOTIFY_AFTER)?;
        let allowed_origins = std::env::var("MARKETPLACE_ALLOWED_ORIGINS").ok().map(|origins| {
            origins
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let defaults = ServeConfig::default();
        let serve = ServeConfig {
            header_read_timeout: env_seconds("MARKETPLACE_HEADER_TIMEOUT", defaults.header_read_timeout)?,
            idle_timeout: env_seconds("MARKETPLACE_IDLE_TIMEOUT", defaults.idle_timeout)?,
            max_connections: env_number("MARKETPLACE_MAX_CONNECTIONS", defaults.max_connections)?.max(1),
            ..defaults
        };
        Ok(Command::Run(Box::new(Self {
            addr,
            data_dir: PathBuf::from(data_dir),
            engine,
            database_url,
            redis_url,
            pg_schema,
            send_rate,
            notify_after,
            allowed_origins,
            serve,
        })))
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
            let dir = config.data_dir.display();
            match config.engine {
                Engine::Sled => {
                    let store = chat_store_sled::open(&config.data_dir)
                        .await
                        .map_err(|error| format!("cannot open the sled store in {dir}: {error}"))?;
                    tracing::info!(data_dir = %dir, "storing in sled");
                    Ok((Arc::new(store), None))
                }
                Engine::Redb => {
                    let store = chat_store_redb::open(config.data_dir.join("chat.redb"))
                        .await
                        .map_err(|error| format!("cannot open the redb store in {dir}: {error}"))?;
                    tracing::info!(data_dir = %dir, "storing in redb");
                    Ok((Arc::new(store), None))
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let command = match Config::from_env_and_args() {
        Ok(command) => command,
        Err(message) => {
            eprintln!("marketplace: {message}");
            std::process::exit(2);
        }
    };
    let config = match command {
        Command::Help => {
            print!("{HELP}");
            return;
        }
        Command::Run(config) => config,
    };
    // Colours only on a terminal, and never with NO_COLOR: a log file gets plain text.
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    if let Err(message) = run(*config).await {
        eprintln!("marketplace: {message}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let (store, bus) = open_store(&config).await?;
    let attachments = config.data_dir.join("attachments");
    std::fs::create_dir_all(&attachments)
        .map_err(|error| format!("cannot create {}: {error}", attachments.display()))?;
    let objects = object_store::local::LocalFileSystem::new_with_prefix(&attachments)
        .map_err(|error| format!("cannot store attachments in {}: {error}", attachments.display()))?;
    let mut services = ChatServices::new(store, Arc::new(marketplace::demo::directory()))
        .with_attachments(Arc::new(objects))
        .with_notifications(config.notify_after)
        // Deals stay on the platform: phone numbers, e-mail addresses and links are masked.
        .with_message_policy(Arc::new(ContactMasking::new()))
        // Reports land in the log, as a moderation queue would get them.
        .with_report_sink(Arc::new(marketplace::moderation::LoggedReports));
    if let Some(bus) = bus {
        services = services.with_event_bus(bus);
    }
    marketplace::host::spawn_attachment_sweep(services.clone(), ATTACHMENT_SWEEP_EVERY);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.addr))?;
    let local = listener.local_addr().map_err(|error| error.to_string())?;
    let mut host_config = HostConfig::for_addr(local);
    host_config.send_rate = config.send_rate;
    if let Some(origins) = config.allowed_origins {
        host_config.allowed_origins = origins;
    }
    let host = marketplace::host::app(services.clone(), &host_config);
    let notifications = NotificationWorker::new(services, Arc::new(host.mailbox.clone())).spawn();
    println!("marketplace chat demo: open http://{local}/  (Ctrl-C to stop)");
    let api = host.api.clone();
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: closing WebSockets with 1001");
        if tokio::time::timeout(Duration::from_secs(5), api.shutdown_websockets())
            .await
            .is_err()
        {
            tracing::warn!("some WebSockets did not close in time");
        }
    };
    let served = marketplace::serve::serve(listener, host.router, config.serve, shutdown)
        .await
        .map_err(|error| format!("server error: {error}"));
    // Finishes the round in progress, so no claim is left to wait for its lease.
    notifications.shutdown().await;
    served
}
