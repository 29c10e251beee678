//! The model-based property test: random sequences of operations by several users, run
//! through the services on the store under test and on a plain model, answer by answer.
//!
//! The model keeps only facts (members, messages, flags) and *derives* every counter from
//! them on demand (unread counts, previews, stats), so it checks the stores' incremental
//! bookkeeping rather than repeating it. Each case runs in a fresh tenant, so one store
//! serves all cases. Timestamps are the store's to choose; the model adopts the ones the
//! store reports and checks that a conversation's activity never goes back.
//!
//! Cases: 256 by default; set `CHAT_PROPTEST_CASES` for longer runs.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::error::ChatError;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::model::{ConversationKind, Role, Stats};
use crate::service::{InboxFilter, NewGroupInput, SendMessage, StartDirect};
use crate::store::{ArchiveFilter, Store};
use crate::tag::{Tag, TagFilter, TaggableId};
use crate::view::{ConversationView, MessageView};

use super::fixtures::{Fixture, user_name};

/// Users taking part in each case.
const USERS: usize = 4;
/// Search texts: name fragments of fixture users and title fragments of groups.
const SEARCH_QUERIES: [&str; 5] = ["ana", "BRUNO", "z 3", "group 1", "nobody"];
/// Default number of cases; `CHAT_PROPTEST_CASES` overrides it.
pub const DEFAULT_CASES: u32 = 256;

/// One operation of a generated sequence. Conversation and message numbers pick among the
/// ones that exist at that point (modulo their count), so shrinking keeps sequences valid.
#[derive(Clone, Debug)]
enum Op {
    /// Find-or-create a direct conversation, maybe tagged with order `tag`.
    StartDirect {
        actor: usize,
        other: usize,
        tag: Option<u8>,
    },
    /// Create a group.
    CreateGroup { actor: usize, members: Vec<usize> },
    /// Send, maybe with a retry key.
    Send {
        actor: usize,
        conv: usize,
        retry_key: Option<u8>,
    },
    /// Mark read up to a seq or the newest.
    MarkRead {
        actor: usize,
        conv: usize,
        up_to: Option<u8>,
    },
    /// Archive or unarchive.
    Archive { actor: usize, conv: usize, archived: bool },
    /// Clear history.
    Clear { actor: usize, conv: usize },
    /// Edit a message.
    Edit { actor: usize, conv: usize, msg: usize },
    /// Delete a message.
    Delete { actor: usize, conv: usize, msg: usize },
    /// Add a participant.
    Add { actor: usize, conv: usize, user: usize },
    /// Remove a participant (oneself: leave).
    Remove { actor: usize, conv: usize, user: usize },
    /// Walk the whole inbox in pages, maybe filtered by tag (type only, or type and id).
    Inbox {
        actor: usize,
        archive: u8,
        unread_only: bool,
        page: u8,
        tag: Option<Option<u8>>,
    },
    /// Search by a name or title fragment.
    Search { actor: usize, query: u8 },
    /// Read one history page.
    History {
        actor: usize,
        conv: usize,
        after: Option<u8>,
        before: Option<u8>,
        limit: u8,
    },
    /// Read one conversation.
    Get { actor: usize, conv: usize },
    /// Read the totals.
    Stats { actor: usize },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let conv = 0..8usize;
    prop_oneof![
        3 => (user.clone(), user.clone(), proptest::option::of(0..3u8))
            .prop_map(|(actor, other, tag)| Op::StartDirect { actor, other, tag }),
        1 => (user.clone(), proptest::collection::vec(0..USERS, 0..4))
            .prop_map(|(actor, members)| Op::CreateGroup { actor, members }),
        8 => (user.clone(), conv.clone(), proptest::option::of(0..4u8))
            .prop_map(|(actor, conv, retry_key)| Op::Send { actor, conv, retry_key }),
        3 => (user.clone(), conv.clone(), proptest::option::of(0..12u8))
            .prop_map(|(actor, conv, up_to)| Op::MarkRead { actor, conv, up_to }),
        2 => (user.clone(), conv.clone(), any::<bool>())
            .prop_map(|(actor, conv, archived)| Op::Archive { actor, conv, archived }),
        1 => (user.clone(), conv.clone()).prop_map(|(actor, conv)| Op::Clear { actor, conv }),
        2 => (user.clone(), conv.clone(), 0..16usize).prop_map(|(actor, conv, msg)| Op::Edit { actor, conv, msg }),
        2 => (user.clone(), conv.clone(), 0..16usize).prop_map(|(actor, conv, msg)| Op::Delete { actor, conv, msg }),
        1 => (user.clone(), conv.clone(), user.clone()).prop_map(|(actor, conv, user)| Op::Add { actor, conv, user }),
        1 => (user.clone(), conv.clone(), user.clone()).prop_map(|(actor, conv, user)| Op::Remove { actor, conv, user }),
        2 => (user.clone(), 0..3u8, any::<bool>(), 1..5u8, proptest::option::of(proptest::option::of(0..3u8)))
            .prop_map(|(actor, archive, unread_only, page, tag)| Op::Inbox { actor, archive, unread_only, page, tag }),
        1 => (user.clone(), 0..SEARCH_QUERIES.len() as u8).prop_map(|(actor, query)| Op::Search { actor, query }),
        2 => (
            user.clone(),
            conv.clone(),
            proptest::option::of(0..12u8),
            proptest::option::of(0..14u8),
            1..6u8
        )
            .prop_map(|(actor, conv, after, before, limit)| Op::History { actor, conv, after, before, limit }),
        1 => (user.clone(), conv).prop_map(|(actor, conv)| Op::Get { actor, conv }),
        1 => user.prop_map(|actor| Op::Stats { actor }),
    ]
}

/// Runs the model-based test on the store `make_store` yields (`None` skips it), in a
/// runtime of its own. Panics with the smallest failing sequence found.
pub fn run<F, Fut>(make_store: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the model-based test");
    let Some(store) = runtime.block_on(make_store()) else {
        return;
    };
    let cases = std::env::var("CHAT_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(op_strategy(), 1..40);
    let result = runner.run(&strategy, |ops| {
        runtime
            .block_on(run_case(Arc::clone(&store), &ops))
            .map_err(TestCaseError::fail)
    });
    if let Err(error) = result {
        panic!("model-based test failed: {error}");
    }
}

/// What an operation answered, in the model's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    NotFound(&'static str),
    Denied,
    Conflict,
    Invalid(Vec<String>),
    Started { conv: usize, created: bool },
    Sent { seq: u64, created: bool },
    Conversation(Summary),
    Message { seq: u64, deleted: bool, body: String },
    Inbox(Vec<(usize, u64, bool)>),
    Found(Vec<usize>),
    History(Vec<(u64, bool, String)>),
    Stats(Stats),
}

/// A conversation as one user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Summary {
    conv: usize,
    kind: ConversationKind,
    last_seq: u64,
    preview: Option<(u64, String)>,
    members: Vec<MemberSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct MemberSummary {
    user: usize,
    owner: bool,
    last_read: u64,
    unread: u64,
    archived: bool,
    cleared: u64,
}

#[derive(Clone, Debug)]
struct ModelMessage {
    id: Option<MessageId>,
    sender: usize,
    body: String,
    retry_key: Option<u8>,
    deleted: bool,
}

#[derive(Clone, Debug)]
struct ModelMember {
    user: usize,
    owner: bool,
    joined: u64,
    last_read: u64,
    archived: bool,
    cleared: u64,
}

#[derive(Clone, Debug)]
struct ModelConversation {
    id: Option<ConversationId>,
    title: Option<String>,
    kind: ConversationKind,
    direct_key: Option<(usize, usize, Option<u8>)>,
    members: Vec<ModelMember>,
    messages: Vec<ModelMessage>,
    activity: Option<DateTime<Utc>>,
}

impl ModelConversation {
    fn member(&self, user: usize) -> Option<&ModelMember> {
        self.members.iter().find(|member| member.user == user)
    }

    fn member_mut(&mut self, user: usize) -> Option<&mut ModelMember> {
        self.members.iter_mut().find(|member| member.user == user)
    }

    fn last_seq(&self) -> u64 {
        self.messages.len() as u64
    }

    fn unread(&self, member: &ModelMember) -> u64 {
        self.messages
            .iter()
            .enumerate()
            .filter(|(i, m)| *i as u64 + 1 > member.last_read && m.sender != member.user)
            .count() as u64
    }

    fn summary(&self, conv: usize) -> Summary {
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
                unread: self.unread(member),
                archived: member.archived,
                cleared: member.cleared,
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

    fn new_member(user: usize, owner: bool, joined: u64, last_read: u64) -> ModelMember {
        ModelMember {
            user,
            owner,
            joined,
            last_read,
            archived: false,
            cleared: 0,
        }
    }
}

#[derive(Default)]
struct Model {
    conversations: Vec<ModelConversation>,
    clock: u64,
}

impl Model {
    fn pick(&self, conv: usize) -> Option<usize> {
        (!self.conversations.is_empty()).then(|| conv % self.conversations.len())
    }

    fn index_of(&self, id: ConversationId) -> Option<usize> {
        self.conversations
            .iter()
            .position(|conversation| conversation.id == Some(id))
    }

    /// The expected answer to `op`, applying it to the model.
    fn apply(&mut self, op: &Op, step: usize) -> Outcome {
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
            Op::Send { actor, conv, retry_key } => {
                let Some((_, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if let Some(key) = retry_key {
                    let stored = c
                        .messages
                        .iter()
                        .position(|m| m.sender == actor && m.retry_key == Some(key));
                    if let Some(index) = stored {
                        return Outcome::Sent {
                            seq: index as u64 + 1,
                            created: false,
                        };
                    }
                }
                c.messages.push(ModelMessage {
                    id: None,
                    sender: actor,
                    body: format!("m{step}"),
                    retry_key,
                    deleted: false,
                });
                let seq = c.last_seq();
                for member in &mut c.members {
                    member.archived = false;
                    if member.user == actor {
                        member.last_read = seq;
                    }
                }
                Outcome::Sent { seq, created: true }
            }
            Op::MarkRead { actor, conv, up_to } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                let target = up_to.map_or(last_seq, |seq| u64::from(seq).min(last_seq));
                if let Some(member) = c.member_mut(actor) {
                    member.last_read = member.last_read.max(target);
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
            Op::Clear { actor, conv } => {
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                let last_seq = c.last_seq();
                if let Some(member) = c.member_mut(actor) {
                    member.cleared = last_seq;
                    member.last_read = member.last_read.max(last_seq);
                }
                Outcome::Conversation(c.summary(conv))
            }
            Op::Edit { actor, conv, msg } | Op::Delete { actor, conv, msg } => {
                let deleting = matches!(op, Op::Delete { .. });
                let Some((_, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.messages.is_empty() {
                    return Outcome::NotFound("message");
                }
                let index = msg % c.messages.len();
                let message = &mut c.messages[index];
                if message.sender != actor {
                    return Outcome::Denied;
                }
                if deleting {
                    message.deleted = true;
                    message.body.clear();
                } else {
                    if message.deleted {
                        return Outcome::Conflict;
                    }
                    message.body = format!("e{step}");
                }
                Outcome::Message {
                    seq: index as u64 + 1,
                    deleted: message.deleted,
                    body: message.body.clone(),
                }
            }
            Op::Add { actor, conv, user } => {
                if user == actor {
                    return Outcome::Invalid(vec!["participant_uuids".into()]);
                }
                let Some((conv, c)) = self.member_conversation(conv, actor) else {
                    return Outcome::NotFound("conversation");
                };
                if c.kind == ConversationKind::Direct {
                    return Outcome::Conflict;
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
                let Some(position) = c.members.iter().position(|member| member.user == user) else {
                    return Outcome::NotFound("participant");
                };
                let actor_is_owner = c.member(actor).is_some_and(|member| member.owner);
                if actor != user && !actor_is_owner {
                    return Outcome::Denied;
                }
                let removed = c.members.remove(position);
                if removed.owner {
                    if let Some(heir) = c.members.iter_mut().min_by_key(|member| (member.joined, member.user)) {
                        heir.owner = true;
                    }
                }
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
                let visible: Vec<(u64, bool, String)> = c
                    .messages
                    .iter()
                    .enumerate()
                    .map(|(index, m)| (index as u64 + 1, m.deleted, m.body.clone()))
                    .filter(|(seq, _, _)| *seq > lower && before.is_none_or(|before| *seq < u64::from(before)))
                    .collect();
                let limit = usize::from(limit);
                let page = if after.is_some() {
                    visible.into_iter().take(limit).collect()
                } else {
                    let skip = visible.len().saturating_sub(limit);
                    visible.into_iter().skip(skip).collect()
                };
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

fn archive_filter(code: u8) -> ArchiveFilter {
    match code {
        0 => ArchiveFilter::Active,
        1 => ArchiveFilter::Archived,
        _ => ArchiveFilter::All,
    }
}

fn user_index(user: &UserId) -> usize {
    user.as_str().trim_start_matches('u').parse().unwrap_or(usize::MAX)
}

fn error_outcome(error: ChatError) -> Outcome {
    match error {
        ChatError::NotFound { what } => Outcome::NotFound(what),
        ChatError::PermissionDenied { .. } => Outcome::Denied,
        ChatError::Conflict { .. } => Outcome::Conflict,
        ChatError::Validation(errors) => Outcome::Invalid(errors.fields().keys().cloned().collect()),
        other => panic!("unexpected backend error: {other}"),
    }
}

fn summary_of(model: &Model, view: &ConversationView) -> Summary {
    let mut members: Vec<MemberSummary> = view
        .participants
        .iter()
        .map(|p| MemberSummary {
            user: user_index(&p.participant.user),
            owner: p.participant.role == Role::Owner,
            last_read: p.participant.last_read_seq,
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

fn message_outcome(view: &MessageView) -> Outcome {
    Outcome::Message {
        seq: view.message.seq,
        deleted: view.message.deleted_at.is_some(),
        body: view.message.body.clone(),
    }
}

/// A conversation id for `conv`: the model's pick, or an id nobody has.
fn conversation_id(model: &Model, conv: usize) -> ConversationId {
    model
        .pick(conv)
        .and_then(|index| model.conversations[index].id)
        .unwrap_or_else(ConversationId::new_v7)
}

/// Runs one generated sequence; `Err` describes the first disagreement.
async fn run_case(store: Arc<dyn Store>, ops: &[Op]) -> Result<(), String> {
    let fx = Fixture::new(store, USERS);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        // Ids must be read before the model applies the op (a new conversation has none yet).
        let target = match *op {
            Op::Send { conv, .. }
            | Op::MarkRead { conv, .. }
            | Op::Archive { conv, .. }
            | Op::Clear { conv, .. }
            | Op::Edit { conv, .. }
            | Op::Delete { conv, .. }
            | Op::Add { conv, .. }
            | Op::Remove { conv, .. }
            | Op::History { conv, .. }
            | Op::Get { conv, .. } => conversation_id(&model, conv),
            _ => ConversationId::new_v7(),
        };
        let message_target = match *op {
            Op::Edit { conv, msg, .. } | Op::Delete { conv, msg, .. } => message_id(&model, conv, msg),
            _ => MessageId::new_v7(),
        };
        let previous_activity = model.pick(match *op {
            Op::Send { conv, .. } => conv,
            _ => 0,
        });
        let previous_activity = previous_activity.and_then(|index| model.conversations[index].activity);
        let expected = model.apply(op, step);
        let actual = match *op {
            Op::StartDirect { actor, other, tag } => {
                let mut input = StartDirect::with(fx.user(other).user.clone());
                if let Some(tag) = tag {
                    input = input.tagged(Tag::new("Order", i64::from(tag)).map_err(|e| e.to_string())?);
                }
                match conversations.start_direct(fx.user(actor), input).await {
                    Ok((view, created)) => {
                        adopt_new(&mut model, &view, created);
                        Outcome::Started {
                            conv: model.index_of(view.conversation.id).unwrap_or(usize::MAX),
                            created,
                        }
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::CreateGroup { actor, ref members } => {
                let input = NewGroupInput {
                    participants: members.iter().map(|&user| fx.user(user).user.clone()).collect(),
                    title: format!("group {step}"),
                    tag: None,
                    metadata: Default::default(),
                };
                match conversations.create_group(fx.user(actor), input).await {
                    Ok(view) => {
                        adopt_new(&mut model, &view, true);
                        Outcome::Conversation(summary_of(&model, &view))
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::Send { actor, retry_key, .. } => {
                let mut input = SendMessage::text(format!("m{step}"));
                if let Some(key) = retry_key {
                    input = input.with_client_message_id(format!("key-{key}"));
                }
                match messages.send(fx.user(actor), target, input).await {
                    Ok(sent) => {
                        if sent.created {
                            let at = sent.message.message.created_at;
                            if previous_activity.is_some_and(|previous| at < previous) {
                                return Err(format!("step {step}: message time {at} went back"));
                            }
                            if let Some(index) = model.index_of(target) {
                                let conversation = &mut model.conversations[index];
                                conversation.activity = Some(at);
                                if let Some(last) = conversation.messages.last_mut() {
                                    last.id = Some(sent.message.message.id);
                                }
                            }
                        }
                        Outcome::Sent {
                            seq: sent.message.message.seq,
                            created: sent.created,
                        }
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::MarkRead { actor, up_to, .. } => conversation_outcome(
                &model,
                conversations
                    .mark_read(fx.user(actor), target, up_to.map(u64::from))
                    .await,
            ),
            Op::Archive { actor, archived, .. } => {
                let result = if archived {
                    conversations.archive(fx.user(actor), target).await
                } else {
                    conversations.unarchive(fx.user(actor), target).await
                };
                conversation_outcome(&model, result)
            }
            Op::Clear { actor, .. } => {
                conversation_outcome(&model, conversations.clear_history(fx.user(actor), target).await)
            }
            Op::Edit { actor, .. } => {
                match messages
                    .edit(fx.user(actor), target, message_target, &format!("e{step}"))
                    .await
                {
                    Ok(view) => message_outcome(&view),
                    Err(error) => error_outcome(error),
                }
            }
            Op::Delete { actor, .. } => match messages.delete(fx.user(actor), target, message_target).await {
                Ok(view) => message_outcome(&view),
                Err(error) => error_outcome(error),
            },
            Op::Add { actor, user, .. } => conversation_outcome(
                &model,
                conversations
                    .add_participants(fx.user(actor), target, vec![fx.user(user).user.clone()])
                    .await,
            ),
            Op::Remove { actor, user, .. } => conversation_outcome(
                &model,
                conversations
                    .remove_participant(fx.user(actor), target, &fx.user(user).user)
                    .await,
            ),
            Op::Inbox {
                actor,
                archive,
                unread_only,
                page,
                tag,
            } => {
                let tag = tag.map(|id| TagFilter {
                    taggable_type: "Order".into(),
                    taggable_id: id.map(|id| TaggableId::Str(id.to_string())),
                });
                walk_inbox(&fx, &model, actor, archive_filter(archive), unread_only, page, tag).await?
            }
            Op::Search { actor, query } => {
                match conversations
                    .search(fx.user(actor), SEARCH_QUERIES[usize::from(query)], None)
                    .await
                {
                    Ok(found) => Outcome::Found(
                        found
                            .iter()
                            .map(|view| model.index_of(view.conversation.id).unwrap_or(usize::MAX))
                            .collect(),
                    ),
                    Err(error) => error_outcome(error),
                }
            }
            Op::History {
                actor,
                after,
                before,
                limit,
                ..
            } => {
                let result = messages
                    .history(
                        fx.user(actor),
                        target,
                        before.map(u64::from),
                        after.map(u64::from),
                        Some(usize::from(limit)),
                    )
                    .await;
                match result {
                    Ok(page) => Outcome::History(
                        page.iter()
                            .map(|v| (v.message.seq, v.message.deleted_at.is_some(), v.message.body.clone()))
                            .collect(),
                    ),
                    Err(error) => error_outcome(error),
                }
            }
            Op::Get { actor, .. } => conversation_outcome(&model, conversations.get(fx.user(actor), target).await),
            Op::Stats { actor } => match conversations.stats(fx.user(actor)).await {
                Ok(stats) => Outcome::Stats(stats),
                Err(error) => error_outcome(error),
            },
        };
        if expected != actual {
            return Err(format!(
                "step {step}: {op:?}\n  model: {expected:?}\n  store: {actual:?}"
            ));
        }
    }
    // Every member's view of every conversation agrees with the model at the end.
    for (index, conversation) in model.conversations.iter().enumerate() {
        let Some(id) = conversation.id else { continue };
        for member in &conversation.members {
            let view = conversations
                .get(fx.user(member.user), id)
                .await
                .map_err(|e| e.to_string())?;
            let actual = summary_of(&model, &view);
            let expected = conversation.summary(index);
            if actual != expected {
                return Err(format!(
                    "final state of conversation {index} for u{}:\n  model: {expected:?}\n  store: {actual:?}",
                    member.user
                ));
            }
        }
    }
    Ok(())
}

/// Records the id and activity time of a conversation the store just created.
fn adopt_new(model: &mut Model, view: &ConversationView, created: bool) {
    if !created || model.index_of(view.conversation.id).is_some() {
        return;
    }
    if let Some(pending) = model.conversations.iter_mut().rev().find(|c| c.id.is_none()) {
        pending.id = Some(view.conversation.id);
        pending.activity = Some(view.conversation.last_activity_at);
    }
}

fn conversation_outcome(model: &Model, result: Result<ConversationView, ChatError>) -> Outcome {
    match result {
        Ok(view) => Outcome::Conversation(summary_of(model, &view)),
        Err(error) => error_outcome(error),
    }
}

/// The id of message number `msg` of the conversation (recorded when it was sent), or an
/// id nobody has when there is none.
fn message_id(model: &Model, conv: usize, msg: usize) -> MessageId {
    model
        .pick(conv)
        .map(|index| &model.conversations[index].messages)
        .filter(|messages| !messages.is_empty())
        .and_then(|messages| messages[msg % messages.len()].id)
        .unwrap_or_else(MessageId::new_v7)
}

async fn walk_inbox(
    fx: &Fixture,
    model: &Model,
    actor: usize,
    archive: ArchiveFilter,
    unread_only: bool,
    page: u8,
    tag: Option<TagFilter>,
) -> Result<Outcome, String> {
    let mut rows = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let filter = InboxFilter {
            archive,
            tag: tag.clone(),
            unread_only,
            cursor,
            limit: Some(usize::from(page)),
        };
        let result = fx
            .conversations()
            .inbox(fx.user(actor), filter)
            .await
            .map_err(|e| e.to_string())?;
        rows.extend(result.items.iter().map(|view| {
            (
                model.index_of(view.conversation.id).unwrap_or(usize::MAX),
                view.unread_count(),
                view.is_archived(),
            )
        }));
        match result.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(Outcome::Inbox(rows)),
        }
    }
    Err("inbox paging did not end".into())
}
