//! Tags: the host object a conversation is about (an order, a listing).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ChatError;

/// The id of the tagged host object, kept in the form the host gave it: a JSON integer
/// stays an integer, a string stays a string.
///
/// For *matching* (find-or-create, inbox filters) the two forms are the same tag when their
/// text is equal: `123` and `"123"` name one order. A conversation answers with the form it
/// was created with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaggableId {
    /// A numeric id, such as a database primary key.
    Int(i64),
    /// A textual id, such as a slug or a UUID.
    Str(String),
}

impl TaggableId {
    /// The text used to match ids of either form.
    pub fn canonical(&self) -> String {
        match self {
            Self::Int(value) => value.to_string(),
            Self::Str(value) => value.clone(),
        }
    }
}

impl fmt::Display for TaggableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::Str(value) => f.write_str(value),
        }
    }
}

impl From<i64> for TaggableId {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for TaggableId {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

/// The host object a conversation is about, e.g. (`"App\\Models\\Order"`, `123`).
///
/// Structurally valid by construction, also when deserialized: a non-empty type and id
/// without control characters. Length limits are configurable and checked by the services
/// ([`crate::Limits`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "UncheckedTag")]
pub struct Tag {
    /// The kind of host object.
    pub taggable_type: String,
    /// The host object's id.
    pub taggable_id: TaggableId,
}

/// A tag as it arrives, before [`Tag::new`] checks it.
#[derive(Deserialize)]
struct UncheckedTag {
    taggable_type: String,
    taggable_id: TaggableId,
}

impl TryFrom<UncheckedTag> for Tag {
    type Error = ChatError;

    fn try_from(raw: UncheckedTag) -> Result<Self, Self::Error> {
        Tag::new(raw.taggable_type, raw.taggable_id)
    }
}

fn check_tag_text(field: &'static str, value: &str) -> Result<(), ChatError> {
    if value.trim().is_empty() {
        return Err(ChatError::invalid(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(ChatError::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

impl Tag {
    /// A tag, or a validation error naming `taggable_type` or `taggable_id`.
    pub fn new(taggable_type: impl Into<String>, taggable_id: impl Into<TaggableId>) -> Result<Self, ChatError> {
        let taggable_type = taggable_type.into();
        let taggable_id = taggable_id.into();
        check_tag_text("taggable_type", &taggable_type)?;
        if let TaggableId::Str(text) = &taggable_id {
            check_tag_text("taggable_id", text)?;
        }
        Ok(Self {
            taggable_type,
            taggable_id,
        })
    }

    /// The key that identifies this tag for matching, equal for `123` and `"123"`.
    /// Contains a NUL separator, which neither part can contain.
    pub fn match_key(&self) -> String {
        format!("{}\u{0}{}", self.taggable_type, self.taggable_id.canonical())
    }
}

/// An inbox filter on tags: a type, and optionally one id of that type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    /// Only conversations tagged with this type.
    pub taggable_type: String,
    /// Only conversations about this object (matched by canonical text).
    pub taggable_id: Option<TaggableId>,
}

impl TagFilter {
    /// True when `tag` passes the filter.
    pub fn matches(&self, tag: Option<&Tag>) -> bool {
        let Some(tag) = tag else { return false };
        tag.taggable_type == self.taggable_type
            && self
                .taggable_id
                .as_ref()
                .is_none_or(|id| id.canonical() == tag.taggable_id.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taggable_id_round_trips_in_its_form() {
        let tag: Tag = serde_json::from_str(r#"{"taggable_type":"Order","taggable_id":123}"#).expect("tag");
        assert_eq!(tag.taggable_id, TaggableId::Int(123));
        assert_eq!(serde_json::to_string(&tag.taggable_id).expect("json"), "123");
        let tag: Tag = serde_json::from_str(r#"{"taggable_type":"Order","taggable_id":"123"}"#).expect("tag");
        assert_eq!(serde_json::to_string(&tag.taggable_id).expect("json"), "\"123\"");
    }

    #[test]
    fn both_forms_match_one_key() {
        let a = Tag::new("Order", 7).expect("tag");
        let b = Tag::new("Order", "7").expect("tag");
        assert_eq!(a.match_key(), b.match_key());
        assert_ne!(a.match_key(), Tag::new("Listing", 7).expect("tag").match_key());
        assert!(Tag::new("", 1).is_err());
        assert!(Tag::new("Order", " ").is_err());
        assert!(serde_json::from_str::<Tag>(r#"{"taggable_type":"","taggable_id":1}"#).is_err());
        assert!(serde_json::from_str::<Tag>(r#"{"taggable_type":"Order","taggable_id":"a\u0000"}"#).is_err());
    }
}
