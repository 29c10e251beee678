//! Input validation against [`Limits`], done once, in the services.

use crate::error::{ChatError, FieldErrors};
use crate::limits::Limits;
use crate::model::Metadata;
use crate::tag::{Tag, TaggableId};

/// The body, trimmed, or a validation error on `body`.
pub(crate) fn body(limits: &Limits, body: &str) -> Result<String, ChatError> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return Err(ChatError::invalid("body", "must not be empty"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ChatError::invalid(
            "body",
            "must not contain control characters other than newlines and tabs",
        ));
    }
    let chars = trimmed.chars().count();
    if chars > limits.body_max_chars {
        return Err(ChatError::invalid(
            "body",
            format!("must be at most {} characters, got {chars}", limits.body_max_chars),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The group title, trimmed.
pub(crate) fn title(limits: &Limits, title: &str) -> Result<String, ChatError> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(ChatError::invalid("title", "must not be empty"));
    }
    if trimmed.chars().count() > limits.title_max_chars {
        return Err(ChatError::invalid(
            "title",
            format!("must be at most {} characters", limits.title_max_chars),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ChatError::invalid("title", "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Tag lengths.
pub(crate) fn tag(limits: &Limits, tag: &Tag) -> Result<(), ChatError> {
    let mut errors = FieldErrors::new();
    if tag.taggable_type.chars().count() > limits.taggable_type_max_chars {
        errors.add(
            "taggable_type",
            format!("must be at most {} characters", limits.taggable_type_max_chars),
        );
    }
    if let TaggableId::Str(id) = &tag.taggable_id {
        if id.chars().count() > limits.taggable_id_max_chars {
            errors.add(
                "taggable_id",
                format!("must be at most {} characters", limits.taggable_id_max_chars),
            );
        }
    }
    errors.into_result()
}

/// The retry key: 1..=limit bytes, no control characters.
pub(crate) fn client_message_id(limits: &Limits, id: Option<&str>) -> Result<(), ChatError> {
    let Some(id) = id else { return Ok(()) };
    if id.is_empty() || id.len() > limits.client_message_id_max_bytes || id.chars().any(char::is_control) {
        return Err(ChatError::invalid(
            "client_message_id",
            format!(
                "must be 1 to {} bytes without control characters",
                limits.client_message_id_max_bytes
            ),
        ));
    }
    Ok(())
}

/// The serialized size of a metadata object, and no NUL characters (which no database
/// text type stores).
pub(crate) fn metadata(limits: &Limits, metadata: &Metadata) -> Result<(), ChatError> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map.iter().any(|(key, value)| key.contains('\0') || has_nul(value)),
            _ => false,
        }
    }
    if metadata.iter().any(|(key, value)| key.contains('\0') || has_nul(value)) {
        return Err(ChatError::invalid("metadata", "must not contain NUL characters"));
    }
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |bytes| bytes.len());
    if size > limits.metadata_max_bytes {
        return Err(ChatError::invalid(
            "metadata",
            format!("must be at most {} bytes as JSON", limits.metadata_max_bytes),
        ));
    }
    Ok(())
}

/// A page size: the default when absent, otherwise 1..=page_max.
pub(crate) fn page_limit(limits: &Limits, limit: Option<usize>) -> Result<usize, ChatError> {
    match limit {
        None => Ok(limits.page_default),
        Some(limit) if (1..=limits.page_max).contains(&limit) => Ok(limit),
        Some(_) => Err(ChatError::invalid(
            "limit",
            format!("must be between 1 and {}", limits.page_max),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_trimmed_and_bounded() {
        let limits = Limits::default();
        assert_eq!(body(&limits, "  hi \n").ok().as_deref(), Some("hi"));
        assert!(body(&limits, "   ").is_err());
        assert!(body(&limits, "a\0b").is_err());
        assert_eq!(body(&limits, "line\n\tnext").ok().as_deref(), Some("line\n\tnext"));
        assert!(body(&limits, &"é".repeat(4000)).is_ok());
        let error = body(&limits, &"é".repeat(4001)).expect_err("too long");
        assert!(
            error
                .field_errors()
                .is_some_and(|errors| errors.fields().contains_key("body"))
        );
    }

    #[test]
    fn metadata_rejects_nul_and_size() {
        let limits = Limits::default();
        let mut map = Metadata::new();
        map.insert("k".into(), serde_json::Value::String("a\0".into()));
        assert!(metadata(&limits, &map).is_err());
        map.insert("k".into(), serde_json::Value::String("x".repeat(5000)));
        assert!(metadata(&limits, &map).is_err());
        map.insert("k".into(), serde_json::Value::String("fine".into()));
        assert!(metadata(&limits, &map).is_ok());
    }

    #[test]
    fn page_limits() {
        let limits = Limits::default();
        assert_eq!(page_limit(&limits, None).ok(), Some(50));
        assert_eq!(page_limit(&limits, Some(100)).ok(), Some(100));
        assert!(page_limit(&limits, Some(0)).is_err());
        assert!(page_limit(&limits, Some(101)).is_err());
    }
}
