//! # chat-store-sqlx
//!
//! The Postgres backend of the chat library: [`PgStore`], a [`chat_core::Store`] on sqlx,
//! and [`PgEventBus`], an [`chat_core::EventBus`] over `LISTEN`/`NOTIFY` so that several
//! server nodes on one database deliver live events to each other's subscribers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use chat_core::{ChatServices, InMemoryDirectory};
//! use chat_store_sqlx::{PgEventBus, PgStore};
//!
//! let store = PgStore::builder()
//!     .schema("chat")
//!     .connect("postgres://postgres@127.0.0.1:5432/app")
//!     .await?;
//! store.migrate().await?; // or `.run_migrations(true)` on the builder
//! let bus = PgEventBus::connect(&store).await?;
//! let services = ChatServices::new(Arc::new(store), Arc::new(InMemoryDirectory::new()))
//!     .with_event_bus(Arc::new(bus));
//! # let _ = services; Ok(()) }
//! ```
//!
//! ## Schema and migrations
//!
//! Our tables live in their own schema (default `chat`, see [`PgStoreBuilder::schema`]),
//! and so does sqlx's record of our migrations (`chat._sqlx_migrations`): a host that runs its
//! own sqlx migrations keeps its `public._sqlx_migrations` to itself. [`PgStore::migrate`]
//! creates the schema when missing and runs the embedded migrations; running it again is a
//! no-op. Every statement names the schema, so the store works on any pool the host hands
//! over, whatever its connections' `search_path`.
//!
//! Tables (see `migrations/`):
//!
//! - `conversations`: one row per conversation with its preview, `last_seq`,
//!   `last_activity_at` and a `version` bumped by every write. Direct conversations store
//!   their pair ordered (`direct_low < direct_high`) under the unique index
//!   `(tenant, direct_low, direct_high, tag type, tag id)`; find-or-create inserts with
//!   `ON CONFLICT DO NOTHING` and reads the winner.
//! - `participants`, primary key `(conversation_id, user_id)`: membership and what a send
//!   never changes (role, join time, cleared seq, mute flag, copies of the tenant, tag and
//!   group title key). Its indexes, `(tenant, user_id, tag type, tag id)` and the user's
//!   groups with their title key, serve the tag filters and search; no send writes them.
//! - `member_state`, one narrow row per member: what a send changes (activity time, archive
//!   flag, unread count, read and delivery watermarks). An inbox page is one range of
//!   `(tenant, user_id, is_archived, last_activity_at DESC, conversation_id DESC)`; a partial
//!   index of the rows with unread messages serves "unread only" and stats. A send rewrites
//!   each member's row (these two indexes and the primary key), and no participant row.
//! - `pending_notifications`: a row per pending offline notification, with its due time
//!   (invariant 14), apart from the rows a send rewrites.
//! - `messages`, primary key `(conversation_id, seq)`, unique `(conversation_id, id)` and
//!   unique `(conversation_id, sender, client_message_id)`; history pages are ranges of the
//!   primary key.
//! - `user_totals`: how many conversations each user is in, kept by statement triggers on
//!   `participants`; stats read it plus the user's unread `member_state` rows.
//! - `event_payloads`: large events of the bus, loaded by reference.
//!
//! ## Cost of the reads
//!
//! Measured with `cargo run -p chat-store-sqlx --example explain_plans` (a user in 100 000
//! conversations, about 500 000 member rows, a conversation of 1 000 000 messages; the
//! figures before and after issue 31 are in `bench/README.md`): every inbox page (first or
//! deep, any archive or unread filter) is one index range of 51 `member_state` entries plus
//! the conversation and its three rows per member, about 720 buffers and 1–2 ms cold (a tag
//! filter reads the user's conversations with that tag and orders them, or walks the inbox
//! and checks the tag); history pages read 50 index entries of the 1M-message conversation
//! wherever they start (under 0.1 ms); stats read the counter row and the user's unread
//! entries only; search reads the user's groups (titles, index only) and the named users'
//! rows, never every conversation.
//! A send is one statement: the `append_message` function (second migration) locks the
//! conversation, checks membership and the retry key and applies `chat_core::rules::append`
//! in SQL (the function's comment names the rule; the model-based test keeps the two equal),
//! in one implicit READ COMMITTED transaction. Every other write locks the conversation,
//! applies its rule from `chat_core::rules` to the record it read and writes what changed; with a pool from [`PgStoreBuilder::connect`] that is one round
//! trip on the caller's path (a host pool that pings on acquire adds one; sqlx also pings
//! each connection in the background when it is released). Done from the client as begin, locking read, writing statement
//! and commit, the same work ran at 2,530 sends/s against the function's 3,480 (pgbench, 16
//! clients, 2 cores). On connections whose default isolation is stricter, the function
//! refuses and the store repeats the call inside an explicit READ COMMITTED transaction.
//! Reads are one statement each.
//!
//! ## Events are sent after the commit
//!
//! The services publish once the store has committed, and never for a failed operation, so
//! the bus sends `pg_notify` after the commit rather than inside the writing transaction: a
//! rolled-back write sends nothing, a committed one is heard by every node. See
//! [`PgEventBus`].
#![forbid(unsafe_code)]

mod attachments;
mod blocks;
mod builder;
mod bus;
mod capabilities;
mod erase;
mod error;
mod functions;
mod moderation_sql;
mod notifications;
mod operations;
mod reports;
mod rows;
mod schema;
mod search_keys;
mod sql;
mod store;

pub use builder::{PING_IDLE_AFTER, PgStoreBuilder, migrate};
pub use bus::{DEFAULT_PAYLOAD_RETENTION, MAX_INLINE_PAYLOAD, PgEventBus, PgEventBusBuilder};
pub use error::PgStoreError;
pub use schema::{DEFAULT_SCHEMA, SchemaName};
pub use store::PgStore;

/// Compile-time checks that the public futures can be spawned on a multi-threaded runtime.
#[cfg(test)]
mod send_checks {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn public_futures_are_send(pool: sqlx::PgPool, store: PgStore) {
        assert_send(&migrate(&pool, &SchemaName::default()));
        assert_send(&store.migrate());
        assert_send(&PgStore::builder().connect("postgres://"));
        assert_send(&PgStore::builder().build(pool.clone()));
        assert_send(&PgEventBus::connect(&store));
        assert_send(&PgEventBus::builder(pool).connect());
    }
}
