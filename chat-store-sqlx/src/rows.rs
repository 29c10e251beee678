//! Column lists and the decoding of rows into chat-core records.

use chat_core::backend::PendingNotification;
use chat_core::model::{
    Conversation, ConversationKind, ConversationRecord, LastMessage, Message, MessageKind, MessageRef, Participant,
    Quote, Reaction, Role,
};
use chat_core::{
    AttachedFile, Attachment, AttachmentId, AttachmentState, ConversationId, MessageId, Metadata, Tag, TaggableId,
    TenantId, UserId,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Row, postgres::Postgres};
use uuid::Uuid;

use crate::error::PgStoreError;

/// The columns of a conversation record: the conversation `c` and the aggregated
/// participant arrays `pa` (see [`participants_lateral`]). The `append_message` function of
/// `functions/append_message.sql` returns the same columns; change both together.
pub(crate) const RECORD_COLUMNS: &str = "c.id, c.tenant, c.kind, c.title, c.tag_type, c.tag_id, c.tag_id_is_int, \
     c.created_by, c.created_at, c.updated_at, c.last_seq, c.last_activity_at, c.last_message_id, \
     c.last_message_seq, c.last_message_sender, c.last_message_text, c.last_message_at, c.metadata, c.version, \
     pa.p_users, pa.p_roles, pa.p_joined_at, pa.p_last_read_seq, pa.p_last_read_at, pa.p_unread, \
     pa.p_archived, pa.p_cleared, pa.p_delivered_seq, pa.p_delivered_at, \
     pa.p_notify_seq, pa.p_notify_due_at, pa.p_notify_attempts, pa.p_muted";

/// The participants of conversation `c` as parallel arrays (one aggregation, so every array
/// has the same order): each member's `participants` row with its `member_state` row and its
/// pending notification, if any.
pub(crate) fn participants_lateral(schema: &str) -> String {
    format!(
        "CROSS JOIN LATERAL (SELECT array_agg(p.user_id) AS p_users, array_agg(p.role) AS p_roles, \
         array_agg(p.joined_at) AS p_joined_at, array_agg(s.last_read_seq) AS p_last_read_seq, \
         array_agg(s.last_read_at) AS p_last_read_at, array_agg(s.unread_count) AS p_unread, \
         array_agg(s.is_archived) AS p_archived, array_agg(p.cleared_through_seq) AS p_cleared, \
         array_agg(s.last_delivered_seq) AS p_delivered_seq, array_agg(s.last_delivered_at) AS p_delivered_at, \
         array_agg(n.first_seq) AS p_notify_seq, array_agg(n.due_at) AS p_notify_due_at, \
         array_agg(coalesce(n.attempts, 0)) AS p_notify_attempts, array_agg(p.muted) AS p_muted \
         FROM {schema}.participants p \
         JOIN {schema}.member_state s ON s.conversation_id = p.conversation_id AND s.user_id = p.user_id \
         LEFT JOIN {schema}.pending_notifications n \
           ON n.conversation_id = p.conversation_id AND n.user_id = p.user_id \
         WHERE p.conversation_id = c.id) pa"
    )
}

/// The columns of a message `m`, prefixed `m_` so they can sit beside a record's.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id AS m_id, m.conversation_id AS m_conversation_id, m.seq AS m_seq, \
     m.sender AS m_sender, m.body AS m_body, m.client_message_id AS m_client_message_id, \
     m.metadata AS m_metadata, m.created_at AS m_created_at, m.edited_at AS m_edited_at, \
     m.deleted_at AS m_deleted_at, m.kind AS m_kind, m.reply_to_id AS m_reply_to_id, \
     m.reply_to_seq AS m_reply_to_seq, m.reactions AS m_reactions, m.attachments AS m_attachments";

/// The columns of an attachment `a` ([`attachment_from_row`]).
pub(crate) const ATTACHMENT_COLUMNS: &str = "a.id AS a_id, a.tenant AS a_tenant, a.conversation_id AS a_conversation_id, \
     a.uploader AS a_uploader, a.name AS a_name, a.content_type AS a_content_type, a.size AS a_size, \
     a.width AS a_width, a.height AS a_height, a.created_at AS a_created_at, a.state AS a_state, \
     a.message_id AS a_message_id";

/// The text of an attachment state in the `state` column.
pub(crate) fn attachment_state_text(state: AttachmentState) -> (&'static str, Option<Uuid>) {
    match state {
        AttachmentState::Uploading => ("uploading", None),
        AttachmentState::Unsent => ("unsent", None),
        AttachmentState::Sent(message) => ("sent", Some(*message.as_uuid())),
        AttachmentState::Discarded => ("discarded", None),
    }
}

/// Decodes the `a_`-prefixed [`ATTACHMENT_COLUMNS`]; `None` when the row has none (an outer
/// join that found none).
pub(crate) fn attachment_from_row(row: &PgRow) -> Result<Option<Attachment>, PgStoreError> {
    let Some(id) = get::<Option<Uuid>>(row, "a_id")? else {
        return Ok(None);
    };
    let state = match (
        get::<String>(row, "a_state")?.as_str(),
        get::<Option<Uuid>>(row, "a_message_id")?,
    ) {
        ("uploading", _) => AttachmentState::Uploading,
        ("unsent", _) => AttachmentState::Unsent,
        ("sent", Some(message)) => AttachmentState::Sent(MessageId::from_uuid(message)),
        ("discarded", _) => AttachmentState::Discarded,
        (other, _) => return Err(PgStoreError::Corrupt(format!("attachment state {other:?}"))),
    };
    let dimension = |column: &str| -> Result<Option<u32>, PgStoreError> {
        get::<Option<i32>>(row, column)?
            .map(|value| u32::try_from(value).map_err(|_| PgStoreError::Corrupt(format!("{column} {value}"))))
            .transpose()
    };
    Ok(Some(Attachment {
        id: AttachmentId::from_uuid(id),
        tenant: TenantId::new(get::<String>(row, "a_tenant")?)
            .map_err(|error| PgStoreError::Corrupt(error.to_string()))?,
        conversation_id: ConversationId::from_uuid(get(row, "a_conversation_id")?),
        uploader: user(get(row, "a_uploader")?)?,
        name: get(row, "a_name")?,
        content_type: get(row, "a_content_type")?,
        size: to_u64(get(row, "a_size")?, "size")?,
        width: dimension("a_width")?,
        height: dimension("a_height")?,
        created_at: get(row, "a_created_at")?,
        state,
    }))
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, PgStoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    Ok(row.try_get(column)?)
}

/// A stored counter or seq as `u64`.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, PgStoreError> {
    u64::try_from(value).map_err(|_| PgStoreError::Corrupt(format!("negative {what}: {value}")))
}

/// A counter or seq as the `bigint` it is stored as. Values past `i64::MAX` saturate: they
/// only ever come from clients as bounds (`before`, `after`, `up_to`), where that is exact.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn user(value: String) -> Result<UserId, PgStoreError> {
    UserId::new(value).map_err(|error| PgStoreError::Corrupt(format!("stored user id: {error}")))
}

fn metadata(value: Json<serde_json::Value>) -> Result<Metadata, PgStoreError> {
    match value.0 {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(PgStoreError::Corrupt(format!("metadata is not an object: {other}"))),
    }
}

/// The tag columns (`type`, canonical `id`, `id is an integer`) of an optional tag.
pub(crate) fn tag_columns(tag: Option<&Tag>) -> (Option<String>, Option<String>, Option<bool>) {
    match tag {
        Some(tag) => (
            Some(tag.taggable_type.clone()),
            Some(tag.taggable_id.canonical()),
            Some(matches!(tag.taggable_id, TaggableId::Int(_))),
        ),
        None => (None, None, None),
    }
}

fn tag_of(
    taggable_type: Option<String>,
    id: Option<String>,
    is_int: Option<bool>,
) -> Result<Option<Tag>, PgStoreError> {
    let (Some(taggable_type), Some(id)) = (taggable_type, id) else {
        return Ok(None);
    };
    let taggable_id = if is_int == Some(true) {
        TaggableId::Int(
            id.parse()
                .map_err(|_| PgStoreError::Corrupt(format!("integer tag id {id:?}")))?,
        )
    } else {
        TaggableId::Str(id)
    };
    Ok(Some(Tag {
        taggable_type,
        taggable_id,
    }))
}

fn kind_of(value: &str) -> Result<ConversationKind, PgStoreError> {
    match value {
        "direct" => Ok(ConversationKind::Direct),
        "group" => Ok(ConversationKind::Group),
        other => Err(PgStoreError::Corrupt(format!("conversation kind {other:?}"))),
    }
}

fn role_of(value: &str) -> Result<Role, PgStoreError> {
    match value {
        "owner" => Ok(Role::Owner),
        "member" => Ok(Role::Member),
        other => Err(PgStoreError::Corrupt(format!("participant role {other:?}"))),
    }
}

/// The stored text of a role.
pub(crate) fn role_text(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Member => "member",
    }
}

/// Decodes a row selected with [`RECORD_COLUMNS`]; participants come back in canonical order.
pub(crate) fn record_from_row(row: &PgRow) -> Result<ConversationRecord, PgStoreError> {
    let last_message = match get::<Option<Uuid>>(row, "last_message_id")? {
        Some(id) => Some(LastMessage {
            id: MessageId::from_uuid(id),
            seq: to_u64(get(row, "last_message_seq")?, "preview seq")?,
            sender: get::<Option<String>>(row, "last_message_sender")?
                .map(user)
                .transpose()?,
            text: get(row, "last_message_text")?,
            at: get(row, "last_message_at")?,
        }),
        None => None,
    };
    let conversation = Conversation {
        id: ConversationId::from_uuid(get(row, "id")?),
        tenant: TenantId::new(get::<String>(row, "tenant")?)
            .map_err(|error| PgStoreError::Corrupt(format!("stored tenant: {error}")))?,
        kind: kind_of(&get::<String>(row, "kind")?)?,
        title: get(row, "title")?,
        tag: tag_of(get(row, "tag_type")?, get(row, "tag_id")?, get(row, "tag_id_is_int")?)?,
        created_by: user(get(row, "created_by")?)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_message,
        last_seq: to_u64(get(row, "last_seq")?, "last_seq")?,
        last_activity_at: get(row, "last_activity_at")?,
        metadata: metadata(get(row, "metadata")?)?,
    };
    let users: Vec<String> = get::<Option<Vec<String>>>(row, "p_users")?.unwrap_or_default();
    let roles: Vec<String> = get::<Option<Vec<String>>>(row, "p_roles")?.unwrap_or_default();
    let joined: Vec<DateTime<Utc>> = get::<Option<Vec<DateTime<Utc>>>>(row, "p_joined_at")?.unwrap_or_default();
    let last_read: Vec<i64> = get::<Option<Vec<i64>>>(row, "p_last_read_seq")?.unwrap_or_default();
    let last_read_at: Vec<Option<DateTime<Utc>>> =
        get::<Option<Vec<Option<DateTime<Utc>>>>>(row, "p_last_read_at")?.unwrap_or_default();
    let unread: Vec<i64> = get::<Option<Vec<i64>>>(row, "p_unread")?.unwrap_or_default();
    let archived: Vec<bool> = get::<Option<Vec<bool>>>(row, "p_archived")?.unwrap_or_default();
    let cleared: Vec<i64> = get::<Option<Vec<i64>>>(row, "p_cleared")?.unwrap_or_default();
    let delivered: Vec<i64> = get::<Option<Vec<i64>>>(row, "p_delivered_seq")?.unwrap_or_default();
    let delivered_at: Vec<Option<DateTime<Utc>>> =
        get::<Option<Vec<Option<DateTime<Utc>>>>>(row, "p_delivered_at")?.unwrap_or_default();
    let notify_seq: Vec<Option<i64>> = get::<Option<Vec<Option<i64>>>>(row, "p_notify_seq")?.unwrap_or_default();
    let notify_due: Vec<Option<DateTime<Utc>>> =
        get::<Option<Vec<Option<DateTime<Utc>>>>>(row, "p_notify_due_at")?.unwrap_or_default();
    let notify_attempts: Vec<i32> = get::<Option<Vec<i32>>>(row, "p_notify_attempts")?.unwrap_or_default();
    let muted: Vec<bool> = get::<Option<Vec<bool>>>(row, "p_muted")?.unwrap_or_default();
    let count = users.len();
    if [
        roles.len(),
        joined.len(),
        last_read.len(),
        last_read_at.len(),
        unread.len(),
        archived.len(),
        cleared.len(),
        delivered.len(),
        delivered_at.len(),
        notify_seq.len(),
        notify_due.len(),
        notify_attempts.len(),
        muted.len(),
    ]
    .iter()
    .any(|&len| len != count)
    {
        return Err(PgStoreError::Corrupt("participant arrays of different lengths".into()));
    }
    let mut participants = Vec::with_capacity(count);
    for index in 0..count {
        participants.push(Participant {
            user: user(users[index].clone())?,
            role: role_of(&roles[index])?,
            joined_at: joined[index],
            last_read_seq: to_u64(last_read[index], "last_read_seq")?,
            last_read_at: last_read_at[index],
            unread_count: to_u64(unread[index], "unread_count")?,
            is_archived: archived[index],
            muted: muted[index],
            cleared_through_seq: to_u64(cleared[index], "cleared_through_seq")?,
            last_delivered_seq: to_u64(delivered[index], "last_delivered_seq")?,
            last_delivered_at: delivered_at[index],
            pending_notification: pending_of(notify_seq[index], notify_due[index], notify_attempts[index])?,
        });
    }
    let mut record = ConversationRecord {
        conversation,
        participants,
    };
    record.sort_participants();
    Ok(record)
}

/// A participant's pending notification from its three columns (both or neither of the
/// first two are set, by a CHECK).
pub(crate) fn pending_of(
    first_seq: Option<i64>,
    due_at: Option<DateTime<Utc>>,
    attempts: i32,
) -> Result<Option<PendingNotification>, PgStoreError> {
    match (first_seq, due_at) {
        (Some(first_seq), Some(due_at)) => Ok(Some(PendingNotification {
            first_unread_seq: to_u64(first_seq, "notify_first_seq")?,
            due_at,
            attempts: u32::try_from(attempts)
                .map_err(|_| PgStoreError::Corrupt("stored notify_attempts is negative".into()))?,
        })),
        (None, None) => Ok(None),
        _ => Err(PgStoreError::Corrupt("half a pending notification".into())),
    }
}

/// The columns of a quoted message `q` that a quote shows, prefixed `q_`.
pub(crate) const QUOTED_COLUMNS: &str =
    "q.id AS q_id, q.seq AS q_seq, q.sender AS q_sender, left(q.body, 280) AS q_text, q.deleted_at AS q_deleted_at";

/// Decodes the `m_`-prefixed [`MESSAGE_COLUMNS`]; `None` when the row has no message (an
/// outer join that found none).
pub(crate) fn message_from_row(row: &PgRow) -> Result<Option<Message>, PgStoreError> {
    message_with_prefix(row, "m_")
}

/// The quote of a history row ([`QUOTED_COLUMNS`]), if the row's message is a reply whose
/// original was found.
pub(crate) fn quote_from_row(row: &PgRow) -> Result<Option<Quote>, PgStoreError> {
    let Some(id) = get::<Option<Uuid>>(row, "q_id")? else {
        return Ok(None);
    };
    let text: String = get(row, "q_text")?;
    Ok(Some(Quote {
        id: MessageId::from_uuid(id),
        seq: to_u64(get(row, "q_seq")?, "seq")?,
        sender: get::<Option<String>>(row, "q_sender")?.map(user).transpose()?,
        text: LastMessage::preview_text(&text),
        deleted: get::<Option<DateTime<Utc>>>(row, "q_deleted_at")?.is_some(),
    }))
}

fn message_with_prefix(row: &PgRow, prefix: &str) -> Result<Option<Message>, PgStoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let Some(id) = get::<Option<Uuid>>(row, &column("id"))? else {
        return Ok(None);
    };
    let kind = match get::<String>(row, &column("kind"))?.as_str() {
        "user" => MessageKind::User,
        "system" => MessageKind::System,
        other => return Err(PgStoreError::Corrupt(format!("message kind {other:?}"))),
    };
    let reply_to = match (
        get::<Option<Uuid>>(row, &column("reply_to_id"))?,
        get::<Option<i64>>(row, &column("reply_to_seq"))?,
    ) {
        (Some(id), Some(seq)) => Some(MessageRef {
            id: MessageId::from_uuid(id),
            seq: to_u64(seq, "reply_to_seq")?,
        }),
        _ => None,
    };
    let Json(reactions) = get::<Json<Vec<Reaction>>>(row, &column("reactions"))?;
    let Json(attachments) = get::<Json<Vec<AttachedFile>>>(row, &column("attachments"))?;
    Ok(Some(Message {
        id: MessageId::from_uuid(id),
        conversation_id: ConversationId::from_uuid(get(row, &column("conversation_id"))?),
        seq: to_u64(get(row, &column("seq"))?, "seq")?,
        kind,
        sender: get::<Option<String>>(row, &column("sender"))?.map(user).transpose()?,
        body: get(row, &column("body"))?,
        client_message_id: get(row, &column("client_message_id"))?,
        reply_to,
        reactions,
        attachments,
        metadata: metadata(get(row, &column("metadata"))?)?,
        created_at: get(row, &column("created_at"))?,
        edited_at: get(row, &column("edited_at"))?,
        deleted_at: get(row, &column("deleted_at"))?,
    }))
}
