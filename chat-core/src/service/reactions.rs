//! Reactions on messages: one emoji per user at most once, toggled idempotently.

use crate::error::ChatResult;
use crate::events::EventPayload;
use crate::ids::{ConversationId, Identity, MessageId};
use crate::store::{Reacted, ReactionChange};
use crate::validate;
use crate::view::MessageView;

use super::MessageService;

impl MessageService {
    /// Adds the actor's `emoji` to a message of a conversation the actor is in. Idempotent:
    /// holding it already changes nothing and publishes nothing. Otherwise
    /// `message.reactions` (the message's whole summary) goes to every member. Reactions
    /// move neither the conversation in the inbox nor anyone's unread count.
    ///
    /// Errors: `Validation` on `emoji` (not one emoji of at most
    /// [`crate::Limits::emoji_max_bytes`] bytes, or a new emoji past
    /// [`crate::Limits::reactions_per_message`]); `NotFound` for a conversation the actor is
    /// not in or an unknown message; `Conflict` on a deleted message.
    pub async fn react(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
        emoji: &str,
    ) -> ChatResult<MessageView> {
        self.set_reaction(actor, conversation, message, emoji, true).await
    }

    /// Drops the actor's `emoji` from a message; idempotent like [`Self::react`], with the
    /// same errors.
    pub async fn unreact(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
        emoji: &str,
    ) -> ChatResult<MessageView> {
        self.set_reaction(actor, conversation, message, emoji, false).await
    }

    async fn set_reaction(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
        emoji: &str,
        present: bool,
    ) -> ChatResult<MessageView> {
        let ctx = &self.ctx;
        validate::emoji(&ctx.limits, emoji)?;
        let change = ReactionChange {
            conversation,
            message,
            emoji: emoji.to_owned(),
            present,
            max_distinct: ctx.limits.reactions_per_message,
        };
        let Reacted {
            message,
            record,
            changed,
        } = ctx.store.set_reaction(actor, change).await?;
        if changed {
            let payload = EventPayload::MessageReactions {
                message: message.id,
                seq: message.seq,
                reactions: message.reactions.clone(),
            };
            ctx.publish(actor, conversation, record.member_ids(), payload).await;
        }
        let mut views = ctx.message_views(actor, &record, vec![message]).await?;
        Ok(views.remove(0))
    }
}
