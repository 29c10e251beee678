//! Message operations.

use chrono::Duration;

use crate::error::ChatResult;
use crate::events::EventPayload;
use crate::ids::{ConversationId, Identity, MessageId, TenantId};
use crate::model::{ConversationRecord, Message, Metadata, now};
use crate::policy::DraftKind;
use crate::store::{Appended, HistoryPage, HistoryQuery, NewMessage, ReadUpTo};
use crate::view::{MessageView, Page};
use crate::{rules, validate};

use super::{ChatServices, Originals, Profiles};

/// How long a typing indicator lasts unless repeated.
pub const TYPING_TTL_SECONDS: i64 = 5;

/// Input of [`MessageService::send`].
#[derive(Clone, Debug, Default)]
pub struct SendMessage {
    /// The text (trimmed; 1..=[`crate::Limits::body_max_chars`] characters; may be empty
    /// when the message carries attachments).
    pub body: String,
    /// The sender's own unsent uploads to this conversation
    /// ([`crate::AttachmentService::upload`]), distinct, at most
    /// [`crate::Limits::attachments_per_message`]; anything else is a validation error on
    /// `attachment_ids`. A repeat of a stored `client_message_id` keeps the first message's
    /// attachments.
    pub attachments: Vec<crate::ids::AttachmentId>,
    /// A retry key: sending again with the same key returns the stored message.
    pub client_message_id: Option<String>,
    /// The message this one replies to: a message of the same conversation that is not
    /// deleted and that the sender has not cleared (else a validation error on `reply_to`).
    pub reply_to: Option<MessageId>,
    /// Host-defined data.
    pub metadata: Metadata,
}

/// Input of [`MessageService::send_system`]: what the host posts into a conversation.
#[derive(Clone, Debug, Default)]
pub struct SystemMessage {
    /// The text (trimmed; 1..=[`crate::Limits::body_max_chars`] characters).
    pub body: String,
    /// Host-defined data (e.g. the order's new state, for clients that render it).
    pub metadata: Metadata,
}

impl SystemMessage {
    /// A plain text system message.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            metadata: Metadata::new(),
        }
    }
}

impl SendMessage {
    /// A plain text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// With a retry key.
    pub fn with_client_message_id(mut self, id: impl Into<String>) -> Self {
        self.client_message_id = Some(id.into());
        self
    }

    /// With these attachments (the sender's unsent uploads to the conversation).
    pub fn with_attachments(mut self, attachments: impl IntoIterator<Item = crate::ids::AttachmentId>) -> Self {
        self.attachments = attachments.into_iter().collect();
        self
    }

    /// As a reply to `message`.
    pub fn replying_to(mut self, message: MessageId) -> Self {
        self.reply_to = Some(message);
        self
    }
}

/// Output of [`MessageService::send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The message with its sender's profile.
    pub message: MessageView,
    /// False when a repeated `client_message_id` returned the stored message.
    pub created: bool,
}

/// Sending, reading, editing and deleting messages. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MessageService {
    pub(super) ctx: ChatServices,
}

impl MessageService {
    /// Sends a message; answers once it is durable in the store. A new message publishes
    /// `message.created` and `conversation.updated` to every participant, both rendered once
    /// for all of them with one directory batch, whatever the group's size; a repeat of a
    /// stored `client_message_id` publishes nothing and returns the stored message.
    pub async fn send(&self, actor: &Identity, conversation: ConversationId, input: SendMessage) -> ChatResult<Sent> {
        let ctx = &self.ctx;
        let body = validate::body_with_attachments(&ctx.limits, &input.body, &input.attachments)?;
        validate::client_message_id(&ctx.limits, input.client_message_id.as_deref())?;
        validate::metadata(&ctx.limits, &input.metadata)?;
        let body = ctx
            .apply_policy(actor, conversation, DraftKind::Send, body, &input.attachments)
            .await?;
        let new = NewMessage {
            conversation_id: conversation,
            body,
            client_message_id: input.client_message_id,
            reply_to: input.reply_to,
            attachments: input.attachments,
            metadata: input.metadata,
            notify_after: ctx.notify_after,
        };
        // Registered with the conversation's in-flight sends before the append, so that
        // concurrent senders of one conversation publish in seq order (see `send_order`),
        // however long each one's rendering takes.
        let mut pending = ctx.send_order.register(conversation);
        let Appended {
            message,
            created,
            record,
        } = ctx.store.append_message(actor, new).await?;
        if !created {
            let mut views = ctx.message_views(actor, &record, vec![message]).await?;
            return Ok(Sent {
                message: views.remove(0),
                created,
            });
        }
        tracing::debug!(conversation_id = %conversation, message_id = %message.id, seq = message.seq, "message stored");
        let seq = message.seq;
        let (profiles, originals) = ctx.rendering(actor, &record, std::slice::from_ref(&message)).await?;
        pending.publish_turn(seq).await;
        let message = Self::publish_rendered(
            ctx,
            actor,
            (&profiles, &originals),
            record,
            message,
            EventPayload::MessageCreated,
        )
        .await;
        drop(pending);
        Ok(Sent { message, created })
    }

    /// Posts a system message from the host into a conversation of `tenant` ("Order #123
    /// shipped"): no actor and no membership check, so call it only from the host's own
    /// code, never with a conversation id a user chose. It has no sender, counts as unread
    /// for every member, moves the conversation to the top of their inboxes and un-archives
    /// it; `message.created` and `conversation.updated` go to every member. Not reachable
    /// over the HTTP API.
    ///
    /// Errors: `Validation` on `body` or `metadata`; `NotFound` when the tenant has no
    /// such conversation.
    pub async fn send_system(
        &self,
        tenant: &TenantId,
        conversation: ConversationId,
        input: SystemMessage,
    ) -> ChatResult<MessageView> {
        let ctx = &self.ctx;
        let body = validate::body(&ctx.limits, &input.body)?;
        validate::metadata(&ctx.limits, &input.metadata)?;
        let new = NewMessage {
            conversation_id: conversation,
            body,
            client_message_id: None,
            reply_to: None,
            attachments: Vec::new(),
            metadata: input.metadata,
            notify_after: ctx.notify_after,
        };
        let mut pending = ctx.send_order.register(conversation);
        let Appended { message, record, .. } = ctx.store.append_system_message(tenant, new).await?;
        tracing::debug!(conversation_id = %conversation, message_id = %message.id, seq = message.seq, "system message stored");
        // The host acts as the conversation's creator: the directory lookups and events are
        // those of the tenant, and the creator is the viewer of the returned view.
        let host = Identity {
            tenant: tenant.clone(),
            user: record.conversation.created_by.clone(),
        };
        let profiles = ctx.member_profiles(&host, &record).await?;
        pending.publish_turn(message.seq).await;
        let originals = Originals::default();
        let view = Self::publish_rendered(
            ctx,
            &host,
            (&profiles, &originals),
            record,
            message,
            EventPayload::MessageCreated,
        )
        .await;
        drop(pending);
        Ok(view)
    }

    /// A page of history by seq, ascending; history the actor cleared is not shown.
    /// `after` follows forward from a seq (catch-up after a reconnect); otherwise the newest
    /// messages before `before` (paging back).
    pub async fn history(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> ChatResult<Page<MessageView>> {
        let ctx = &self.ctx;
        let limit = validate::page_limit(&ctx.limits, limit)?;
        let query = HistoryQuery { before, after, limit };
        let HistoryPage {
            messages,
            quoted,
            mut record,
        } = ctx.store.history_page(actor, conversation, query).await?;
        let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
        let next_cursor = rules::history_next_cursor(&query, &seqs).map(|seq| seq.to_string());
        // The page reached one of the reader's devices: it is delivered (one write, only
        // when the watermark moves).
        let delivered = record.participant(&actor.user).map_or(0, |me| me.last_delivered_seq);
        if let Some(&newest) = seqs.last().filter(|&&newest| newest > delivered) {
            record = ctx
                .conversations()
                .deliver(actor, conversation, ReadUpTo::Seq(newest))
                .await?;
        }
        let mut originals = Originals::of(quoted);
        originals.add_page(&messages);
        let profiles = ctx
            .profiles(actor, ChatServices::involved(&record, &messages, &originals))
            .await?;
        Ok(Page {
            items: messages
                .into_iter()
                .map(|message| profiles.message(message, &record, &originals, &actor.user))
                .collect(),
            next_cursor,
        })
    }

    /// Edits the actor's own message; `message.updated` and `conversation.updated` go to
    /// every participant.
    pub async fn edit(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
        body: &str,
    ) -> ChatResult<MessageView> {
        let ctx = &self.ctx;
        let body = validate::body(&ctx.limits, body)?;
        let body = ctx
            .apply_policy(actor, conversation, DraftKind::Edit { message }, body, &[])
            .await?;
        let (message, record) = ctx.store.edit_message(actor, conversation, message, body).await?;
        self.publish_change(actor, record, message, EventPayload::MessageUpdated)
            .await
    }

    /// Soft-deletes the actor's own message; `message.deleted` and `conversation.updated`
    /// go to every participant. Deleting a deleted message answers it as it is and publishes
    /// nothing.
    pub async fn delete(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
    ) -> ChatResult<MessageView> {
        let ctx = &self.ctx;
        let deleted = ctx.store.delete_message(actor, conversation, message).await?;
        if !deleted.changed {
            let mut views = ctx.message_views(actor, &deleted.record, vec![deleted.message]).await?;
            return Ok(views.remove(0));
        }
        self.publish_change(actor, deleted.record, deleted.message, EventPayload::MessageDeleted)
            .await
    }

    /// Tells the other participants that the actor is typing. Stores nothing. In a direct
    /// conversation whose other participant has blocked the actor, nobody is told.
    pub async fn typing(&self, actor: &Identity, conversation: ConversationId) -> ChatResult<()> {
        let ctx = &self.ctx;
        let record = ctx.store.get_conversation(actor, conversation).await?;
        if let Some(blocker) = rules::block_that_stops(&record, &actor.user) {
            if ctx.store.is_blocked(&actor.tenant, blocker, &actor.user).await? {
                return Ok(());
            }
        }
        let others = record
            .member_ids()
            .into_iter()
            .filter(|user| user != &actor.user)
            .collect();
        let payload = EventPayload::Typing {
            user: actor.user.clone(),
            expires_at: now() + Duration::seconds(TYPING_TTL_SECONDS),
        };
        ctx.publish(actor, conversation, others, payload).await;
        Ok(())
    }

    /// After a committed change to `message`: renders the message and its conversation with
    /// one directory batch, publishes the message event made by `payload` and
    /// `conversation.updated` to every participant, and returns the actor's view of the
    /// message.
    async fn publish_change(
        &self,
        actor: &Identity,
        record: ConversationRecord,
        message: Message,
        payload: fn(MessageView) -> EventPayload,
    ) -> ChatResult<MessageView> {
        let (profiles, originals) = self
            .ctx
            .rendering(actor, &record, std::slice::from_ref(&message))
            .await?;
        Ok(Self::publish_rendered(&self.ctx, actor, (&profiles, &originals), record, message, payload).await)
    }

    /// Renders `message` and its conversation with `profiles` (the members' and the
    /// senders') and the `originals` it quotes, publishes the
    /// message event made by `payload` and `conversation.updated` to every participant, and
    /// returns the actor's view of the message.
    async fn publish_rendered(
        ctx: &ChatServices,
        actor: &Identity,
        (profiles, originals): (&Profiles, &Originals),
        record: ConversationRecord,
        message: Message,
        payload: fn(MessageView) -> EventPayload,
    ) -> MessageView {
        let recipients = record.member_ids();
        let message = profiles.message(message, &record, originals, &actor.user);
        let view = profiles.conversation(record, &actor.user);
        ctx.publish(
            actor,
            view.conversation.id,
            recipients.clone(),
            payload(message.clone()),
        )
        .await;
        ctx.publish_conversation(actor, &view, recipients, EventPayload::ConversationUpdated)
            .await;
        message
    }
}
