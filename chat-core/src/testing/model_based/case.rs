//! One generated case: each operation run through the services on the store under test and
//! applied to the model, answer by answer, then every member's final view compared.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::ids::{AttachmentId, ConversationId, MessageId};
use crate::notification::{Notification, Notifier, NotifyError};
use crate::service::NotificationWorker;
use crate::service::{InboxFilter, NewGroupInput, SendMessage, StartDirect, SystemMessage};
use crate::store::{ArchiveFilter, Store};
use crate::tag::{Tag, TagFilter, TaggableId};
use crate::testing::fixtures::Fixture;
use crate::view::ConversationView;

use super::model::Model;
use super::observed::{conversation_outcome, history_rows, summary_of};
use super::ops::{EMOJI, Op, REPORT_REASONS, SEARCH_QUERIES, USERS, archive_filter};
use super::outbox::{Outbox, Recipient};
use super::outcome::{Outcome, error_outcome, message_outcome, reactions_of, user_index};

/// What a case's operations met, for the runner's report.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Coverage {
    /// Cases run.
    pub(super) cases: usize,
    /// Cases in which no conversation was ever created.
    pub(super) without_conversation: usize,
    /// Operations run.
    pub(super) ops: usize,
    /// Operations naming a conversation (sends, reads, edits, history, ...).
    pub(super) on_a_conversation: usize,
    /// Those that named one the store had created (the others name an id nobody has).
    pub(super) on_an_existing_one: usize,
}

impl Coverage {
    pub(super) fn add(&mut self, other: Coverage) {
        self.cases += other.cases;
        self.without_conversation += other.without_conversation;
        self.ops += other.ops;
        self.on_a_conversation += other.on_a_conversation;
        self.on_an_existing_one += other.on_an_existing_one;
    }
}

/// Runs one generated sequence; `Err` describes the first disagreement.
pub(super) async fn run_case(store: Arc<dyn Store>, ops: &[Op]) -> Result<Coverage, String> {
    let mut coverage = Coverage {
        cases: 1,
        ops: ops.len(),
        ..Coverage::default()
    };
    let mut fx = Fixture::new(store, USERS);
    fx.services = fx.services.clone().with_notifications(std::time::Duration::ZERO);
    let conversations = fx.conversations();
    let messages = fx.messages();
    let mut model = Model::default();
    let mut outbox = Outbox::default();
    for (step, op) in ops.iter().enumerate() {
        if let Op::Notify = op {
            notify_round(&fx, &model, &mut outbox)
                .await
                .map_err(|error| format!("step {step}: {op:?}\n  {error}"))?;
            continue;
        }
        // Ids must be read before the model applies the op (a new conversation has none yet).
        let named = match *op {
            Op::Send { conv, .. }
            | Op::SendSystem { conv }
            | Op::React { conv, .. }
            | Op::Report { conv, .. }
            | Op::Deliver { conv, .. }
            | Op::MarkRead { conv, .. }
            | Op::Archive { conv, .. }
            | Op::Mute { conv, .. }
            | Op::Clear { conv, .. }
            | Op::Edit { conv, .. }
            | Op::Delete { conv, .. }
            | Op::Add { conv, .. }
            | Op::Remove { conv, .. }
            | Op::History { conv, .. }
            | Op::Get { conv, .. }
            | Op::Upload { conv, .. }
            | Op::Download { conv, .. } => Some(conv),
            _ => None,
        };
        let target = match named {
            Some(conv) => {
                // The model's pick, or an id nobody has when there is none yet.
                coverage.on_a_conversation += 1;
                let existing = model.pick(conv).and_then(|index| model.conversations[index].id);
                coverage.on_an_existing_one += usize::from(existing.is_some());
                existing.unwrap_or_else(ConversationId::new_v7)
            }
            None => ConversationId::new_v7(),
        };
        let message_target = match *op {
            Op::Edit { conv, msg, .. }
            | Op::Delete { conv, msg, .. }
            | Op::React { conv, msg, .. }
            | Op::Report { conv, msg, .. } => message_id(&model, conv, msg),
            Op::Send {
                conv, reply: Some(msg), ..
            } => message_id(&model, conv, msg),
            _ => MessageId::new_v7(),
        };
        let upload_target = match *op {
            Op::Send {
                attach: Some(upload), ..
            }
            | Op::Download { upload, .. } => upload_id(&model, upload),
            _ => AttachmentId::new_v7(),
        };
        let previous_activity = model.pick(match *op {
            Op::Send { conv, .. } | Op::SendSystem { conv } => conv,
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
            Op::Send {
                actor,
                retry_key,
                reply,
                attach,
                ..
            } => {
                let mut input = SendMessage::text(format!("m{step}"));
                if attach.is_some() {
                    input = input.with_attachments([upload_target]);
                }
                if let Some(key) = retry_key {
                    input = input.with_client_message_id(format!("key-{key}"));
                }
                if reply.is_some() {
                    input = input.replying_to(message_target);
                }
                match messages.send(fx.user(actor), target, input).await {
                    Ok(sent) => {
                        if sent.created {
                            adopt_sent(&mut model, target, &sent.message, previous_activity, step)?;
                        }
                        Outcome::Sent {
                            seq: sent.message.message.seq,
                            created: sent.created,
                        }
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::Upload { actor, .. } => {
                match fx.upload(actor, target, &format!("f{step}.txt"), b"a small file").await {
                    Ok(attachment) => {
                        if let Some(pending) = model.uploads.iter_mut().rev().find(|upload| upload.id.is_none()) {
                            pending.id = Some(attachment.id);
                        }
                        Outcome::Uploaded(model.upload_index(attachment.id).unwrap_or(usize::MAX))
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::Download { actor, .. } => {
                match fx
                    .services
                    .attachments()
                    .download(fx.user(actor), target, upload_target, Default::default())
                    .await
                {
                    Ok(_) => Outcome::Readable(true),
                    Err(crate::ChatError::NotFound { what: "attachment" }) => Outcome::Readable(false),
                    Err(error) => error_outcome(error),
                }
            }
            Op::SendSystem { .. } => {
                match messages
                    .send_system(&fx.tenant, target, SystemMessage::text(format!("s{step}")))
                    .await
                {
                    Ok(view) => {
                        adopt_sent(&mut model, target, &view, previous_activity, step)?;
                        Outcome::Sent {
                            seq: view.message.seq,
                            created: true,
                        }
                    }
                    Err(error) => error_outcome(error),
                }
            }
            Op::React {
                actor, emoji, present, ..
            } => {
                let emoji = EMOJI[usize::from(emoji)];
                let result = if present {
                    messages.react(fx.user(actor), target, message_target, emoji).await
                } else {
                    messages.unreact(fx.user(actor), target, message_target, emoji).await
                };
                match result {
                    Ok(view) => Outcome::Reactions(reactions_of(&view.message.reactions)),
                    Err(error) => error_outcome(error),
                }
            }
            Op::Deliver { actor, up_to, .. } => conversation_outcome(
                &model,
                conversations
                    .mark_delivered(fx.user(actor), target, up_to.map(u64::from))
                    .await,
            ),
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
            Op::Mute { actor, muted, .. } => {
                let result = if muted {
                    conversations.mute(fx.user(actor), target).await
                } else {
                    conversations.unmute(fx.user(actor), target).await
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
                    Ok(page) => Outcome::History(history_rows(&model, &page)),
                    Err(error) => error_outcome(error),
                }
            }
            // Checked by `notify_round` above, as a range.
            Op::Notify => Outcome::Notified,
            Op::Erase { user } => match fx.services.erase_user(&fx.tenant, &fx.user(user).user).await {
                Ok(report) if report.done => Outcome::Erased,
                Ok(report) => return Err(format!("step {step}: {op:?}\n  the erase did not finish: {report:?}")),
                Err(error) => error_outcome(error),
            },
            Op::Report { actor, reason, .. } => {
                match fx
                    .services
                    .reports()
                    .report(
                        fx.user(actor),
                        target,
                        message_target,
                        REPORT_REASONS[usize::from(reason)],
                        None,
                    )
                    .await
                {
                    Ok((report, created)) => Outcome::Reported {
                        created,
                        reason: report.reason,
                    },
                    Err(error) => error_outcome(error),
                }
            }
            Op::Block { actor, user, block } => {
                let blocks = fx.services.blocks();
                let other = fx.user(user).user.clone();
                let changed = if block {
                    blocks.block(fx.user(actor), other).await.map(drop)
                } else {
                    blocks.unblock(fx.user(actor), &other).await.map(drop)
                };
                match changed {
                    Ok(()) => match blocks.list(fx.user(actor)).await {
                        Ok(list) => Outcome::Blocked(list.iter().map(|view| user_index(&view.user.id)).collect()),
                        Err(error) => error_outcome(error),
                    },
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
    coverage.without_conversation = usize::from(model.conversations.iter().all(|c| c.id.is_none()));
    Ok(coverage)
}

/// The notifications of one round, as (conversation index, user index).
#[derive(Default)]
struct Recorded {
    /// Who was notified, so far.
    seen: std::sync::Mutex<BTreeSet<Recipient>>,
    /// The fixture's users, by index.
    users: Vec<crate::ids::UserId>,
    /// The model's conversations, by index.
    conversations: Vec<ConversationId>,
}

#[async_trait::async_trait]
impl Notifier for Recorded {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for notification in batch {
            let user = self.users.iter().position(|user| *user == notification.recipient);
            let conversation = self
                .conversations
                .iter()
                .position(|id| *id == notification.conversation.conversation.id);
            let (Some(user), Some(conversation)) = (user, conversation) else {
                return Err(NotifyError::all(format!("an unknown recipient: {notification:?}")));
            };
            if !seen.insert((conversation, user)) {
                return Err(NotifyError::all(format!(
                    "notified twice in one round: {notification:?}"
                )));
            }
        }
        Ok(())
    }
}

/// A worker draining the outbox: it notifies everyone the model says it must, no one it
/// may not, each once (across its rounds too), and claims nothing stale.
async fn notify_round(fx: &Fixture, model: &Model, outbox: &mut Outbox) -> Result<(), String> {
    let users = fx.users.iter().map(|identity| identity.user.clone()).collect();
    let ids = model
        .conversations
        .iter()
        .map(|conversation| conversation.id.unwrap_or_else(ConversationId::new_v7))
        .collect();
    let notifier = Arc::new(Recorded {
        seen: std::sync::Mutex::default(),
        users,
        conversations: ids,
    });
    let worker = NotificationWorker::new(fx.services.clone(), notifier.clone())
        .for_tenant(fx.tenant.clone())
        .with_batch_size(1000);
    // Rounds until nothing is claimed, twice, 20 ms apart, as a polling worker would: on
    // Postgres a claim skips conversations whose lock is still held (a failed operation's
    // transaction is rolled back by the pool a moment after the call returned), and those
    // come in the next round.
    let mut quiet_rounds = 0;
    for _ in 0..50 {
        let report = worker.run_once().await.map_err(|error| error.to_string())?;
        // Nothing unread, nothing pending: a claimed row with nothing to tell is a pending
        // notification that reading, clearing, deleting or leaving should have removed.
        if report.failed > 0 || report.skipped > 0 {
            return Err(format!("the round failed or claimed stale rows: {report:?}"));
        }
        if report.claimed == 0 {
            quiet_rounds += 1;
            if quiet_rounds == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let notified = std::mem::take(&mut *notifier.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let (must, may) = outbox.bounds(model);
    if !must.is_subset(&notified) || !notified.is_subset(&may) {
        return Err(format!(
            "notified (conversation, user) {notified:?}\n  must: {must:?}\n  may: {may:?}"
        ));
    }
    outbox.notified(model, &notified);
    Ok(())
}

/// Records the id and time of a message the store just appended (the model's newest), and
/// checks that the conversation's activity did not go back.
fn adopt_sent(
    model: &mut Model,
    conversation: ConversationId,
    sent: &crate::view::MessageView,
    previous_activity: Option<chrono::DateTime<chrono::Utc>>,
    step: usize,
) -> Result<(), String> {
    let at = sent.message.created_at;
    if previous_activity.is_some_and(|previous| at < previous) {
        return Err(format!("step {step}: message time {at} went back"));
    }
    if let Some(index) = model.index_of(conversation) {
        let conversation = &mut model.conversations[index];
        conversation.activity = Some(at);
        if let Some(last) = conversation.messages.last_mut() {
            last.id = Some(sent.message.id);
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

/// The id of upload number `upload` (modulo their count), or an id nobody has.
fn upload_id(model: &Model, upload: usize) -> AttachmentId {
    model
        .pick_upload(upload)
        .and_then(|index| model.uploads[index].id)
        .unwrap_or_else(AttachmentId::new_v7)
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
