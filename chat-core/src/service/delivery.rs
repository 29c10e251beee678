//! Delivery receipts: the delivery watermark moved on behalf of a user, right away
//! ([`ConversationService::mark_delivered`]) or batched for live events that reached one of
//! the user's sockets ([`ConversationService::delivered_later`]), so a busy socket costs one
//! store write per conversation per interval, not one per frame.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::error::ChatResult;
use crate::events::{DeliveryReceipt, EventPayload};
use crate::ids::{ConversationId, Identity, TenantId, UserId};
use crate::model::ConversationRecord;
use crate::store::ReadUpTo;
use crate::view::ConversationView;

use super::ConversationService;

/// The default longest wait of a batched delivery receipt
/// ([`crate::ChatServices::with_delivery_batch_interval`]).
pub const DELIVERY_BATCH_INTERVAL: Duration = Duration::from_millis(250);

/// The receipts waiting for the next flush: per conversation, the highest seq per user.
type Batch = HashMap<(TenantId, ConversationId), HashMap<UserId, u64>>;

/// The receipts waiting for the next flush.
#[derive(Debug)]
pub(super) struct DeliveryBatch {
    interval: Duration,
    state: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    seqs: Batch,
    /// A flushing task runs (it ends when it finds nothing to write).
    flushing: bool,
}

impl Default for DeliveryBatch {
    fn default() -> Self {
        Self::with_interval(DELIVERY_BATCH_INTERVAL)
    }
}

impl DeliveryBatch {
    pub(super) fn with_interval(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::default(),
        }
    }

    /// Notes that `seq` reached `actor` in `conversation`; `true` when no flushing task
    /// runs and the caller must start one.
    fn note(&self, actor: &Identity, conversation: ConversationId, seq: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let highest = state
            .seqs
            .entry((actor.tenant.clone(), conversation))
            .or_default()
            .entry(actor.user.clone())
            .or_insert(0);
        *highest = (*highest).max(seq);
        !std::mem::replace(&mut state.flushing, true)
    }

    /// Everything noted since the last call; `None` (and the flushing task ends) when
    /// nothing was.
    fn take(&self) -> Option<Batch> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.seqs.is_empty() {
            state.flushing = false;
            return None;
        }
        Some(std::mem::take(&mut state.seqs))
    }
}

impl ConversationService {
    /// Moves the actor's delivery watermark up to `up_to` (the newest message when `None`;
    /// never back, and reading always delivers too). When it moves, `conversation.delivered`
    /// goes to the other members, whose clients show the second tick.
    pub async fn mark_delivered(
        &self,
        actor: &Identity,
        id: ConversationId,
        up_to: Option<u64>,
    ) -> ChatResult<ConversationView> {
        let record = self
            .deliver(actor, id, up_to.map_or(ReadUpTo::Newest, ReadUpTo::Seq))
            .await?;
        Ok(self
            .ctx
            .member_profiles(actor, &record)
            .await?
            .conversation(record, &actor.user))
    }

    /// Notes that message `seq` reached one of the actor's devices (a live event written to
    /// its socket): the watermark moves with the next batch, within the batch interval
    /// ([`crate::ChatServices::with_delivery_batch_interval`]): one store write and one
    /// `conversation.delivered` per conversation per batch, with every member's receipt in
    /// it, however many frames went out to however many members. Receipts still waiting
    /// when the process stops are lost; the next history read delivers them again.
    pub async fn delivered_later(&self, actor: &Identity, id: ConversationId, seq: u64) {
        if self.ctx.deliveries.note(actor, id, seq) {
            let service = self.clone();
            tokio::spawn(async move { service.flush_deliveries().await });
        }
    }

    /// Writes the batched receipts every interval until none are waiting.
    async fn flush_deliveries(self) {
        let interval = self.ctx.deliveries.interval;
        loop {
            tokio::time::sleep(interval).await;
            let Some(batch) = self.ctx.deliveries.take() else {
                return;
            };
            for ((tenant, conversation), seqs) in batch {
                let up_to: Vec<(UserId, u64)> = seqs.into_iter().collect();
                match self.ctx.store.mark_delivered_many(&tenant, conversation, &up_to).await {
                    Ok((record, moved)) => self.publish_receipts(&tenant, &record, &moved).await,
                    Err(error) => {
                        tracing::debug!(conversation_id = %conversation, %error, "batched delivery receipts were not written");
                    }
                }
            }
        }
    }

    /// Moves the watermark in the store and, when it moved, tells the other members.
    pub(super) async fn deliver(
        &self,
        actor: &Identity,
        id: ConversationId,
        up_to: ReadUpTo,
    ) -> ChatResult<ConversationRecord> {
        let (record, moved) = self.ctx.store.mark_delivered(actor, id, up_to).await?;
        if moved {
            self.publish_receipts(&actor.tenant, &record, std::slice::from_ref(&actor.user))
                .await;
        }
        Ok(record)
    }

    /// Publishes one `conversation.delivered` with the receipts of `moved` (their
    /// watermarks in `record`): to the other members for one receipt, to every member for
    /// several (each hears of the others').
    async fn publish_receipts(&self, tenant: &TenantId, record: &ConversationRecord, moved: &[UserId]) {
        let receipts: Vec<DeliveryReceipt> = moved
            .iter()
            .filter_map(|user| record.participant(user))
            .map(|participant| DeliveryReceipt {
                user: participant.user.clone(),
                seq: participant.last_delivered_seq,
                delivered_at: participant.last_delivered_at.unwrap_or_else(crate::model::now),
            })
            .collect();
        let Some(first) = receipts.first() else {
            return;
        };
        let recipients: Vec<UserId> = if receipts.len() == 1 {
            let only = first.user.clone();
            record.member_ids().into_iter().filter(|user| user != &only).collect()
        } else {
            record.member_ids()
        };
        let host = Identity::new(tenant.clone(), first.user.clone());
        self.ctx
            .publish(
                &host,
                record.conversation.id,
                recipients,
                EventPayload::ConversationDelivered { receipts },
            )
            .await;
    }
}
