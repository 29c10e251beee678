//! What the frames of one live event share, built once per node: every local recipient of an
//! event receives the same `Arc<Event>` from the bus, and its conversation's participant list
//! is the same for all of them, so the first socket to render the event builds it and the
//! others reuse it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use chat_core::{ConversationView, Event};

use crate::resources::ParticipantList;

/// Events whose participant lists are kept; a few in flight at once are enough, since an
/// event's sockets render it within moments of each other.
const RECENT_EVENTS: usize = 32;

/// The participant lists of recent events, keyed by the event's identity.
#[derive(Debug, Default)]
pub(crate) struct EventFrames {
    recent: Mutex<VecDeque<(Weak<Event>, ParticipantList)>>,
}

impl EventFrames {
    /// The participant list of `view`, the conversation of `event`: built by the first
    /// caller for that event, shared with the next ones.
    pub(crate) fn participants(&self, event: &Arc<Event>, view: &ConversationView) -> ParticipantList {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // A live `Weak` at the same address is this very event (a freed one has no strong
        // references left, so an event reusing its address does not match it).
        let found = recent
            .iter()
            .find(|(seen, _)| seen.as_ptr() == Arc::as_ptr(event) && seen.strong_count() > 0);
        if let Some((_, list)) = found {
            return list.clone();
        }
        let list = ParticipantList::of(view).serialized();
        if recent.len() >= RECENT_EVENTS {
            recent.pop_front();
        }
        recent.push_back((Arc::downgrade(event), list.clone()));
        list
    }
}

#[cfg(test)]
mod tests {
    use chat_core::{EventPayload, Identity, TenantId, UserId};

    use super::*;

    fn event(view: ConversationView) -> Arc<Event> {
        Arc::new(Event {
            tenant: TenantId::default(),
            recipients: view.participants.iter().map(|p| p.participant.user.clone()).collect(),
            conversation_id: view.conversation.id,
            payload: EventPayload::ConversationUpdated(view),
        })
    }

    async fn a_view() -> ConversationView {
        use chat_core::testing::MemoryStore;
        use chat_core::{ChatServices, InMemoryDirectory, Profile, StartDirect};
        let tenant = TenantId::default();
        let (ana, bo) = (UserId::new("ana").expect("id"), UserId::new("bo").expect("id"));
        let directory = InMemoryDirectory::new()
            .with_profile(&tenant, Profile::new(ana.clone(), "Ana"))
            .with_profile(&tenant, Profile::new(bo.clone(), "Bo"));
        let services = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory));
        let (view, _) = services
            .conversations()
            .start_direct(&Identity::new(tenant, ana), StartDirect::with(bo))
            .await
            .expect("start");
        view
    }

    #[tokio::test]
    async fn one_list_per_event_shared_by_its_frames() {
        let frames = EventFrames::default();
        let view = a_view().await;
        let first = event(view.clone());
        let a = frames.participants(&first, &view);
        let b = frames.participants(&first, &view);
        assert!(a.shares(&b), "the second frame reuses the list");
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(json, serde_json::to_value(ParticipantList::of(&view)).expect("json"));
        assert_eq!(json.as_array().map(Vec::len), Some(2));
        let second = event(view.clone());
        let c = frames.participants(&second, &view);
        assert!(!a.shares(&c), "another event gets its own");
    }
}
