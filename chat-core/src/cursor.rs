//! Opaque inbox cursors: what a client passes back to get the next page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use uuid::Uuid;

use crate::error::ChatError;
use crate::ids::ConversationId;
use crate::store::InboxCursor;

const VERSION: &str = "v1";

/// Encodes a cursor as URL-safe text.
pub fn encode(cursor: &InboxCursor) -> String {
    let raw = format!(
        "{VERSION}:{}:{}",
        cursor.last_activity_at.timestamp_micros(),
        cursor.id.as_uuid().simple()
    );
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a cursor made by [`encode`]; anything else is a validation error on `cursor`.
pub fn decode(text: &str) -> Result<InboxCursor, ChatError> {
    let bad = || ChatError::invalid("cursor", "is not a valid cursor");
    if text.len() > 128 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = raw.split(':');
    let (Some(VERSION), Some(micros), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let last_activity_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(InboxCursor {
        last_activity_at,
        id: ConversationId::from_uuid(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let cursor = InboxCursor {
            last_activity_at: crate::model::now(),
            id: ConversationId::new_v7(),
        };
        assert_eq!(decode(&encode(&cursor)).ok(), Some(cursor));
        for garbage in ["", "x", "djE6MTox", "%%%", &"A".repeat(500)] {
            assert!(decode(garbage).is_err(), "{garbage}");
        }
    }
}
