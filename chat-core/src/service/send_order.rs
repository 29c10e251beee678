//! Publishing in commit order: on one node, the `message.created` events of one
//! conversation go out in seq order, also when several senders race.
//!
//! A send takes its conversation's turn before it appends and gives it back once its
//! `message.created` is published, so a later seq is never published before an earlier one.
//! Stores already serialise the appends of one conversation; the turn only adds the short
//! publish to that. Turns of different conversations never wait for each other, and a turn
//! nobody holds or waits for is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

use crate::ids::ConversationId;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// The turns of the conversations being sent to on this node.
#[derive(Default)]
pub(crate) struct SendOrder {
    gates: Mutex<HashMap<ConversationId, Gate>>,
}

/// A conversation's turn, held from the append to the publish; given back on drop.
pub(crate) struct SendTurn {
    order: Arc<SendOrder>,
    conversation: ConversationId,
    gate: Gate,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SendOrder {
    /// Waits for `conversation`'s turn.
    pub(crate) async fn turn(self: &Arc<Self>, conversation: ConversationId) -> SendTurn {
        let gate = Arc::clone(
            self.gates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(conversation)
                .or_default(),
        );
        let guard = Arc::clone(&gate).lock_owned().await;
        SendTurn {
            order: Arc::clone(self),
            conversation,
            gate,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.gates.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for SendTurn {
    fn drop(&mut self) {
        self.guard.take();
        let mut gates = self.order.gates.lock().unwrap_or_else(PoisonError::into_inner);
        // Held by the map and by this turn only: nobody else waits for it.
        if Arc::strong_count(&self.gate) == 2 {
            gates.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn turns_of_one_conversation_wait_and_are_forgotten_after() {
        let order = Arc::new(SendOrder::default());
        let (one, other) = (ConversationId::new_v7(), ConversationId::new_v7());
        let first = order.turn(one).await;
        let _unrelated = order.turn(other).await;
        let waiting = tokio::spawn({
            let order = Arc::clone(&order);
            async move { drop(order.turn(one).await) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second turn of one conversation waits");
        drop(first);
        waiting.await.expect("the second turn comes");
        drop(_unrelated);
        assert_eq!(order.len(), 0, "turns nobody holds are forgotten");
    }
}
