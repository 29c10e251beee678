//! The model's facts: its conversations with their members and messages, and the uploads,
//! with what each derives on demand (summaries, unread counts, the newest visible message).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::ids::{AttachmentId, ConversationId, MessageId};
use crate::model::ConversationKind;

use super::outcome::{MemberSummary, Summary};

#[derive(Clone, Debug)]
pub(super) struct ModelMessage {
    pub(super) id: Option<MessageId>,
    /// `None`: a system message.
    pub(super) sender: Option<usize>,
    pub(super) body: String,
    pub(super) retry_key: Option<u8>,
    pub(super) deleted: bool,
    /// The index of the message it quotes.
    pub(super) reply_to: Option<usize>,
    pub(super) reactions: BTreeMap<String, BTreeSet<usize>>,
    /// The upload numbers it carries.
    pub(super) attachments: Vec<usize>,
}

/// Where an upload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UploadState {
    Unsent,
    Sent,
    Discarded,
}

#[derive(Clone, Debug)]
pub(super) struct ModelUpload {
    pub(super) id: Option<AttachmentId>,
    pub(super) uploader: usize,
    /// The conversation's index.
    pub(super) conv: usize,
    pub(super) state: UploadState,
    /// The seq of the message that carries it, once sent.
    pub(super) sent_seq: Option<u64>,
}

impl ModelMessage {
    pub(super) fn new(sender: Option<usize>, body: String, retry_key: Option<u8>, reply_to: Option<usize>) -> Self {
        Self {
            id: None,
            sender,
            body,
            retry_key,
            deleted: false,
            reply_to,
            reactions: BTreeMap::new(),
            attachments: Vec::new(),
        }
    }

    pub(super) fn reaction_summary(&self) -> Vec<(String, Vec<usize>)> {
        self.reactions
            .iter()
            .map(|(emoji, users)| (emoji.clone(), users.iter().copied().collect()))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub(super) struct ModelMember {
    pub(super) user: usize,
    pub(super) owner: bool,
    pub(super) joined: u64,
    pub(super) last_read: u64,
    pub(super) delivered: u64,
    pub(super) archived: bool,
    pub(super) cleared: u64,
    pub(super) muted: bool,
    /// The newest seq no notification may be made for: what was unread when the member
    /// muted, and every message while muted.
    pub(super) quiet_through: u64,
}

impl ModelMember {
    pub(super) fn read_up_to(&mut self, seq: u64) {
        self.last_read = self.last_read.max(seq);
        self.deliver_up_to(seq);
    }

    pub(super) fn deliver_up_to(&mut self, seq: u64) {
        self.delivered = self.delivered.max(seq);
    }
}

#[derive(Clone, Debug)]
pub(super) struct ModelConversation {
    pub(super) id: Option<ConversationId>,
    pub(super) title: Option<String>,
    pub(super) kind: ConversationKind,
    pub(super) direct_key: Option<(usize, usize, Option<u8>)>,
    pub(super) members: Vec<ModelMember>,
    pub(super) messages: Vec<ModelMessage>,
    pub(super) activity: Option<DateTime<Utc>>,
}

impl ModelConversation {
    pub(super) fn member(&self, user: usize) -> Option<&ModelMember> {
        self.members.iter().find(|member| member.user == user)
    }

    pub(super) fn member_mut(&mut self, user: usize) -> Option<&mut ModelMember> {
        self.members.iter_mut().find(|member| member.user == user)
    }

    pub(super) fn last_seq(&self) -> u64 {
        self.messages.len() as u64
    }

    pub(super) fn unread(&self, member: &ModelMember) -> u64 {
        self.messages
            .iter()
            .enumerate()
            .filter(|(i, m)| *i as u64 + 1 > member.last_read && m.sender != Some(member.user) && !m.deleted)
            .count() as u64
    }

    pub(super) fn summary(&self, conv: usize) -> Summary {
        let preview = self
            .messages
            .iter()
            .enumerate()
            .rev()
            .find(|(_, message)| !message.deleted)
            .map(|(index, message)| (index as u64 + 1, message.body.clone()));
        let mut members: Vec<MemberSummary> = self
            .members
            .iter()
            .map(|member| MemberSummary {
                user: member.user,
                owner: member.owner,
                last_read: member.last_read,
                delivered: member.delivered,
                unread: self.unread(member),
                archived: member.archived,
                cleared: member.cleared,
                muted: member.muted,
            })
            .collect();
        members.sort_by_key(|member| member.user);
        Summary {
            conv,
            kind: self.kind,
            last_seq: self.last_seq(),
            preview,
            members,
        }
    }

    pub(super) fn new_member(user: usize, owner: bool, joined: u64, last_read: u64) -> ModelMember {
        ModelMember {
            user,
            owner,
            joined,
            last_read,
            delivered: last_read,
            archived: false,
            cleared: 0,
            muted: false,
            quiet_through: 0,
        }
    }

    /// `user` leaves (or is removed): when they owned it, the longest-standing member owns
    /// it now.
    pub(super) fn leave(&mut self, user: usize) {
        let Some(position) = self.members.iter().position(|member| member.user == user) else {
            return;
        };
        let removed = self.members.remove(position);
        if removed.owner {
            if let Some(heir) = self
                .members
                .iter_mut()
                .min_by_key(|member| (member.joined, member.user))
            {
                heir.owner = true;
            }
        }
    }

    /// Appends a message and applies what it does to the members.
    pub(super) fn push(&mut self, message: ModelMessage) -> u64 {
        let sender = message.sender;
        self.messages.push(message);
        let seq = self.last_seq();
        for member in &mut self.members {
            member.archived = false;
            if Some(member.user) == sender {
                member.read_up_to(seq);
            } else if member.muted {
                member.quiet_through = seq;
            }
        }
        seq
    }
}

/// True when the other member of direct conversation `c` has blocked `actor`
/// (invariant 13); never in a group.
pub(super) fn blocked_by_other(c: &ModelConversation, actor: usize, blocks: &BTreeSet<(usize, usize)>) -> bool {
    c.kind == ConversationKind::Direct
        && c.members
            .iter()
            .any(|m| m.user != actor && blocks.contains(&(m.user, actor)))
}
