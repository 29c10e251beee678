//! Publishing in commit order: on one node, the `message.created` events of one
//! conversation go out in seq order, also when several senders race, without making the
//! sends wait for each other's appends (concurrent sends still share a durable flush).
//!
//! A send registers before it appends ([`SendOrder::register`]). Once the store answers
//! with its seq, the send waits ([`Pending::publish_turn`]) until every send of the same
//! conversation that was still appending at that moment has its answer, and every one of them
//! with a smaller seq has published; then it publishes and drops its [`Pending`]. Sends that
//! register later append after this one committed, so they get larger seqs and are never
//! waited for: a steady stream of new sends cannot hold one up. A send that is dropped
//! (cancelled, or failed) unregisters on drop, and a wait gives up after
//! [`MAX_PUBLISH_WAIT`], so a stuck store call delays others' events at most that long
//! (events are a fast path; clients catch up from the store).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::ids::ConversationId;

/// The longest a send waits for earlier sends of its conversation to publish.
pub(crate) const MAX_PUBLISH_WAIT: Duration = Duration::from_secs(2);

/// The sends of one conversation in flight on this node.
#[derive(Default)]
struct InFlight {
    next_ticket: u64,
    /// Registered sends still waiting for the store's answer, by ticket.
    appending: BTreeSet<u64>,
    /// Seqs answered but not published yet.
    unpublished: BTreeSet<u64>,
}

/// The sends in flight on this node, per conversation.
#[derive(Default)]
pub(crate) struct SendOrder {
    conversations: Mutex<HashMap<ConversationId, InFlight>>,
    changed: Notify,
}

/// One registered send; unregisters when dropped.
pub(crate) struct Pending {
    order: Arc<SendOrder>,
    conversation: ConversationId,
    ticket: u64,
    seq: Option<u64>,
}

impl SendOrder {
    fn lock(&self) -> MutexGuard<'_, HashMap<ConversationId, InFlight>> {
        self.conversations.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a send to `conversation`, before its append.
    pub(crate) fn register(self: &Arc<Self>, conversation: ConversationId) -> Pending {
        let mut conversations = self.lock();
        let in_flight = conversations.entry(conversation).or_default();
        let ticket = in_flight.next_ticket;
        in_flight.next_ticket += 1;
        in_flight.appending.insert(ticket);
        Pending {
            order: Arc::clone(self),
            conversation,
            ticket,
            seq: None,
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

impl Pending {
    /// Records the store's answer (`seq`) and waits until this send may publish: the sends
    /// appending now have answered and those with smaller seqs have published.
    pub(crate) async fn publish_turn(&mut self, seq: u64) {
        let before: Vec<u64> = {
            let mut conversations = self.order.lock();
            let Some(in_flight) = conversations.get_mut(&self.conversation) else {
                return;
            };
            in_flight.appending.remove(&self.ticket);
            in_flight.unpublished.insert(seq);
            self.seq = Some(seq);
            in_flight.appending.iter().copied().collect()
        };
        self.order.changed.notify_waiters();
        let wait = async {
            loop {
                let changed = self.order.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let ready = self.order.lock().get(&self.conversation).is_none_or(|in_flight| {
                    before.iter().all(|ticket| !in_flight.appending.contains(ticket))
                        && in_flight.unpublished.range(..seq).next().is_none()
                });
                if ready {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(MAX_PUBLISH_WAIT, wait).await.is_err() {
            tracing::warn!(conversation_id = %self.conversation, seq, "publishing without waiting for earlier sends");
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        {
            let mut conversations = self.order.lock();
            if let Some(in_flight) = conversations.get_mut(&self.conversation) {
                in_flight.appending.remove(&self.ticket);
                if let Some(seq) = self.seq {
                    in_flight.unpublished.remove(&seq);
                }
                if in_flight.appending.is_empty() && in_flight.unpublished.is_empty() {
                    conversations.remove(&self.conversation);
                }
            }
        }
        self.order.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_later_seq_waits_for_an_earlier_one_still_appending() {
        let order = Arc::new(SendOrder::default());
        let (one, other) = (ConversationId::new_v7(), ConversationId::new_v7());
        let first = order.register(one);
        let mut second = order.register(one);
        let mut unrelated = order.register(other);
        unrelated.publish_turn(7).await; // another conversation never waits
        let waiting = tokio::spawn(async move {
            second.publish_turn(2).await;
            second
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "seq 2 waits while an earlier send is appending");
        let mut first = first;
        first.publish_turn(1).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "and until seq 1 is published");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("seq 2 publishes once seq 1 did")
            .expect("task");
        drop(second);
        drop(unrelated);
        assert_eq!(order.tracked(), 0, "nothing is kept once every send published");
    }

    #[tokio::test]
    async fn sends_that_register_later_are_not_waited_for() {
        let order = Arc::new(SendOrder::default());
        let conversation = ConversationId::new_v7();
        let mut first = order.register(conversation);
        let _later = order.register(conversation);
        // `_later` was appending when the first answered, so the first waits for its answer
        // (it might have a smaller seq); once it has a larger one, the first goes.
        let waiting = tokio::spawn(async move {
            first.publish_turn(1).await;
            first
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished());
        let mut later = _later;
        let later_turn = tokio::spawn(async move {
            later.publish_turn(2).await;
            later
        });
        let first = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("seq 1 goes once the other answered with a larger seq")
            .expect("task");
        let third = order.register(conversation);
        drop(first);
        let later = tokio::time::timeout(Duration::from_secs(1), later_turn)
            .await
            .expect("seq 2 does not wait for a send registered after it answered")
            .expect("task");
        drop((later, third));
        assert_eq!(order.tracked(), 0);
    }

    #[tokio::test]
    async fn a_dropped_send_does_not_hold_others_up() {
        let order = Arc::new(SendOrder::default());
        let conversation = ConversationId::new_v7();
        let failed = order.register(conversation);
        let mut next = order.register(conversation);
        drop(failed);
        tokio::time::timeout(Duration::from_secs(1), next.publish_turn(1))
            .await
            .expect("a failed send is not waited for");
    }
}
