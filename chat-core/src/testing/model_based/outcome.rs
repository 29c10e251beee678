//! What an operation answered, in the model's terms (`Outcome`, `Summary`), and the
//! translation of the services' answers and errors into it.

use crate::error::ChatError;
use crate::ids::UserId;
use crate::model::{ConversationKind, Stats};
use crate::view::MessageView;

/// What an operation answered, in the model's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    NotFound(&'static str),
    Denied,
    Conflict,
    Invalid(Vec<String>),
    Started {
        conv: usize,
        created: bool,
    },
    Sent {
        seq: u64,
        created: bool,
    },
    Conversation(Summary),
    Message {
        seq: u64,
        deleted: bool,
        body: String,
    },
    Inbox(Vec<(usize, u64, bool)>),
    Found(Vec<usize>),
    History(Vec<HistoryRow>),
    Reactions(Vec<(String, Vec<usize>)>),
    Stats(Stats),
    Uploaded(usize),
    Readable(bool),
    /// A notification round: its answer is a range, checked against `outbox::Outbox`.
    Notified,
    /// The actor's blocks after a block or unblock: the blocked users, ascending.
    Blocked(Vec<usize>),
    /// A finished erase.
    Erased,
    /// A report: whether it was new and the reason stored (the first one's).
    Reported {
        created: bool,
        reason: crate::model::ReportReason,
    },
}

/// One message of a history page, as the reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct HistoryRow {
    pub(super) seq: u64,
    pub(super) deleted: bool,
    pub(super) body: String,
    pub(super) system: bool,
    /// The quoted seq and its text (`None`: shown as deleted).
    pub(super) reply: Option<(u64, Option<String>)>,
    pub(super) reactions: Vec<(String, Vec<usize>)>,
    /// The upload numbers it carries.
    pub(super) attachments: Vec<usize>,
}

/// A conversation as one user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) conv: usize,
    pub(super) kind: ConversationKind,
    pub(super) last_seq: u64,
    pub(super) preview: Option<(u64, String)>,
    pub(super) members: Vec<MemberSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MemberSummary {
    pub(super) user: usize,
    pub(super) owner: bool,
    pub(super) last_read: u64,
    pub(super) delivered: u64,
    pub(super) unread: u64,
    pub(super) archived: bool,
    pub(super) cleared: u64,
    pub(super) muted: bool,
}

pub(super) fn error_outcome(error: ChatError) -> Outcome {
    match error {
        ChatError::NotFound { what } => Outcome::NotFound(what),
        ChatError::PermissionDenied { .. } => Outcome::Denied,
        ChatError::Conflict { .. } => Outcome::Conflict,
        ChatError::Validation(errors) => Outcome::Invalid(errors.fields().keys().cloned().collect()),
        other => panic!("unexpected backend error: {other}"),
    }
}

/// A message's reactions as emoji with the indices of their holders.
pub(super) fn reactions_of(reactions: &[crate::model::Reaction]) -> Vec<(String, Vec<usize>)> {
    reactions
        .iter()
        .map(|reaction| (reaction.emoji.clone(), reaction.users.iter().map(user_index).collect()))
        .collect()
}

pub(super) fn message_outcome(view: &MessageView) -> Outcome {
    Outcome::Message {
        seq: view.message.seq,
        deleted: view.message.deleted_at.is_some(),
        body: view.message.body.clone(),
    }
}

pub(super) fn user_index(user: &UserId) -> usize {
    user.as_str().trim_start_matches('u').parse().unwrap_or(usize::MAX)
}
