//! Quoted replies: which message a reply may quote, and which quotes a page needs.

use crate::error::{ChatError, ChatResult};
use crate::ids::UserId;
use crate::model::{ConversationRecord, Message, MessageRef};
use crate::store::NewMessage;

/// The refusal of a `reply_to`: a validation error on `reply_to`, the same for another
/// conversation's message, an unknown one, a deleted one and one the sender cleared, so it
/// leaks nothing. Stores that check the reply in their own language (PgStore's SQL
/// function) answer with this.
pub fn reply_refused() -> ChatError {
    ChatError::invalid("reply_to", "no such message in this conversation")
}

/// The message a new message quotes, checked (invariant 7 for replies): `replied` is what the
/// store found for `new.reply_to` in `record`'s conversation (`None`: nothing there). It must
/// be a message of this conversation that is not deleted and that `author` has not cleared.
///
/// Errors: `Validation` on `reply_to`, with one message for every refusal.
pub fn reply_target(
    record: &ConversationRecord,
    author: Option<&UserId>,
    new: &NewMessage,
    replied: Option<&Message>,
) -> ChatResult<Option<MessageRef>> {
    let Some(wanted) = new.reply_to else {
        return Ok(None);
    };
    let cleared = author
        .and_then(|user| record.participant(user))
        .map_or(0, |participant| participant.cleared_through_seq);
    match replied {
        Some(message)
            if message.id == wanted
                && message.conversation_id == record.conversation.id
                && message.deleted_at.is_none()
                && message.seq > cleared =>
        {
            Ok(Some(MessageRef {
                id: message.id,
                seq: message.seq,
            }))
        }
        _ => Err(reply_refused()),
    }
}

/// The seqs the replies among `page` quote that are not on the page itself, ascending and
/// once each: what a store reads with the page so that quotes cost no further call.
pub fn quoted_seqs(page: &[Message]) -> Vec<u64> {
    let mut seqs: Vec<u64> = page
        .iter()
        .filter_map(|message| message.reply_to.map(|quoted| quoted.seq))
        .filter(|seq| page.binary_search_by_key(seq, |message| message.seq).is_err())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}
