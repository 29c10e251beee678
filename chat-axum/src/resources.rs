//! The JSON resources of the HTTP contract and the envelopes around them.
//!
//! Timestamps are ISO-8601 UTC with exactly six fractional digits and `Z`
//! (`2025-10-15T10:30:00.000000Z`), see [`timestamp`].

use std::fmt;
use std::sync::Arc;

use chat_core::{ConversationKind, ConversationView, Participant, Profile, Role, Stats, TaggableId, UserId};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

mod message;

pub use message::{
    AttachmentResource, DeliveryStatus, MessageKindResource, MessageResource, ReactionResource, ReplyResource,
};

/// Serializers for timestamps in the wire format `2025-10-15T10:30:00.000000Z`.
pub mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    /// The wire format, for `chrono::format`.
    pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

    /// `time` in the wire format.
    pub fn format(time: &DateTime<Utc>) -> String {
        time.format(FORMAT).to_string()
    }

    /// Serializes a timestamp (`#[serde(serialize_with = "timestamp::serialize")]`).
    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.format(FORMAT))
    }

    /// Serializes an optional timestamp as the wire format or `null`.
    pub fn serialize_option<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => serialize(time, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// `{"message": ..., "data": ...}`: the envelope of every success.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// What happened, for people.
    #[schema(example = "Conversation retrieved.")]
    pub message: String,
    /// The resource.
    pub data: T,
}

impl<T> Envelope<T> {
    /// `data` with `message`.
    pub fn new(message: impl Into<String>, data: T) -> Self {
        Self {
            message: message.into(),
            data,
        }
    }
}

/// `{"message": ..., "data": [...], "meta": {"next_cursor": ...}}`: the envelope of lists.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// What happened, for people.
    #[schema(example = "Conversations retrieved.")]
    pub message: String,
    /// The rows of this page.
    pub data: Vec<T>,
    /// Paging.
    pub meta: ListMeta,
}

impl<T> ListEnvelope<T> {
    /// A page of `data` with `message`.
    pub fn new(message: impl Into<String>, data: Vec<T>, next_cursor: Option<String>) -> Self {
        Self {
            message: message.into(),
            data,
            meta: ListMeta { next_cursor },
        }
    }
}

/// Paging of a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListMeta {
    /// Pass back as `cursor` (inbox) or `before` / `after` (messages) for the next page;
    /// `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Profile fields a host's extra public fields may not override.
const RESERVED_USER_FIELDS: &[&str] = &["uuid", "name", "avatar_url", "pivot"];

/// A user's public profile: exactly what the host's directory returned, nothing more.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UserResource {
    /// The host's user id.
    #[schema(example = "seller-7")]
    pub uuid: String,
    /// Display name.
    #[schema(example = "Bruno Díaz")]
    pub name: String,
    /// Photo URL.
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    /// Further public fields the host put in the profile, if any.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl From<&Profile> for UserResource {
    fn from(profile: &Profile) -> Self {
        Self {
            uuid: profile.id.as_str().to_owned(),
            name: profile.name.clone(),
            avatar_url: profile.avatar_url.clone(),
            extra: profile
                .extra
                .iter()
                .filter(|(key, _)| !RESERVED_USER_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }
}

/// A participant's membership of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PivotResource {
    /// Messages from others they have not read.
    pub unread_count: u64,
    /// When their read watermark last moved.
    #[serde(serialize_with = "timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true, example = "2025-10-15T10:30:00.000000Z")]
    pub last_read_at: Option<DateTime<Utc>>,
    /// Their read watermark: every message up to this seq is read.
    pub last_read_seq: u64,
    /// When they joined.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub joined_at: DateTime<Utc>,
    /// `owner` (a group's owner: removes others) or `member`.
    pub role: RoleResource,
}

/// A participant's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleResource {
    /// Owns the group: removes other members. Passes to the longest-standing member when
    /// the owner leaves.
    Owner,
    /// Any other participant (both of a direct conversation).
    Member,
}

impl From<&Participant> for PivotResource {
    fn from(participant: &Participant) -> Self {
        Self {
            unread_count: participant.unread_count,
            last_read_at: participant.last_read_at,
            last_read_seq: participant.last_read_seq,
            joined_at: participant.joined_at,
            role: match participant.role {
                Role::Owner => RoleResource::Owner,
                Role::Member => RoleResource::Member,
            },
        }
    }
}

/// A participant: public profile and membership.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ParticipantResource {
    /// The host's user id.
    #[schema(example = "buyer-1")]
    pub uuid: String,
    /// Display name.
    #[schema(example = "Ana Souza")]
    pub name: String,
    /// Photo URL.
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    /// Further public fields the host put in the profile, if any.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The membership.
    pub pivot: PivotResource,
}

/// The participants of a conversation resource, built once and shared: the frames of one
/// live event for all its recipients (up to a group's 256) share one list, already
/// serialized ([`ParticipantList::serialized`]), instead of each building and writing its own.
#[derive(Clone, Debug)]
pub struct ParticipantList(Arc<Participants>);

#[derive(Debug)]
enum Participants {
    Built(Vec<ParticipantResource>),
    Serialized(Box<serde_json::value::RawValue>),
}

impl ParticipantList {
    /// The participants of `view` with their public profiles, in joined order.
    pub fn of(view: &ConversationView) -> Self {
        let list = view
            .participants
            .iter()
            .map(|participant| {
                let user = UserResource::from(&participant.profile);
                ParticipantResource {
                    uuid: participant.participant.user.as_str().to_owned(),
                    name: user.name,
                    avatar_url: user.avatar_url,
                    extra: user.extra,
                    pivot: (&participant.participant).into(),
                }
            })
            .collect();
        Self(Arc::new(Participants::Built(list)))
    }

    /// The same list, written to JSON once, so that every frame that includes it copies the
    /// text instead of serializing it again. (Unchanged should serializing fail, which a list
    /// of strings, numbers and JSON objects does not.)
    pub fn serialized(self) -> Self {
        match &*self.0 {
            Participants::Built(list) => match serde_json::value::to_raw_value(list) {
                Ok(raw) => Self(Arc::new(Participants::Serialized(raw))),
                Err(_) => self,
            },
            Participants::Serialized(_) => self,
        }
    }

    /// True when both are the same list object (a shared rendering).
    pub fn shares(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Serialize for ParticipantList {
    /// As the JSON array of the participants.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &*self.0 {
            Participants::Built(list) => list.serialize(serializer),
            Participants::Serialized(raw) => raw.serialize(serializer),
        }
    }
}

impl PartialEq for ParticipantList {
    fn eq(&self, other: &Self) -> bool {
        match (serde_json::to_value(self), serde_json::to_value(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Direct or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindResource {
    /// Two users.
    Direct,
    /// A titled group.
    Group,
}

impl From<ConversationKind> for KindResource {
    fn from(kind: ConversationKind) -> Self {
        match kind {
            ConversationKind::Direct => Self::Direct,
            ConversationKind::Group => Self::Group,
        }
    }
}

/// A conversation as the caller sees it: their unread count and archive flag, the
/// participants' public profiles and, for a direct conversation, the other user.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConversationResource {
    /// The conversation's id.
    pub uuid: Uuid,
    /// Direct or group.
    pub kind: KindResource,
    /// Groups have a title; direct conversations `null`.
    #[schema(required = true)]
    pub title: Option<String>,
    /// The kind of host object it is about.
    #[schema(required = true, example = "App\\Models\\Order")]
    pub taggable_type: Option<String>,
    /// The host object's id, in the form it was given (integer or string).
    #[schema(required = true)]
    pub taggable_id: Option<TaggableIdValue>,
    /// The newest visible message's text (cut to 280 characters).
    #[schema(required = true)]
    pub last_message_text: Option<String>,
    /// When the newest visible message was sent.
    #[serde(serialize_with = "timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true, example = "2025-10-15T10:30:00.000000Z")]
    pub last_message_at: Option<DateTime<Utc>>,
    /// What the inbox is ordered by (newest first, then `uuid` descending): the newest
    /// message's time, which edits, deletes, reads and reactions do not move (a client
    /// updating its inbox from `conversation.updated` sorts by it).
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub last_activity_at: DateTime<Utc>,
    /// Whether the caller archived it.
    pub is_archived: bool,
    /// Whether the caller muted it (unread still counts; no notifications).
    pub muted: bool,
    /// The caller's unread messages.
    pub unread_count: u64,
    /// When it was started.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
    /// When anything about it last changed.
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub updated_at: DateTime<Utc>,
    /// Everyone in it, in joined order.
    #[schema(value_type = Vec<ParticipantResource>)]
    pub participants: ParticipantList,
    /// For a direct conversation the other user; `null` for groups.
    #[schema(required = true)]
    pub counterpart: Option<UserResource>,
}

impl From<&ConversationView> for ConversationResource {
    fn from(view: &ConversationView) -> Self {
        Self::for_viewer(view, &view.viewer)
    }
}

impl ConversationResource {
    /// `view` as `viewer` sees it: the same conversation and participants for everyone,
    /// with the viewer's own unread count, archive flag, visible preview and counterpart
    /// taken from the viewer's row in `view` (no lookup, no copy of the view).
    pub fn for_viewer(view: &ConversationView, viewer: &UserId) -> Self {
        Self::for_viewer_with(view, viewer, ParticipantList::of(view))
    }

    /// [`Self::for_viewer`] with the participants already rendered (the same for every
    /// viewer of `view`).
    pub fn for_viewer_with(view: &ConversationView, viewer: &UserId, participants: ParticipantList) -> Self {
        let conversation = &view.conversation;
        let me = view.participant(viewer);
        let cleared = me.map_or(0, |me| me.cleared_through_seq);
        let last = conversation.last_message.as_ref().filter(|last| last.seq > cleared);
        let counterpart = match conversation.kind {
            ConversationKind::Direct => view.participants.iter().find(|p| &p.participant.user != viewer),
            ConversationKind::Group => None,
        };
        Self {
            uuid: *conversation.id.as_uuid(),
            kind: conversation.kind.into(),
            title: conversation.title.clone(),
            taggable_type: conversation.tag.as_ref().map(|tag| tag.taggable_type.clone()),
            taggable_id: conversation.tag.as_ref().map(|tag| (&tag.taggable_id).into()),
            last_message_text: last.map(|last| last.text.clone()),
            last_message_at: last.map(|last| last.at),
            last_activity_at: conversation.last_activity_at,
            is_archived: me.is_some_and(|me| me.is_archived),
            muted: me.is_some_and(|me| me.muted),
            unread_count: me.map_or(0, |me| me.unread_count),
            created_at: conversation.created_at,
            updated_at: conversation.updated_at,
            participants,
            counterpart: counterpart.map(|other| {
                let mut user = UserResource::from(&other.profile);
                user.uuid = other.participant.user.as_str().to_owned();
                user
            }),
        }
    }
}

/// The caller's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatsResource {
    /// Conversations the caller is in (archived ones included).
    pub total_conversations: u64,
    /// Of those, how many have unread messages.
    pub unread_conversations: u64,
    /// Unread messages over all of them.
    pub unread_messages: u64,
}

impl From<Stats> for StatsResource {
    fn from(stats: Stats) -> Self {
        Self {
            total_conversations: stats.total_conversations,
            unread_conversations: stats.unread_conversations,
            unread_messages: stats.unread_messages,
        }
    }
}

/// A host object id: a JSON integer or a non-empty string, answered in the form given. A
/// number is read exactly from its text: a whole number within 2^53 in magnitude (`123`,
/// `123.0`); a fraction or anything larger is refused (see `taggable_id.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TaggableIdValue {
    /// A numeric id (`123`).
    Int(i64),
    /// A textual id (`"ord_123"`).
    Str(String),
}

impl From<&TaggableId> for TaggableIdValue {
    fn from(id: &TaggableId) -> Self {
        match id {
            TaggableId::Int(value) => Self::Int(*value),
            TaggableId::Str(value) => Self::Str(value.clone()),
        }
    }
}

impl From<TaggableIdValue> for TaggableId {
    fn from(id: TaggableIdValue) -> Self {
        match id {
            TaggableIdValue::Int(value) => Self::Int(value),
            TaggableIdValue::Str(value) => Self::Str(value),
        }
    }
}

/// Accepts an integer or a string; anything else is "must be an integer or a string".
struct IntOrString;

enum IntOrStr {
    Int(i64),
    Str(String),
}

impl<'de> Visitor<'de> for IntOrString {
    type Value = IntOrStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<IntOrStr, E> {
        Ok(IntOrStr::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<IntOrStr, E> {
        i64::try_from(value)
            .map(IntOrStr::Int)
            .map_err(|_| E::custom("integer is too large"))
    }

    /// JSON has one number type: `123.0` is the integer 123 (as JSON Schema has it).
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<IntOrStr, E> {
        whole_i64(value)
            .map(IntOrStr::Int)
            .ok_or_else(|| E::custom("must be an integer or a string"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<IntOrStr, E> {
        Ok(IntOrStr::Str(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<IntOrStr, E> {
        Ok(IntOrStr::Str(value))
    }
}

/// A float that is a whole number in `i64` range, as that integer.
fn whole_i64(value: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    #[allow(clippy::cast_possible_truncation)]
    (value.is_finite() && value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value)).then_some(value as i64)
}

/// Deserializes an optional non-negative integer; a whole float (`5.0`) is that integer, as
/// JSON Schema has it.
pub(crate) fn optional_seq<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct Seq;

    impl<'de> Visitor<'de> for Seq {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            u64::try_from(value)
                .map(Some)
                .map_err(|_| E::custom("must be a non-negative integer"))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            whole_i64(value)
                .and_then(|value| u64::try_from(value).ok())
                .map(Some)
                .ok_or_else(|| E::custom("must be a non-negative integer"))
        }
    }

    deserializer.deserialize_option(Seq)
}

/// A host user id in a request: a string, or an integer for hosts with numeric ids (`42` is
/// user `"42"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserRef {
    /// A numeric id.
    Int(i64),
    /// A textual id.
    Str(String),
}

impl<'de> Deserialize<'de> for UserRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(IntOrString)? {
            IntOrStr::Int(value) => Self::Int(value),
            IntOrStr::Str(value) => Self::Str(value),
        })
    }
}

impl UserRef {
    /// The user id, or a 422 on `field`.
    pub fn to_user_id(&self, field: &str) -> Result<UserId, ApiError> {
        let text = match self {
            Self::Int(value) => value.to_string(),
            Self::Str(value) => value.clone(),
        };
        UserId::new(text).map_err(|error| match error.field_errors() {
            Some(errors) => {
                let messages: Vec<String> = errors.fields().values().flatten().cloned().collect();
                ApiError::invalid(field, messages.join("; "))
            }
            None => ApiError::invalid(field, "is not a valid user id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_six_fraction_digits_and_z() {
        let time = Utc.with_ymd_and_hms(2025, 10, 15, 10, 30, 0).single().expect("time");
        assert_eq!(timestamp::format(&time), "2025-10-15T10:30:00.000000Z");
        let time = time + chrono::Duration::microseconds(123_456);
        assert_eq!(timestamp::format(&time), "2025-10-15T10:30:00.123456Z");
    }

    #[test]
    fn ids_keep_their_form() {
        let id: TaggableIdValue = serde_json::from_str("123").expect("int");
        assert_eq!(id, TaggableIdValue::Int(123));
        assert_eq!(serde_json::to_string(&id).expect("json"), "123");
        let id: TaggableIdValue = serde_json::from_str("\"123\"").expect("str");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"123\"");
        assert!(serde_json::from_str::<TaggableIdValue>("1.5").is_err());
        assert!(serde_json::from_str::<TaggableIdValue>("[]").is_err());
        let user: UserRef = serde_json::from_str("42").expect("int user");
        assert_eq!(user.to_user_id("participant_uuid").ok(), UserId::new("42").ok());
    }
}
