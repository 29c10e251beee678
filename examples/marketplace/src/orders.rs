//! Demo order updates: a seller moves an order on (placed, shipped, delivered) and the host
//! posts a system message about it into the buyer and seller's conversation about that
//! order, the way a real host would from its own order events
//! (`MessageService::send_system`, never reachable by users over the chat API).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chat_core::{ChatResult, ChatServices, ConversationId, Identity, StartDirect, SystemMessage, Tag, UserId};
use serde::Serialize;

use crate::demo::{DemoOrder, ORDERS};

/// The host object type conversations about an order are tagged with.
pub const ORDER_TYPE: &str = "App\\Models\\Order";

/// Where a demo order is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Ordered, not sent yet.
    #[default]
    Placed,
    /// On its way.
    Shipped,
    /// Arrived.
    Delivered,
}

impl OrderStatus {
    /// The next state, if there is one.
    pub fn next(self) -> Option<Self> {
        match self {
            Self::Placed => Some(Self::Shipped),
            Self::Shipped => Some(Self::Delivered),
            Self::Delivered => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Placed => "was placed",
            Self::Shipped => "was shipped",
            Self::Delivered => "was delivered",
        }
    }
}

/// Why an order could not move on.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    /// No such order, or the caller is not its seller.
    #[error("no such order of yours")]
    NotYours,
    /// It is delivered already.
    #[error("the order is delivered already")]
    Finished,
    /// The chat refused the update.
    #[error(transparent)]
    Chat(#[from] chat_core::ChatError),
}

/// The demo orders' states, in memory (a real host has them in its database).
#[derive(Clone, Debug, Default)]
pub struct OrderStates(Arc<Mutex<HashMap<i64, OrderStatus>>>);

impl OrderStates {
    /// The state of order `id`.
    pub fn status(&self, id: i64) -> OrderStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
            .unwrap_or_default()
    }

    /// Moves order `id` on for its seller `seller` and posts "Order #id was shipped" into
    /// the buyer and seller's conversation about it (started if they had none). Returns
    /// the new state and the conversation.
    pub async fn advance(
        &self,
        services: &ChatServices,
        seller: &Identity,
        id: i64,
    ) -> Result<(OrderStatus, ConversationId), AdvanceError> {
        let order = ORDERS
            .iter()
            .find(|order| order.id == id && order.seller_id == seller.user.as_str())
            .ok_or(AdvanceError::NotYours)?;
        // Taken under the lock, so two racing updates move the order twice, never to the
        // same state twice; put back if the chat refuses the update.
        let (previous, next) = {
            let mut states = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let current = states.entry(id).or_default();
            let previous = *current;
            let next = previous.next().ok_or(AdvanceError::Finished)?;
            *current = next;
            (previous, next)
        };
        match post_update(services, seller, order, next).await {
            Ok(conversation) => {
                tracing::info!(order = id, conversation_id = %conversation, status = ?next, "order update posted");
                Ok((next, conversation))
            }
            Err(error) => {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, previous);
                Err(error.into())
            }
        }
    }
}

/// Posts "Order #id … was shipped." into the buyer and seller's conversation about the
/// order, started if they had none; the conversation.
async fn post_update(
    services: &ChatServices,
    seller: &Identity,
    order: &DemoOrder,
    status: OrderStatus,
) -> ChatResult<ConversationId> {
    let buyer = UserId::new(order.buyer_id)?;
    let tag = Tag::new(ORDER_TYPE, order.id)?;
    let (view, _) = services
        .conversations()
        .start_direct(seller, StartDirect::with(buyer).tagged(tag))
        .await?;
    let conversation = view.conversation.id;
    let text = format!("Order #{} ({}) {}.", order.id, order.title, status.verb());
    services
        .messages()
        .send_system(&seller.tenant, conversation, SystemMessage::text(text))
        .await?;
    Ok(conversation)
}
