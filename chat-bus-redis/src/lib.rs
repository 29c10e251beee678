//! [`RedisEventBus`]: the chat library's live events across many server nodes over Redis
//! pub/sub.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn chat_core::Store>, directory: std::sync::Arc<dyn chat_core::UserDirectory>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use chat_bus_redis::RedisEventBus;
//!
//! let bus = RedisEventBus::builder().key_prefix("shop-prod").connect("redis://127.0.0.1:6379").await?;
//! let services = chat_core::ChatServices::new(store, directory).with_event_bus(Arc::new(bus));
//! # Ok(()) }
//! ```
//!
//! Which bus to pick: one node, `InProcessEventBus` (the default); a few nodes on one
//! Postgres, `PgEventBus` (nothing more to run, but every NOTIFY takes a cluster-wide lock
//! at commit); many nodes or high event rates, this one.
#![forbid(unsafe_code)]

mod bus;
mod channel;
mod error;

pub use bus::{
    DEFAULT_CAPACITY, DEFAULT_KEY_PREFIX, DEFAULT_MAX_PAYLOAD, DEFAULT_SWEEP_INTERVAL, RedisEventBus,
    RedisEventBusBuilder,
};
pub use error::RedisBusError;
