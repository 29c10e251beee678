//! Shared test support: the Redis URL (skip or fail when missing), buses on a key prefix of
//! their own, two nodes for the shared suite, and a private `redis-server`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chat_bus_redis::RedisEventBus;
use chat_core::Store;
use chat_core::testing::MemoryStore;
use chat_core::testing::bus_suite::TwoNodes;

/// `REDIS_URL`, or `None` after a loud skip message. In CI (`CI` set) a missing Redis is a
/// failure, never a silent skip.
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "REDIS_URL is not set in CI: the Redis tests must run"
            );
            static LOUD: std::sync::Once = std::sync::Once::new();
            LOUD.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n======================================================================\n\
                     SKIPPED: REDIS_URL not set, Redis bus tests did not run\n\
                     ======================================================================\n"
                );
            });
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("chat-test-{}", uuid::Uuid::now_v7().simple())
}

/// A bus on `url` with `prefix` and a quick sweep.
pub async fn bus(url: &str, prefix: &str) -> RedisEventBus {
    RedisEventBus::builder()
        .key_prefix(prefix)
        .sweep_interval(Duration::from_millis(50))
        .connect(url)
        .await
        .expect("connect the redis bus")
}

/// Two nodes over one in-memory store: two buses on one fresh key prefix.
pub async fn two_nodes() -> Option<TwoNodes> {
    let url = redis_url()?;
    let prefix = fresh_prefix();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Some(TwoNodes {
        store_a: Arc::clone(&store),
        store_b: store,
        bus_a: Arc::new(bus(&url, &prefix).await),
        bus_b: Arc::new(bus(&url, &prefix).await),
        guard: Box::new(()),
    })
}

/// An admin connection for commands the test sends itself.
pub async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

/// A `redis-server` of the test's own on a free port, killed when dropped.
pub struct PrivateRedis {
    /// Its port.
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one (on a free port) and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        server.spawn();
        server
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(std::env::var("REDIS_SERVER").unwrap_or_else(|_| "/usr/bin/redis-server".to_owned()))
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the private redis-server did not start on port {}", self.port);
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
