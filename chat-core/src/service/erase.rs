//! Erase (the user's right to be forgotten, invariant 15), for the host's own flow: not an
//! HTTP route. Every message the user sent in the conversations they are in is deleted
//! (body, attachments and reactions go; seqs stay, so the other side keeps a coherent
//! history), their reactions leave everyone else's messages, they leave every group
//! (ownership passes on as when leaving), their outbox rows go, and their blocks and
//! reports are removed.
//!
//! Bounded and resumable: messages are erased in batches of [`ERASE_BATCH`], each batch one
//! store transaction, and every step is idempotent, so an erase that stops half-way (a
//! crash, a deploy, a budget of batches running out) is finished by calling it again.
//! Events go out per batch so that live clients update.

use crate::error::ChatResult;
use crate::events::EventPayload;
use crate::ids::{ConversationId, Identity, TenantId, UserId};
use crate::model::ConversationKind;
use crate::store::{ErasedBatch, ReadUpTo};

use super::ChatServices;

/// Messages looked at per store transaction while erasing.
pub const ERASE_BATCH: usize = 200;

/// What an erase did (this call; a resumed erase counts only its own work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EraseReport {
    /// Conversations the user was found in.
    pub conversations: usize,
    /// Their messages deleted.
    pub messages_deleted: usize,
    /// Others' messages their reactions left.
    pub messages_unreacted: usize,
    /// Groups they left.
    pub groups_left: usize,
    /// Store batches used.
    pub batches: usize,
    /// True when everything is erased; false when the budget of batches ran out first
    /// (call again to resume).
    pub done: bool,
}

impl ChatServices {
    /// Erases `user` of `tenant` completely (see the module docs); idempotent. The host
    /// should stop authenticating the user first: a message they send meanwhile into a
    /// conversation already erased stays.
    ///
    /// Conversations the user left before are not in their inbox any more and are not
    /// visited: their old messages there stay.
    pub async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> ChatResult<EraseReport> {
        self.erase_user_in_batches(tenant, user, usize::MAX).await
    }

    /// As [`ChatServices::erase_user`], using at most `max_batches` message batches
    /// (each one store transaction of up to [`ERASE_BATCH`] messages); `done` says whether it
    /// finished. Calling it again resumes: what is erased already changes nothing.
    pub async fn erase_user_in_batches(
        &self,
        tenant: &TenantId,
        user: &UserId,
        max_batches: usize,
    ) -> ChatResult<EraseReport> {
        let identity = Identity::new(tenant.clone(), user.clone());
        let mut report = EraseReport::default();
        for id in self.export().conversation_ids(&identity).await? {
            report.conversations += 1;
            if !self.erase_conversation(&identity, id, max_batches, &mut report).await? {
                return Ok(report);
            }
        }
        self.store.erase_user_records(&identity).await?;
        tracing::info!(user_id = %user, conversations = report.conversations, messages = report.messages_deleted, "user erased");
        report.done = true;
        Ok(report)
    }

    /// Erases the user's part of conversation `id`, then leaves it (a group) or clears
    /// their outbox row (a direct conversation); false when the budget ran out first.
    async fn erase_conversation(
        &self,
        identity: &Identity,
        id: ConversationId,
        max_batches: usize,
        report: &mut EraseReport,
    ) -> ChatResult<bool> {
        let mut after = 0;
        let kind = loop {
            if report.batches >= max_batches {
                return Ok(false);
            }
            let batch = match self.store.erase_messages(identity, id, after, ERASE_BATCH).await {
                Ok(batch) => batch,
                // Left meanwhile (another erase finished it): nothing more to do here.
                Err(error) if error.is_not_found() => return Ok(true),
                Err(error) => return Err(error),
            };
            report.batches += 1;
            report.messages_deleted += batch.deleted.len();
            report.messages_unreacted += batch.unreacted.len();
            let kind = batch.record.conversation.kind;
            let next = batch.next_after;
            self.publish_erased(identity, batch).await?;
            match next {
                Some(seq) => after = seq,
                None => break kind,
            }
        };
        if kind == ConversationKind::Group {
            match self.conversations().leave(identity, id).await {
                Ok(_) => report.groups_left += 1,
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error),
            }
        } else {
            // Reading everything removes the pending notification (the outbox row).
            match self.store.mark_read(identity, id, ReadUpTo::Newest).await {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Tells every member of a batch's conversation what changed: `message.deleted` for
    /// each deleted message, `message.reactions` for each message the reactions left, and
    /// `conversation.updated` once, when anything changed.
    async fn publish_erased(&self, identity: &Identity, batch: ErasedBatch) -> ChatResult<()> {
        let ErasedBatch {
            record,
            deleted,
            unreacted,
            ..
        } = batch;
        if deleted.is_empty() && unreacted.is_empty() {
            return Ok(());
        }
        let id = record.conversation.id;
        let recipients = record.member_ids();
        for message in unreacted {
            let payload = EventPayload::MessageReactions {
                message: message.id,
                seq: message.seq,
                reactions: message.reactions,
            };
            self.publish(identity, id, recipients.clone(), payload).await;
        }
        for view in self.message_views(identity, &record, deleted).await? {
            self.publish(identity, id, recipients.clone(), EventPayload::MessageDeleted(view))
                .await;
        }
        let view = self
            .member_profiles(identity, &record)
            .await?
            .conversation(record, &identity.user);
        self.publish_conversation(identity, &view, recipients, EventPayload::ConversationUpdated)
            .await;
        Ok(())
    }
}
