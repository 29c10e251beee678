//! What a Postgres write costs in the database (issue 31): WAL bytes per operation, from
//! `pg_current_wal_insert_lsn()` before and after, and the rows each table got per operation
//! with the share of updates that were HOT, from `pg_stat_user_tables`.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;

use crate::measure;

/// The write counters of one table: inserted, updated, HOT-updated, deleted rows.
#[derive(Clone, Copy, Debug, Default)]
struct TableWrites {
    inserted: i64,
    updated: i64,
    hot: i64,
    deleted: i64,
}

/// A snapshot of a schema's table counters and the WAL position.
pub struct Snapshot {
    wal: i64,
    tables: BTreeMap<String, TableWrites>,
}

/// How long after the writes the counters are read: a backend reports its table counters
/// when idle, at most once a second, and when that finds the shared counters busy, 10 s later.
const STATS_FLUSH: Duration = Duration::from_secs(11);

impl Snapshot {
    /// The WAL position now, and (with `count_rows`) the counters once the backends have
    /// reported theirs.
    pub async fn take(pool: &PgPool, schema: &str, count_rows: bool) -> Self {
        let wal: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
            .fetch_one(pool)
            .await
            .expect("WAL position");
        if !count_rows {
            return Self {
                wal,
                tables: BTreeMap::new(),
            };
        }
        tokio::time::sleep(STATS_FLUSH).await;
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables \
             WHERE schemaname = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .expect("table counters");
        let tables = rows
            .into_iter()
            .map(|(name, inserted, updated, hot, deleted)| {
                (
                    name,
                    TableWrites {
                        inserted,
                        updated,
                        hot,
                        deleted,
                    },
                )
            })
            .collect();
        Self { wal, tables }
    }

    /// WAL bytes per operation between `self` and `later`, over `ops` operations.
    pub fn wal_per_op(&self, later: &Self, ops: u64) -> f64 {
        (later.wal - self.wal) as f64 / ops.max(1) as f64
    }

    /// The rows each table got per operation between `self` and `later`, e.g.
    /// `member_state 2.0 upd (0% HOT)`, for the tables that got any.
    pub fn rows_per_op(&self, later: &Self, ops: u64) -> String {
        if later.tables.is_empty() {
            return "counted in full runs only (the counters take up to 11 s to arrive)".to_owned();
        }
        let per = |n: i64| n as f64 / ops.max(1) as f64;
        let mut parts = Vec::new();
        for (name, after) in &later.tables {
            let before = self.tables.get(name).copied().unwrap_or_default();
            let (inserted, updated, hot, deleted) = (
                after.inserted - before.inserted,
                after.updated - before.updated,
                after.hot - before.hot,
                after.deleted - before.deleted,
            );
            if inserted + updated + deleted == 0 {
                continue;
            }
            let mut part = format!("{name}:");
            if inserted > 0 {
                part.push_str(&format!(" {:.2} ins", per(inserted)));
            }
            if updated > 0 {
                part.push_str(&format!(
                    " {:.2} upd ({:.0}% HOT)",
                    per(updated),
                    100.0 * hot as f64 / updated as f64
                ));
            }
            if deleted > 0 {
                part.push_str(&format!(" {:.2} del", per(deleted)));
            }
            parts.push(part);
        }
        parts.join(", ")
    }
}

/// Runs `op` `ops` times one after another (worker 0) and returns the snapshots around them
/// (with the table counters when `count_rows`).
pub async fn around(pool: &PgPool, schema: &str, op: &measure::Op, ops: u64, count_rows: bool) -> (Snapshot, Snapshot) {
    let before = Snapshot::take(pool, schema, count_rows).await;
    for iteration in 0..ops {
        op(0, iteration).await;
    }
    let after = Snapshot::take(pool, schema, count_rows).await;
    (before, after)
}
