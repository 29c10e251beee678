//! The services' answers in the model's terms where that needs the model's numbering of
//! conversations and uploads (the rest is in `outcome.rs`, which knows no model).

use crate::error::ChatError;
use crate::model::Role;
use crate::view::{ConversationView, MessageView};

use super::model::Model;
use super::outcome::{HistoryRow, MemberSummary, Outcome, Summary, error_outcome, reactions_of, user_index};

pub(super) fn conversation_outcome(model: &Model, result: Result<ConversationView, ChatError>) -> Outcome {
    match result {
        Ok(view) => Outcome::Conversation(summary_of(model, &view)),
        Err(error) => error_outcome(error),
    }
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
            muted: p.participant.muted,
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
