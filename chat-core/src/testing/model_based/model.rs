//! The plain model: conversations, members and messages as facts, every counter derived
//! on demand, and the expected answer to each operation (`Model::apply`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::ids::{AttachmentId, ConversationId};
use crate::model::{ConversationKind, Stats};
use crate::testing::fixtures::user_name;

use super::model_records::blocked_by_other;
pub(super) use super::model_records::{ModelConversation, ModelMessage, ModelUpload, UploadState};
use super::ops::{EMOJI, Op, REPORT_REASONS, SEARCH_QUERIES, archive_filter};
use super::outcome::{HistoryRow, Outcome};

#[derive(Default)]
pub(super) struct Model {
    pub(super) conversations: Vec<ModelConversation>,
    pub(super) uploads: Vec<ModelUpload>,
    pub(super) clock: u64,
    /// (blocker, blocked).
    pub(super) blocks: BTreeSet<(usize, usize)>,
    /// (reporter, conversation index, message index) -> the reason stored.
    pub(super) reports: BTreeMap<(usize, usize, usize), u8>,
}

impl Model {
    pub(super) fn pick(&self, conv: usize) -> Option<usize> {
        (!self.conversations.is_empty()).then(|| conv % self.conversations.len())
    }

    /// The upload number of `id`.
    pub(super) fn upload_index(&self, id: AttachmentId) -> Option<usize> {
        self.uploads.iter().position(|upload| upload.id == Some(id))
    }

    /// Upload number `upload`, modulo their count.
    pub(super) fn pick_upload(&self, upload: usize) -> Option<usize> {
        (!self.uploads.is_empty()).then(|| upload % self.uploads.len())
    }

    pub(super) fn index_of(&self, id: ConversationId) -> Option<usize> {
        self.conversations
            .iter()
            .position(|conversation| conversation.id == Some(id))
    }

    /// The expected answer to `op`, applying it to the model.
    pub(super) fn apply(&mut self, op: &Op, step: usize) -> Outcome {
        self.clock += 1;
        let clock = self.clock;
        match *op {
            Op::StartDirect { actor, other, tag } => {
                if actor == other {
                    return Outcome::Invalid(vec!["participant_uuid".into()]);
                }
                let key = (actor.min(other), actor.max(other), tag);
                if let Some(conv) = self.conversations.iter().position(|c| c.direct_key == Some(key)) {
                    return Outcome::Started { conv, created: false };
                }
                if self.blocks.contains(&(other, actor)) {
                    return Outcome::Denied;
                }
                self.conversations.push(ModelConversation {
                    id: None,
                    title: None,
                    kind: ConversationKind::Direct,
                    direct_key: Some(key),
                    members: vec![
                        ModelConversation::new_member(actor, false, clock, 0),
                        ModelConversation::new_member(other, false, clock, 0),
                    ],
                    messages: Vec::new(),
                    activity: None,
                });
                Outcome::Started {
                    conv: self.conversations.len() - 1,
                    created: true,
                }
            }
            Op::CreateGroup { actor, ref members } => {
                let mut others: Vec<usize> = Vec::new();
                for &member in members {
                    if member != actor && !others.contains(&member) {
                        others.push(member);
                    }
                }
                if others.is_empty() {
                    return Outcome::Invalid(vec!["participant_uuids".into()]);
                }
                // Invariant 13: no group with a member who blocked the creator.
                if others.iter().any(|&user| self.blocks.contains(&(user, actor))) {
                    return Outcome::Denied;
                }
                let mut all = vec![ModelConversation::new_member(actor, true, clock, 0)];
                all.extend(
                    others
                        .into_iter()
                        .map(|user| ModelConversation::new_member(user, false, clock, 0)),
                );
                self.conversations.push(ModelConversation {
                    id: None,
                    title: Some(format!("group {step}")),
                    kind: ConversationKind::Group,
                    direct_key: None,
                    members: all,
                    messages: Vec::new(),
                    activity: None,
                });
                let conv = self.conversations.len() - 1;
                Outcome::Conversation(self.conversations[conv].summary(conv))
            }
            Op::Send {
                actor,
                conv,
                retry_key,
                reply,
                attach,
            } => {
                let attached = attach.map(|upload| self.pick_upload(upload));
                let uploads = self.uploads.clone();
                let blocks = self.blocks.clone();
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if blocked_by_other(c, actor, &blocks) {
                    return Outcome::Denied;
                }
                if let Some(key) = retry_key {
                    let stored = c
                        .messages
                        .iter()
                        .position(|m| m.sender == Some(actor) && m.retry_key == Some(key));
                    if let Some(index) = stored {
                        return Outcome::Sent {
                            seq: index as u64 + 1,
                            created: false,
                        };
                    }
                }
                let cleared = c.member(actor).map_or(0, |member| member.cleared);
                let reply_to = match reply {
                    None => None,
                    Some(msg) => {
                        let quotable = (!c.messages.is_empty())
                            .then(|| msg % c.messages.len())
                            .filter(|&index| !c.messages[index].deleted && index as u64 + 1 > cleared);
                        let Some(index) = quotable else {
                            return Outcome::Invalid(vec!["reply_to".into()]);
                        };
                        Some(index)
                    }
                };
                let mut message = ModelMessage::new(Some(actor), format!("m{step}"), retry_key, reply_to);
                if let Some(upload) = attached {
                    let usable = upload
                        .map(|index| &uploads[index])
                        .is_some_and(|u| u.uploader == actor && u.conv == conv && u.state == UploadState::Unsent);
                    let Some(index) = upload.filter(|_| usable) else {
                        return Outcome::Invalid(vec!["attachment_ids".into()]);
                    };
                    message.attachments.push(index);
                }
                let bound = message.attachments.clone();
                let seq = c.push(message);
                for index in bound {
                    self.uploads[index].state = UploadState::Sent;
                    self.uploads[index].sent_seq = Some(seq);
                }
                Outcome::Sent { seq, created: true }
            }
            Op::Upload { actor, conv } => {
                let Some((conv, _)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                self.uploads.push(ModelUpload {
                    id: None,
                    uploader: actor,
                    conv,
                    state: UploadState::Unsent,
                    sent_seq: None,
                });
                Outcome::Uploaded(self.uploads.len() - 1)
            }
            Op::Download { actor, conv, upload } => {
                let picked = self.pick_upload(upload).map(|index| self.uploads[index].clone());
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                // A cleared message's attachment answers like a missing one (issue 32).
                let cleared = c.member(actor).map_or(0, |member| member.cleared);
                Outcome::Readable(picked.is_some_and(|u| {
                    u.conv == conv
                        && ((u.state == UploadState::Sent && u.sent_seq.is_some_and(|seq| seq > cleared))
                            || (u.state == UploadState::Unsent && u.uploader == actor))
                }))
            }
            Op::SendSystem { conv } => {
                let Some(index) = self.pick(conv) else {
                    return Outcome::NotFound("conversation");
                };
                let seq = self.conversations[index].push(ModelMessage::new(None, format!("s{step}"), None, None));
                Outcome::Sent { seq, created: true }
            }
            Op::React {
                actor,
                conv,
                msg,
                emoji,
                present,
            } => {
                let blocks = self.blocks.clone();
                let Some((_, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.messages.is_empty() {
                    return Outcome::NotFound("message");
                }
                if blocked_by_other(c, actor, &blocks) {
                    return Outcome::Denied;
                }
                let index = msg % c.messages.len();
                let message = &mut c.messages[index];
                if message.deleted {
                    return Outcome::Conflict;
                }
                let emoji = EMOJI[usize::from(emoji)].to_owned();
                if present {
                    message.reactions.entry(emoji).or_default().insert(actor);
                } else if let Some(users) = message.reactions.get_mut(&emoji) {
                    users.remove(&actor);
                    if users.is_empty() {
                        message.reactions.remove(&emoji);
                    }
                }
                Outcome::Reactions(message.reaction_summary())
            }
            Op::Deliver { actor, conv, up_to } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                let target = up_to.map_or(last_seq, |seq| u64::from(seq).min(last_seq));
                if let Some(member) = c.member_mut(actor) {
                    member.deliver_up_to(target);
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::MarkRead { actor, conv, up_to } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                let target = up_to.map_or(last_seq, |seq| u64::from(seq).min(last_seq));
                if let Some(member) = c.member_mut(actor) {
                    member.read_up_to(target);
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Archive { actor, conv, archived } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if let Some(member) = c.member_mut(actor) {
                    member.archived = archived;
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Mute { actor, conv, muted } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                if let Some(member) = c.member_mut(actor) {
                    member.muted = muted;
                    if muted {
                        member.quiet_through = last_seq;
                    }
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Clear { actor, conv } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                if let Some(member) = c.member_mut(actor) {
                    member.cleared = last_seq;
                    member.read_up_to(last_seq);
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Edit { actor, conv, msg } | Op::Delete { actor, conv, msg } => {
                let deleting = matches!(op, Op::Delete { .. });
                let blocks = self.blocks.clone();
                let mut discarded = Vec::new();
                let Some((_, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.messages.is_empty() {
                    return Outcome::NotFound("message");
                }
                if !deleting && blocked_by_other(c, actor, &blocks) {
                    return Outcome::Denied;
                }
                let index = msg % c.messages.len();
                let message = &mut c.messages[index];
                if message.sender != Some(actor) {
                    return Outcome::Denied;
                }
                if deleting {
                    message.deleted = true;
                    message.body.clear();
                    message.reactions.clear();
                    discarded = std::mem::take(&mut message.attachments);
                } else {
                    if message.deleted {
                        return Outcome::Conflict;
                    }
                    message.body = format!("e{step}");
                }
                let outcome = Outcome::Message {
                    seq: index as u64 + 1,
                    deleted: message.deleted,
                    body: message.body.clone(),
                };
                for upload in discarded {
                    self.uploads[upload].state = UploadState::Discarded;
                }
                outcome
            }
            Op::Add { actor, conv, user } => {
                if user == actor {
                    return Outcome::Invalid(vec!["participant_uuids".into()]);
                }
                let blocked_by_user = self.blocks.contains(&(user, actor));
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.kind == ConversationKind::Direct {
                    return Outcome::Conflict;
                }
                // Invariant 13: the blocked user cannot add the blocker (an existing member
                // stays as they are).
                if c.member(user).is_none() && blocked_by_user {
                    return Outcome::Denied;
                }
                if c.member(user).is_none() {
                    let last_seq = c.last_seq();
                    c.members
                        .push(ModelConversation::new_member(user, false, clock, last_seq));
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Remove { actor, conv, user } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.kind == ConversationKind::Direct {
                    return Outcome::Conflict;
                }
                if c.member(user).is_none() {
                    return Outcome::NotFound("participant");
                }
                let actor_is_owner = c.member(actor).is_some_and(|member| member.owner);
                if actor != user && !actor_is_owner {
                    return Outcome::Denied;
                }
                c.leave(user);
                Outcome::Conversation(c.summary(conv))
            }
            Op::Inbox {
                actor,
                archive,
                unread_only,
                tag,
                ..
            } => {
                let filter = archive_filter(archive);
                let tag_passes = |c: &ModelConversation| match tag {
                    None => true,
                    Some(wanted) => {
                        let own = c.direct_key.and_then(|key| key.2);
                        own.is_some() && (wanted.is_none() || wanted == own)
                    }
                };
                let mut rows: Vec<(DateTime<Utc>, ConversationId, usize, u64, bool)> = self
                    .conversations
                    .iter()
                    .enumerate()
                    .filter_map(|(index, c)| {
                        let member = c.member(actor)?;
                        let unread = c.unread(member);
                        let keep = filter.matches(member.archived) && (!unread_only || unread > 0) && tag_passes(c);
                        if keep {
                            Some((c.activity?, c.id?, index, unread, member.archived))
                        } else {
                            None
                        }
                    })
                    .collect();
                rows.sort_by_key(|row| std::cmp::Reverse((row.0, row.1)));
                Outcome::Inbox(
                    rows.into_iter()
                        .map(|(_, _, index, unread, archived)| (index, unread, archived))
                        .collect(),
                )
            }
            Op::History {
                actor,
                conv,
                after,
                before,
                limit,
            } => {
                let Some((_, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let cleared = c.member(actor).map_or(0, |member| member.cleared);
                let lower = after.map_or(0, u64::from).max(cleared);
                let visible: Vec<HistoryRow> = c
                    .messages
                    .iter()
                    .enumerate()
                    .map(|(index, m)| HistoryRow {
                        seq: index as u64 + 1,
                        deleted: m.deleted,
                        body: m.body.clone(),
                        system: m.sender.is_none(),
                        reply: m.reply_to.map(|quoted| {
                            let original = &c.messages[quoted];
                            let shown = !original.deleted && quoted as u64 + 1 > cleared;
                            (quoted as u64 + 1, shown.then(|| original.body.clone()))
                        }),
                        reactions: m.reaction_summary(),
                        attachments: m.attachments.clone(),
                    })
                    .filter(|row| row.seq > lower && before.is_none_or(|before| row.seq < u64::from(before)))
                    .collect();
                let limit = usize::from(limit);
                let page: Vec<HistoryRow> = if after.is_some() {
                    visible.into_iter().take(limit).collect()
                } else {
                    let skip = visible.len().saturating_sub(limit);
                    visible.into_iter().skip(skip).collect()
                };
                // Reading history delivers what it returned.
                if let (Some(last), Some(member)) = (page.last(), c.member_mut(actor)) {
                    member.deliver_up_to(last.seq);
                }
                Outcome::History(page)
            }
            Op::Search { actor, query } => {
                let needle = SEARCH_QUERIES[usize::from(query)].to_lowercase();
                let named = |user: usize| user_name(user).to_lowercase().contains(&needle);
                let mut rows: Vec<(DateTime<Utc>, ConversationId, usize)> = self
                    .conversations
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.member(actor).is_some())
                    .filter(|(_, c)| {
                        c.title
                            .as_ref()
                            .is_some_and(|title| title.to_lowercase().contains(&needle))
                            || c.members.iter().any(|m| m.user != actor && named(m.user))
                    })
                    .filter_map(|(index, c)| Some((c.activity?, c.id?, index)))
                    .collect();
                rows.sort_by_key(|row| std::cmp::Reverse((row.0, row.1)));
                Outcome::Found(rows.into_iter().map(|(_, _, index)| index).collect())
            }
            Op::Notify => Outcome::Notified,
            Op::Block { actor, user, block } => {
                if block && actor == user {
                    return Outcome::Invalid(vec!["user".into()]);
                }
                if block {
                    self.blocks.insert((actor, user));
                } else {
                    self.blocks.remove(&(actor, user));
                }
                let blocked = self.blocks.iter().filter(|(blocker, _)| *blocker == actor);
                Outcome::Blocked(blocked.map(|&(_, blocked)| blocked).collect())
            }
            Op::Erase { user } => {
                let mut discarded = Vec::new();
                for c in &mut self.conversations {
                    if c.member(user).is_none() {
                        continue;
                    }
                    for message in &mut c.messages {
                        if message.sender == Some(user) {
                            if !message.deleted {
                                message.deleted = true;
                                message.body.clear();
                                message.reactions.clear();
                                discarded.append(&mut message.attachments);
                            }
                        } else {
                            message.reactions.retain(|_, holders| {
                                holders.remove(&user);
                                !holders.is_empty()
                            });
                        }
                    }
                    if c.kind == ConversationKind::Group {
                        c.leave(user);
                    } else {
                        let last_seq = c.last_seq();
                        if let Some(member) = c.member_mut(user) {
                            member.read_up_to(last_seq);
                        }
                    }
                }
                for upload in discarded {
                    self.uploads[upload].state = UploadState::Discarded;
                }
                // Their uploads not sent go too.
                for upload in self
                    .uploads
                    .iter_mut()
                    .filter(|u| u.uploader == user && u.state == UploadState::Unsent)
                {
                    upload.state = UploadState::Discarded;
                }
                self.blocks.retain(|&(blocker, _)| blocker != user);
                self.reports.retain(|&(reporter, _, _), _| reporter != user);
                Outcome::Erased
            }
            Op::Report {
                actor,
                conv,
                msg,
                reason,
            } => {
                let Some(conv) = self
                    .pick(conv)
                    .filter(|&index| self.conversations[index].member(actor).is_some())
                else {
                    return Outcome::NotFound("conversation");
                };
                let c = &self.conversations[conv];
                if c.messages.is_empty() {
                    return Outcome::NotFound("message");
                }
                let index = msg % c.messages.len();
                if let Some(&stored) = self.reports.get(&(actor, conv, index)) {
                    return Outcome::Reported {
                        created: false,
                        reason: REPORT_REASONS[usize::from(stored)],
                    };
                }
                let message = &c.messages[index];
                if message.sender.is_none() || message.sender == Some(actor) {
                    return Outcome::Denied;
                }
                if message.deleted {
                    return Outcome::Conflict;
                }
                self.reports.insert((actor, conv, index), reason);
                Outcome::Reported {
                    created: true,
                    reason: REPORT_REASONS[usize::from(reason)],
                }
            }
            Op::Get { actor, conv } => match self.member_conversation(conv, actor) {
                Some((conv, c)) => Outcome::Conversation(c.summary(conv)),
                None => Outcome::NotFound("conversation"),
            },
            Op::Stats { actor } => {
                let mut stats = Stats::default();
                for c in &self.conversations {
                    if let Some(member) = c.member(actor) {
                        let unread = c.unread(member);
                        stats.total_conversations += 1;
                        stats.unread_messages += unread;
                        stats.unread_conversations += u64::from(unread > 0);
                    }
                }
                Outcome::Stats(stats)
            }
        }
    }

    fn member_conversation(&mut self, conv: usize, actor: usize) -> Option<(usize, &mut ModelConversation)> {
        let index = self.pick(conv)?;
        let conversation = &mut self.conversations[index];
        conversation.member(actor)?;
        Some((index, conversation))
    }
}
