//! The statement text of blocks, reports and erasure, per schema: what `sql.rs`'s
//! [`crate::sql::Sql`] holds for the operations in `blocks.rs`, `reports.rs` and
//! `erase.rs`.

use crate::rows::MESSAGE_COLUMNS;

/// The columns of a report row.
const REPORT_COLUMNS: &str = "reporter, message_id, conversation_id, reason, note, created_at";

/// The statements of blocks.
#[derive(Debug)]
pub(crate) struct BlockSql {
    /// `$1` tenant, `$2` low, `$3` high: the pair's advisory lock for this transaction (host ids hold no control characters, so chr(1) separates them).
    pub(crate) lock_pair: String,
    /// `$1` tenant, `$2` low, `$3` high: row locks of the pair's direct conversations.
    pub(crate) lock_directs: String,
    /// `$1` tenant, `$2` blocker, `$3` blocked.
    pub(crate) get: String,
    /// `$1` tenant, `$2` blocker, `$3` blocked, `$4` created_at.
    pub(crate) insert: String,
    /// `$1` tenant, `$2` blocker, `$3` blocked.
    pub(crate) delete: String,
    /// `$1` tenant, `$2` blocker: by blocked user, byte order.
    pub(crate) list: String,
    /// `$1` tenant, `$2` actor, `$3` users: the advisory lock of each pair of the actor and
    /// one of the users (the key of `lock_pair`), taken in byte order of the users.
    pub(crate) lock_pairs: String,
    /// `$1` tenant, `$2` blocked, `$3` users: one row when one of the users blocked `$2`.
    pub(crate) blocked_by_any: String,
}

impl BlockSql {
    /// The statements for the tables of schema `s` (validated).
    pub(crate) fn new(s: &str) -> Self {
        Self {
            // The schema is part of the key: stores of two schemas never wait for each other.
            lock_pair: format!(
                "SELECT pg_advisory_xact_lock(hashtextextended('{s} block ' || $1 || chr(1) || $2 || chr(1) || $3, 0))"
            ),
            lock_pairs: format!(
                "SELECT pg_advisory_xact_lock(hashtextextended('{s} block ' || $1 || chr(1) \
                   || least(pairs.u, $2::text COLLATE \"C\") || chr(1) || greatest(pairs.u, $2::text COLLATE \"C\"), 0)) \
                 FROM (SELECT DISTINCT u COLLATE \"C\" AS u FROM unnest($3::text[]) AS u WHERE u <> $2 ORDER BY 1) pairs"
            ),
            blocked_by_any: format!(
                "SELECT 1 FROM {s}.blocks WHERE tenant = $1 AND blocked = $2 AND blocker = ANY($3) LIMIT 1"
            ),
            lock_directs: format!(
                "SELECT c.id FROM {s}.conversations c \
                 WHERE c.tenant = $1 AND c.kind = 'direct' AND c.direct_low = $2 AND c.direct_high = $3 \
                 FOR NO KEY UPDATE"
            ),
            get: format!(
                "SELECT blocker, blocked, created_at FROM {s}.blocks \
                 WHERE tenant = $1 AND blocker = $2 AND blocked = $3"
            ),
            insert: format!("INSERT INTO {s}.blocks (tenant, blocker, blocked, created_at) VALUES ($1, $2, $3, $4)"),
            delete: format!("DELETE FROM {s}.blocks WHERE tenant = $1 AND blocker = $2 AND blocked = $3"),
            list: format!(
                "SELECT blocker, blocked, created_at FROM {s}.blocks WHERE tenant = $1 AND blocker = $2 ORDER BY blocked"
            ),
        }
    }
}

/// The statements of reports.
#[derive(Debug)]
pub(crate) struct ReportSql {
    /// `$1` tenant, `$2` reporter, `$3` message.
    pub(crate) get: String,
    /// `$1` tenant, `$2` reporter, `$3` message, `$4` conversation, `$5` reason, `$6` note,
    /// `$7` created_at.
    pub(crate) insert: String,
    /// `$1` tenant, `$2` reporter: by message id.
    pub(crate) list: String,
}

impl ReportSql {
    /// The statements for the tables of schema `s` (validated).
    pub(crate) fn new(s: &str) -> Self {
        Self {
            get: format!(
                "SELECT {REPORT_COLUMNS} FROM {s}.reports WHERE tenant = $1 AND reporter = $2 AND message_id = $3"
            ),
            insert: format!(
                "INSERT INTO {s}.reports (tenant, reporter, message_id, conversation_id, reason, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            list: format!(
                "SELECT {REPORT_COLUMNS} FROM {s}.reports WHERE tenant = $1 AND reporter = $2 ORDER BY message_id"
            ),
        }
    }
}

/// The statements of erasing.
#[derive(Debug)]
pub(crate) struct EraseSql {
    /// `$1` conversation, `$2` after seq, `$3` last seq: the messages in between, by seq.
    pub(crate) range: String,
    /// `$1` conversation, then arrays of id, body, deleted_at, reactions and attachments
    /// (JSON text): writes what the rule made of each message.
    pub(crate) save_messages: String,
    /// `$1` conversation, `$2` updated_at, `$3`..`$7` the preview: the conversation row,
    /// bumping its version.
    pub(crate) save_conversation: String,
    /// `$1` tenant, `$2` user.
    pub(crate) delete_blocks: String,
    /// `$1` tenant, `$2` user.
    pub(crate) delete_reports: String,
    /// `$1` tenant, `$2` user: `rules::erasing_discards` and `rules::discard_attachment`
    /// in SQL, through the index of attachments not sent.
    pub(crate) discard_unsent: String,
}

impl EraseSql {
    /// The statements for the tables of schema `s` (validated).
    pub(crate) fn new(s: &str) -> Self {
        Self {
            range: format!(
                "SELECT {MESSAGE_COLUMNS} FROM {s}.messages m \
                 WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq"
            ),
            save_messages: format!(
                "UPDATE {s}.messages m SET body = u.body, deleted_at = u.deleted_at, \
                   reactions = u.reactions::jsonb, attachments = u.attachments::jsonb \
                 FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) \
                   AS u(id, body, deleted_at, reactions, attachments) \
                 WHERE m.conversation_id = $1 AND m.id = u.id"
            ),
            save_conversation: format!(
                "UPDATE {s}.conversations SET updated_at = $2, last_message_id = $3, last_message_seq = $4, \
                   last_message_sender = $5, last_message_text = $6, last_message_at = $7, version = version + 1 \
                 WHERE id = $1"
            ),
            delete_blocks: format!("DELETE FROM {s}.blocks WHERE tenant = $1 AND blocker = $2"),
            delete_reports: format!("DELETE FROM {s}.reports WHERE tenant = $1 AND reporter = $2"),
            discard_unsent: format!(
                "UPDATE {s}.attachments SET state = 'discarded' \
                 WHERE state <> 'sent' AND state IN ('uploading', 'unsent') AND tenant = $1 AND uploader = $2"
            ),
        }
    }
}
