//! The SQL text of every statement, built once per store with the schema name written in
//! (the name is validated, see [`crate::SchemaName`]), so the store works on any pool,
//! whatever the connections' `search_path` is.

use chat_core::ArchiveFilter;

use crate::rows::{ATTACHMENT_COLUMNS, MESSAGE_COLUMNS, QUOTED_COLUMNS, RECORD_COLUMNS, participants_lateral};

/// How the locking read also looks up one message of the conversation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lookup {
    /// No message.
    None,
    /// A message by id (`$3`).
    MessageId(chat_core::MessageId),
}

/// Which tag filter an inbox query has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TagMode {
    None,
    Type,
    TypeAndId,
}

/// The statements of one store.
#[derive(Debug)]
pub(crate) struct Sql {
    schema: String,
    pub get_record: String,
    pub find_direct: String,
    pub insert_direct: String,
    pub insert_group: String,
    lock_plain: String,
    lock_message_id: String,
    pub append: String,
    pub save_participant: String,
    pub save_message: String,
    pub save_reactions: String,
    pub messages_by_seq: String,
    pub newest_visible_before: String,
    pub count_deleted_above: String,
    pub save_unread_counts: String,
    pub save_deliveries: String,
    pub add_participants: String,
    pub remove_participant: String,
    pub history_oldest_first: String,
    pub history_newest_first: String,
    pub search: String,
    pub stats: String,
    pub attachments: AttachmentSql,
    pub blocks: crate::moderation_sql::BlockSql,
    pub reports: crate::moderation_sql::ReportSql,
    pub erase: crate::moderation_sql::EraseSql,
    /// `$1` now, `$2` lease end, `$3` limit, `$4` tenant or NULL: claims due notifications
    /// (`rules::claim_notification`).
    pub claim_notifications: String,
    /// `$1` conversation, `$2` user, `$3` first seq, `$4` due (NULL: none), `$5` attempts, `$6`
    /// tenant: one participant's pending notification, bumping the version.
    pub save_pending: String,
}

/// The statements of attachment records (see the `attachments` migration).
#[derive(Debug)]
pub(crate) struct AttachmentSql {
    /// `$1` id .. `$12` message id: a new record.
    pub insert: String,
    /// `$1` id, then the mutable columns: what `finish_upload`, `attach` and discarding change.
    pub save: String,
    /// `$1` ids: the records, locked for the send or the sweep that changes them.
    pub lock: String,
    /// `$1` id: removes a record.
    pub delete: String,
    /// `$1` conversation, `$2` attachment, `$3` reader, `$4` tenant: one row when the reader
    /// is a member (the attachment columns NULL when there is no such attachment there), with
    /// the reader's cleared watermark (`me_cleared`) and the seq of the message that carries
    /// the attachment (`a_sent_seq`); none otherwise.
    pub member_read: String,
    /// `$1` conversation, `$2` message, `$3` files: the attachments a send bound.
    pub save_on_message: String,
    /// `$1` unsent before, `$2` tenant or NULL, `$3` limit: discards stale uploads.
    pub discard_stale: String,
    /// `$1` tenant or NULL, `$2` limit: discarded records, oldest first.
    pub discarded: String,
    /// `$1` ids: removes those that are discarded (`chat_core::rules::may_forget`).
    pub forget: String,
}

impl AttachmentSql {
    fn new(s: &str) -> Self {
        Self {
            insert: format!(
                "INSERT INTO {s}.attachments (id, tenant, conversation_id, uploader, name, content_type, size, \
                   width, height, created_at, state, message_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            save: format!(
                "UPDATE {s}.attachments SET content_type = $2, size = $3, width = $4, height = $5, state = $6, \
                   message_id = $7 WHERE id = $1"
            ),
            lock: format!("SELECT {ATTACHMENT_COLUMNS} FROM {s}.attachments a WHERE a.id = ANY($1) FOR UPDATE"),
            delete: format!("DELETE FROM {s}.attachments WHERE id = $1"),
            member_read: format!(
                "SELECT {ATTACHMENT_COLUMNS}, p.cleared_through_seq AS me_cleared, sm.seq AS a_sent_seq \
                 FROM {s}.participants p \
                 LEFT JOIN {s}.attachments a ON a.id = $2 AND a.conversation_id = $1 \
                 LEFT JOIN {s}.messages sm ON sm.conversation_id = $1 AND sm.id = a.message_id \
                 WHERE p.conversation_id = $1 AND p.user_id = $3 AND p.tenant = $4"
            ),
            save_on_message: format!("UPDATE {s}.messages SET attachments = $3 WHERE conversation_id = $1 AND id = $2"),
            // A send that locked one of them first wins: the row is re-checked after the
            // lock wait (READ COMMITTED), and a bound upload is no longer 'unsent'.
            discard_stale: format!(
                "UPDATE {s}.attachments SET state = 'discarded' WHERE id IN ( \
                   SELECT id FROM {s}.attachments \
                   WHERE state IN ('uploading', 'unsent') AND created_at < $1 AND ($2::text IS NULL OR tenant = $2) \
                   ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED \
                 ) AND state IN ('uploading', 'unsent')"
            ),
            discarded: format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM {s}.attachments a \
                 WHERE a.state = 'discarded' AND ($1::text IS NULL OR a.tenant = $1) ORDER BY a.id LIMIT $2"
            ),
            forget: format!("DELETE FROM {s}.attachments WHERE id = ANY($1) AND state = 'discarded'"),
        }
    }
}

/// The ordered page of a user's `member_state` rows (`s`, from `from`), one `UNION ALL` branch
/// per archive flag so that each branch is one range of an index whose order is the inbox
/// order (a tag filter walks the user's rows of that tag instead and sorts them).
fn page_branches(flags: &[bool], from: &str, conditions: &str, limit: &str) -> String {
    let branch = |flag: bool| {
        format!(
            "(SELECT s.conversation_id, s.last_activity_at FROM {from} \
             WHERE {conditions} AND s.is_archived = {flag} \
             ORDER BY s.last_activity_at DESC, s.conversation_id DESC LIMIT {limit})"
        )
    };
    match flags {
        [flag] => branch(*flag),
        _ => {
            let branches: Vec<String> = flags.iter().map(|&flag| branch(flag)).collect();
            format!(
                "SELECT u.conversation_id, u.last_activity_at FROM ({}) u \
                 ORDER BY u.last_activity_at DESC, u.conversation_id DESC LIMIT {limit}",
                branches.join(" UNION ALL ")
            )
        }
    }
}

fn archive_flags(filter: ArchiveFilter) -> &'static [bool] {
    match filter {
        ArchiveFilter::Active => &[false],
        ArchiveFilter::Archived => &[true],
        ArchiveFilter::All => &[false, true],
    }
}

impl Sql {
    /// The statements for the (already quoted) schema `s`.
    pub(crate) fn new(s: &str) -> Self {
        let lateral = participants_lateral(s);
        let record_from = format!("SELECT {RECORD_COLUMNS} FROM {s}.conversations c {lateral}");
        let lock = |lookup: &str| {
            let (columns, join) = if lookup.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    format!(", {MESSAGE_COLUMNS}"),
                    format!(
                        "LEFT JOIN LATERAL (SELECT * FROM {s}.messages m \
                         WHERE m.conversation_id = c.id AND {lookup}) m ON true"
                    ),
                )
            };
            format!(
                "SELECT {RECORD_COLUMNS}, \
                 (SELECT v.version FROM {s}.conversations v WHERE v.id = c.id) AS snapshot_version{columns} \
                 FROM {s}.conversations c {lateral} {join} \
                 WHERE c.id = $1 AND c.tenant = $2 \
                 FOR NO KEY UPDATE OF c"
            )
        };
        Self {
            schema: s.to_owned(),
            get_record: format!("{record_from} WHERE c.id = $1 AND c.tenant = $2"),
            find_direct: format!(
                "{record_from} WHERE c.tenant = $1 AND c.kind = 'direct' AND c.direct_low = $2 \
                 AND c.direct_high = $3 AND (c.tag_type IS NOT NULL) = $6 \
                 AND coalesce(c.tag_type, '') = $4 AND coalesce(c.tag_id, '') = $5"
            ),
            insert_direct: format!(
                "WITH c AS ( \
                   INSERT INTO {s}.conversations (id, tenant, kind, tag_type, tag_id, tag_id_is_int, \
                     direct_low, direct_high, created_by, created_at, updated_at, last_seq, last_activity_at, metadata) \
                   VALUES ($1, $2, 'direct', $3, $4, $5, $6, $7, $8, $9, $9, 0, $9, $10) \
                   ON CONFLICT (tenant, direct_low, direct_high, (tag_type IS NOT NULL), (coalesce(tag_type, '')), \
                     (coalesce(tag_id, ''))) \
                     WHERE kind = 'direct' DO NOTHING \
                   RETURNING id, tenant, tag_type, tag_id, created_at \
                 ), p AS ( \
                   INSERT INTO {s}.participants (conversation_id, user_id, tenant, tag_type, tag_id, role, joined_at) \
                   SELECT c.id, u.user_id, c.tenant, c.tag_type, c.tag_id, 'member', c.created_at \
                   FROM c CROSS JOIN unnest($11::text[]) AS u(user_id) \
                   RETURNING conversation_id, user_id, tenant, joined_at \
                 ), m AS ( \
                   INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at) \
                   SELECT p.conversation_id, p.user_id, p.tenant, p.joined_at FROM p \
                 ) SELECT id FROM c"
            ),
            insert_group: format!(
                "WITH c AS ( \
                   INSERT INTO {s}.conversations (id, tenant, kind, title, tag_type, tag_id, \
                     tag_id_is_int, created_by, created_at, updated_at, last_seq, last_activity_at, metadata) \
                   VALUES ($1, $2, 'group', $3, $5, $6, $7, $8, $9, $9, 0, $9, $10) \
                   RETURNING id, tenant, tag_type, tag_id, created_at \
                 ), p AS ( \
                   INSERT INTO {s}.participants (conversation_id, user_id, tenant, tag_type, tag_id, \
                     title_lower, role, joined_at) \
                   SELECT c.id, u.user_id, c.tenant, c.tag_type, c.tag_id, $4, u.role, c.created_at \
                   FROM c CROSS JOIN unnest($11::text[], $12::text[]) AS u(user_id, role) \
                   RETURNING conversation_id, user_id, tenant, joined_at \
                 ) INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at) \
                   SELECT p.conversation_id, p.user_id, p.tenant, p.joined_at FROM p"
            ),
            lock_plain: lock(""),
            lock_message_id: lock("m.id = $3"),
            append: format!("SELECT * FROM {s}.append_message($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            attachments: AttachmentSql::new(s),
            blocks: crate::moderation_sql::BlockSql::new(s),
            reports: crate::moderation_sql::ReportSql::new(s),
            erase: crate::moderation_sql::EraseSql::new(s),
            // rules::claim_notification in SQL: due rows, earliest first, of conversations
            // no one else holds (SKIP LOCKED: another node's claim or a send in progress;
            // those come in a later round). Locking the conversation and bumping its version
            // is the locking protocol of every participant write (see `PgStore::lock`); the
            // final UPDATE re-checks the due time on the newest row version, so two nodes
            // never claim one row before its lease ends.
            // SKIP LOCKED below the LIMIT: rows whose conversation another worker or a
            // writer holds are passed over and the limit is filled from the next due ones.
            claim_notifications: format!(
                "WITH due AS ( \
                   SELECT n.conversation_id, n.user_id FROM {s}.pending_notifications n \
                   JOIN {s}.conversations c ON c.id = n.conversation_id \
                   WHERE n.due_at <= $1 AND ($4::text IS NULL OR n.tenant = $4) \
                   ORDER BY n.due_at LIMIT $3 \
                   FOR NO KEY UPDATE OF c SKIP LOCKED \
                 ), bumped AS ( \
                   UPDATE {s}.conversations c SET version = c.version + 1 \
                   WHERE c.id IN (SELECT conversation_id FROM due) \
                 ) UPDATE {s}.pending_notifications n SET due_at = $2, attempts = n.attempts + 1 \
                 FROM due d \
                 WHERE n.conversation_id = d.conversation_id AND n.user_id = d.user_id AND n.due_at <= $1 \
                 RETURNING n.tenant, n.user_id, n.conversation_id, n.first_seq AS notify_first_seq, \
                   n.due_at AS notify_due_at, n.attempts AS notify_attempts"
            ),
            save_pending: {
                let (delete, upsert) = pending_writes(s, "$1", "$6");
                format!(
                    "WITH c AS (UPDATE {s}.conversations SET version = version + 1 WHERE id = $1), \
                     v AS (SELECT $2::text AS user_id, $3::bigint AS first_seq, $4::timestamptz AS due_at, \
                       $5::integer AS attempts), \
                     {delete} {upsert}"
                )
            },
            // Each of the three rows is written only when it changes.
            save_participant: {
                let (delete, upsert) = pending_writes(s, "$1", "$16");
                format!(
                    "WITH c AS (UPDATE {s}.conversations SET updated_at = $3, version = version + 1 WHERE id = $1), \
                     p AS (UPDATE {s}.participants SET role = $4, cleared_through_seq = $9, muted = $15 \
                       WHERE conversation_id = $1 AND user_id = $2 \
                         AND (role, cleared_through_seq, muted) IS DISTINCT FROM ($4, $9, $15)), \
                     v AS (SELECT $2::text AS user_id, $12::bigint AS first_seq, $13::timestamptz AS due_at, \
                       $14::integer AS attempts), \
                     {delete}, pu AS ({upsert}) \
                     UPDATE {s}.member_state SET last_read_seq = $5, last_read_at = $6, unread_count = $7, \
                       is_archived = $8, last_delivered_seq = $10, last_delivered_at = $11 \
                     WHERE conversation_id = $1 AND user_id = $2 \
                       AND (last_read_seq, last_read_at, unread_count, is_archived, last_delivered_seq, \
                         last_delivered_at) IS DISTINCT FROM ($5, $6, $7, $8, $10, $11)"
                )
            },
            save_message: format!(
                "WITH c AS ( \
                   UPDATE {s}.conversations SET updated_at = $6, last_message_id = $7, last_message_seq = $8, \
                     last_message_sender = $9, last_message_text = $10, last_message_at = $11, \
                     version = version + 1 \
                   WHERE id = $1 \
                 ) UPDATE {s}.messages SET body = $3, edited_at = $4, deleted_at = $5, reactions = $12, \
                   attachments = $13 WHERE conversation_id = $1 AND id = $2"
            ),
            // Reactions change the message alone, not the conversation's activity or anyone's
            // counters; the version moves like after every write under the lock, so that a
            // writer that waited for this one reads the message again (see `PgStore::lock`).
            save_reactions: format!(
                "WITH c AS (UPDATE {s}.conversations SET version = version + 1 WHERE id = $1) \
                 UPDATE {s}.messages SET reactions = $3 WHERE conversation_id = $1 AND id = $2"
            ),
            // `$1` conversation, `$2` actor, `$3` tenant, `$4` seqs. One row with NULL message
            // columns when the actor is a member and none is found; no row when not a member.
            messages_by_seq: format!(
                "SELECT {MESSAGE_COLUMNS} FROM \
                   (SELECT 1 FROM {s}.participants p \
                    WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.tenant = $3) me \
                 LEFT JOIN LATERAL ( \
                   SELECT * FROM {s}.messages q WHERE q.conversation_id = $1 AND q.seq = ANY($4) \
                 ) m ON true \
                 ORDER BY m.seq"
            ),
            newest_visible_before: format!(
                "SELECT {MESSAGE_COLUMNS} FROM {s}.messages m \
                 WHERE m.conversation_id = $1 AND m.seq < $2 AND m.deleted_at IS NULL \
                 ORDER BY m.seq DESC LIMIT 1"
            ),
            count_deleted_above: format!(
                "SELECT count(*) AS deleted FROM {s}.messages \
                 WHERE conversation_id = $1 AND seq > $2 AND deleted_at IS NOT NULL"
            ),
            save_unread_counts: {
                let (delete, upsert) = pending_writes(s, "$1", "$7");
                format!(
                    "WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[], \
                       $6::integer[]) AS v(user_id, unread_count, first_seq, due_at, attempts)), \
                     counts AS (UPDATE {s}.member_state m SET unread_count = v.unread_count FROM v \
                       WHERE m.conversation_id = $1 AND m.user_id = v.user_id AND m.unread_count <> v.unread_count), \
                     {delete} {upsert}"
                )
            },
            save_deliveries: format!(
                "WITH c AS (UPDATE {s}.conversations SET version = version + 1 WHERE id = $1) \
                 UPDATE {s}.member_state m SET last_delivered_seq = v.seq, last_delivered_at = v.at \
                 FROM unnest($2::text[], $3::bigint[], $4::timestamptz[]) AS v(user_id, seq, at) \
                 WHERE m.conversation_id = $1 AND m.user_id = v.user_id"
            ),
            add_participants: format!(
                "WITH c AS ( \
                   UPDATE {s}.conversations SET updated_at = $3, version = version + 1 WHERE id = $1 \
                   RETURNING id, tenant, tag_type, tag_id, last_activity_at, last_seq \
                 ), p AS ( \
                   INSERT INTO {s}.participants (conversation_id, user_id, tenant, tag_type, tag_id, \
                     title_lower, role, joined_at) \
                   SELECT c.id, u.user_id, c.tenant, c.tag_type, c.tag_id, $4, 'member', $3 \
                   FROM c CROSS JOIN unnest($2::text[]) AS u(user_id) \
                   RETURNING conversation_id, user_id, tenant \
                 ) INSERT INTO {s}.member_state (conversation_id, user_id, tenant, last_activity_at, \
                     last_read_seq, last_delivered_seq) \
                   SELECT p.conversation_id, p.user_id, p.tenant, c.last_activity_at, c.last_seq, c.last_seq \
                   FROM p CROSS JOIN c"
            ),
            remove_participant: format!(
                "WITH c AS (UPDATE {s}.conversations SET updated_at = $3, version = version + 1 WHERE id = $1), \
                 d AS (DELETE FROM {s}.participants WHERE conversation_id = $1 AND user_id = $2) \
                 UPDATE {s}.participants SET role = 'owner' WHERE conversation_id = $1 AND user_id = $4"
            ),
            history_oldest_first: history(s, "ASC"),
            history_newest_first: history(s, "DESC"),
            search: {
                // Two index-driven branches, merged in inbox order: the user's groups whose
                // title contains the text, and the conversations of the named users that the
                // user is in.
                let titles = format!(
                    "(SELECT m.conversation_id, m.last_activity_at FROM {s}.participants p \
                      JOIN {s}.member_state m ON m.conversation_id = p.conversation_id AND m.user_id = p.user_id \
                      WHERE p.tenant = $1 AND p.user_id = $2 AND p.title_lower IS NOT NULL \
                        AND strpos(p.title_lower, $3) > 0 \
                      ORDER BY m.last_activity_at DESC, m.conversation_id DESC LIMIT $5)"
                );
                let people = format!(
                    "(SELECT me.conversation_id, me.last_activity_at FROM {s}.participants o \
                      JOIN {s}.member_state me ON me.conversation_id = o.conversation_id AND me.user_id = $2 \
                      WHERE o.tenant = $1 AND o.user_id = ANY($4) AND o.user_id <> $2 \
                      ORDER BY me.last_activity_at DESC, me.conversation_id DESC LIMIT $5)"
                );
                format!(
                    "WITH page AS (SELECT u.conversation_id, u.last_activity_at FROM ({titles} UNION {people}) u \
                       ORDER BY u.last_activity_at DESC, u.conversation_id DESC LIMIT $5) \
                     SELECT {RECORD_COLUMNS} FROM page \
                     JOIN {s}.conversations c ON c.id = page.conversation_id {lateral} \
                     ORDER BY page.last_activity_at DESC, page.conversation_id DESC"
                )
            },
            stats: format!(
                "SELECT coalesce((SELECT t.conversations FROM {s}.user_totals t \
                                  WHERE t.tenant = $1 AND t.user_id = $2), 0) AS total, \
                   count(*) AS unread_conversations, coalesce(sum(m.unread_count), 0)::bigint AS unread_messages \
                 FROM {s}.member_state m WHERE m.tenant = $1 AND m.user_id = $2 AND m.unread_count > 0"
            ),
        }
    }

    /// The locking read of a conversation (see `PgStore::lock`).
    pub(crate) fn lock(&self, lookup: Lookup) -> &str {
        match lookup {
            Lookup::None => &self.lock_plain,
            Lookup::MessageId(_) => &self.lock_message_id,
        }
    }

    /// An inbox page: `$1` tenant, `$2` user, `$3` limit, then the tag parameters (type, id)
    /// and the cursor (activity, id) in that order, as the filter needs them.
    pub(crate) fn inbox(&self, archive: ArchiveFilter, unread_only: bool, tag: TagMode, cursor: bool) -> String {
        let s = &self.schema;
        let mut conditions = vec!["s.tenant = $1".to_owned(), "s.user_id = $2".to_owned()];
        let mut next = 4;
        if unread_only {
            conditions.push("s.unread_count > 0".into());
        }
        if tag != TagMode::None {
            conditions.push(format!("p.tag_type = ${next}"));
            next += 1;
        }
        if tag == TagMode::TypeAndId {
            conditions.push(format!("p.tag_id = ${next}"));
            next += 1;
        }
        if cursor {
            conditions.push(format!(
                "(s.last_activity_at, s.conversation_id) < (${next}, ${})",
                next + 1
            ));
        }
        let from = match tag {
            TagMode::None => format!("{s}.member_state s"),
            TagMode::Type | TagMode::TypeAndId => format!(
                "{s}.participants p JOIN {s}.member_state s \
                 ON s.conversation_id = p.conversation_id AND s.user_id = p.user_id"
            ),
        };
        if tag != TagMode::None {
            conditions.extend(["p.tenant = $1".to_owned(), "p.user_id = $2".to_owned()]);
        }
        let page = page_branches(archive_flags(archive), &from, &conditions.join(" AND "), "$3");
        let lateral = participants_lateral(s);
        format!(
            "WITH page AS ({page}) SELECT {RECORD_COLUMNS} FROM page \
             JOIN {s}.conversations c ON c.id = page.conversation_id {lateral} \
             ORDER BY page.last_activity_at DESC, page.conversation_id DESC"
        )
    }
}

/// The writes of pending notifications from a CTE `v(user_id, first_seq, due_at, attempts)`
/// for conversation `conversation` in `tenant` (parameter references): a CTE deleting the rows
/// of those whose `due_at` is NULL (named `pd`), and an `INSERT` upserting the others,
/// which writes nothing for a row that is already as given.
fn pending_writes(s: &str, conversation: &str, tenant: &str) -> (String, String) {
    (
        format!(
            "pd AS (DELETE FROM {s}.pending_notifications n USING v \
             WHERE n.conversation_id = {conversation} AND n.user_id = v.user_id AND v.due_at IS NULL)"
        ),
        format!(
            "INSERT INTO {s}.pending_notifications AS n (conversation_id, user_id, tenant, first_seq, due_at, attempts) \
             SELECT {conversation}, v.user_id, {tenant}, v.first_seq, v.due_at, v.attempts FROM v \
             WHERE v.due_at IS NOT NULL \
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET first_seq = EXCLUDED.first_seq, \
               due_at = EXCLUDED.due_at, attempts = EXCLUDED.attempts \
             WHERE (n.first_seq, n.due_at, n.attempts) \
               IS DISTINCT FROM (EXCLUDED.first_seq, EXCLUDED.due_at, EXCLUDED.attempts)"
        ),
    )
}

/// A history page: `$1` conversation, `$2` actor, `$3` tenant, `$4` after, `$5` before,
/// `$6` limit; each row also carries what its message quotes (`q_` columns), so quotes
/// cost no further query. One row with NULL message columns when the actor is a member and the page is
/// empty; no row when the actor is not a member.
fn history(s: &str, direction: &str) -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS}, {QUOTED_COLUMNS} FROM \
           (SELECT p.cleared_through_seq FROM {s}.participants p \
            WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.tenant = $3) me \
         LEFT JOIN LATERAL ( \
           SELECT * FROM {s}.messages h \
           WHERE h.conversation_id = $1 AND h.seq > greatest($4::bigint, me.cleared_through_seq) AND h.seq < $5 \
           ORDER BY h.seq {direction} LIMIT $6 \
         ) m ON true \
         LEFT JOIN LATERAL ( \
           SELECT * FROM {s}.messages r WHERE r.conversation_id = $1 AND r.seq = m.reply_to_seq \
         ) q ON true \
         ORDER BY m.seq {direction}"
    )
}
