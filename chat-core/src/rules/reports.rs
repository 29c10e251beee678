//! Reports of messages: one per reporter and message, of someone else's message that is
//! not deleted.

use chrono::{DateTime, Utc};

use crate::error::{ChatError, ChatResult};
use crate::ids::UserId;
use crate::model::{Message, Report, ReportReason};

/// The report of `message` by `reporter` given the one stored for them, `existing`, and
/// whether it is new (a store saves it then). A repeat returns the stored report and
/// changes nothing, whatever its reason and note.
///
/// Errors: `PermissionDenied` for one's own message or a system message; `Conflict` for a
/// deleted message (nothing is left to review).
pub fn report(
    message: &Message,
    reporter: &UserId,
    existing: Option<&Report>,
    (reason, note): (ReportReason, Option<&str>),
    at: DateTime<Utc>,
) -> ChatResult<(Report, bool)> {
    if let Some(stored) = existing {
        return Ok((stored.clone(), false));
    }
    match &message.sender {
        Some(sender) if sender != reporter => {}
        _ => {
            return Err(ChatError::PermissionDenied {
                reason: "only other users' messages can be reported",
            });
        }
    }
    if message.deleted_at.is_some() {
        return Err(ChatError::Conflict {
            reason: "a deleted message cannot be reported",
        });
    }
    Ok((
        Report {
            reporter: reporter.clone(),
            conversation_id: message.conversation_id,
            message_id: message.id,
            reason,
            note: note.map(str::to_owned),
            created_at: at,
        },
        true,
    ))
}
