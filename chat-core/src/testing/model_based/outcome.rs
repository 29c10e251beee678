//! What an operation answered, in the model's terms (`Outcome`, `Summary`), and the
//! translation of the services' answers and errors into it.

use crate::error::ChatError;
use crate::ids::UserId;
use crate::model::{ConversationKind, Role, Stats};
use crate::view::{ConversationView, MessageView};

use super::model::Model;

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

pub(super) fn conversation_outcome(model: &Model, result: Result<ConversationView, ChatError>) -> Outcome {
    match result {
        Ok(view) => Outcome::Conversation(summary_of(model, &view)),
        Err(error) => error_outcome(error),
    }
}

/// A message's reactions as emoji with the indices of their holders.
pub(super) fn reactions_of(reactions: &[crate::model::Reaction]) -> Vec<(String, Vec<usize>)> {
    reactions
        .iter()
        .map(|reaction| (reaction.emoji.clone(), reaction.users.iter().map(user_index).collect()))
        .collect()
}

/// A history page's rows.
pub(super) fn history_rows(model: &Model, page: &[MessageView]) -> Vec<HistoryRow> {
    page.iter()
        .map(|view| HistoryRow {
            seq: view.message.seq,
            deleted: view.message.deleted_at.is_some(),
            body: view.message.body.clone(),
            system: view.message.kind == crate::model::MessageKind::System,
            reply: view.reply_to.as_ref().map(|quoted| (quoted.seq, quoted.body.clone())),
            reactions: reactions_of(&view.message.reactions),
            attachments: view
                .message
                .attachments
                .iter()
                .map(|file| model.upload_index(file.id).unwrap_or(usize::MAX))
                .collect(),
        })
        .collect()
}

pub(super) fn message_outcome(view: &MessageView) -> Outcome {
    Outcome::Message {
        seq: view.message.seq,
        deleted: view.message.deleted_at.is_some(),
        body: view.message.body.clone(),
    }
}

pub(super) fn summary_of(model: &Model, view: &ConversationView) -> Summary {
    let mut members: Vec<MemberSummary> = view
        .participants
        .iter()
        .map(|p| MemberSummary {
            user: user_index(&p.participant.user),
            owner: p.participant.role == Role::Owner,
            last_read: p.participant.last_read_seq,
            delivered: p.participant.last_delivered_seq,
            unread: p.participant.unread_count,
            archived: p.participant.is_archived,
            cleared: p.participant.cleared_through_seq,
        })
        .collect();
    members.sort_by_key(|member| member.user);
    Summary {
        conv: model.index_of(view.conversation.id).unwrap_or(usize::MAX),
        kind: view.conversation.kind,
        last_seq: view.conversation.last_seq,
        preview: view
            .conversation
            .last_message
            .as_ref()
            .map(|last| (last.seq, last.text.clone())),
        members,
    }
}

pub(super) fn user_index(user: &UserId) -> usize {
    user.as_str().trim_start_matches('u').parse().unwrap_or(usize::MAX)
}
