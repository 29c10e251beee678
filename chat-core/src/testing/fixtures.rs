//! A ready-made test host: a fresh tenant, a directory of named users, a recording bus and
//! services over the store under test. Each fixture uses its own tenant, so many tests can
//! share one store without seeing each other.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::directory::{InMemoryDirectory, Profile};
use crate::error::ChatResult;
use crate::events::{Event, EventBus, EventStream, InProcessEventBus};
use crate::ids::{ConversationId, Identity, TenantId, UserId};
use crate::limits::Limits;
use crate::model::Message;
use crate::service::{ChatServices, ConversationService, MessageService, NewGroupInput, SendMessage, StartDirect};
use crate::store::Store;

/// An event bus that records every published event and also delivers it in process.
#[derive(Clone, Debug, Default)]
pub struct RecordingEventBus {
    local: InProcessEventBus,
    published: Arc<Mutex<Vec<Event>>>,
}

impl RecordingEventBus {
    /// Every event published so far.
    pub fn events(&self) -> Vec<Event> {
        self.published.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every event published so far, forgetting them.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.published.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl EventBus for RecordingEventBus {
    async fn publish(&self, event: Event) -> ChatResult<()> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        self.local.publish(event).await
    }

    fn subscribe(&self, tenant: &TenantId, user: &UserId) -> EventStream {
        self.local.subscribe(tenant, user)
    }
}

const NAMES: [&str; 8] = [
    "Ana Souza",
    "Bruno Díaz",
    "Chloé Martin",
    "Darío Pérez",
    "Emeka Obi",
    "Fatima Zahra",
    "Gustav Berg",
    "Hana Sato",
];

/// A test host over one store.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The fixture's own tenant.
    pub tenant: TenantId,
    /// Its users, `u0`, `u1`, … named from a fixed list.
    pub users: Vec<Identity>,
    /// The services under test.
    pub services: ChatServices,
    /// Every event the services published.
    pub bus: RecordingEventBus,
    /// The object store attachments go to (in memory, the fixture's own).
    pub objects: Arc<object_store::memory::InMemory>,
}

impl Fixture {
    /// A fixture with `users` users in a fresh tenant and default limits.
    pub fn new(store: Arc<dyn Store>, users: usize) -> Self {
        Self::with_limits(store, users, Limits::default())
    }

    /// As [`Fixture::new`] with other limits.
    pub fn with_limits(store: Arc<dyn Store>, users: usize, limits: Limits) -> Self {
        Self::in_tenant(store, fresh_tenant(), users, limits)
    }

    /// The same tenant and users (with default limits) over `store`: the same data seen
    /// through a store opened again, say.
    pub fn over(&self, store: Arc<dyn Store>) -> Self {
        Self::in_tenant(store, self.tenant.clone(), self.users.len(), Limits::default())
    }

    fn in_tenant(store: Arc<dyn Store>, tenant: TenantId, users: usize, limits: Limits) -> Self {
        let mut directory = InMemoryDirectory::new();
        let mut identities = Vec::with_capacity(users);
        for index in 0..users {
            let user = user_id(index);
            let name = user_name(index);
            directory = directory.with_profile(
                &tenant,
                Profile::new(user.clone(), name).with_avatar_url(format!("https://example.test/{index}.png")),
            );
            identities.push(Identity::new(tenant.clone(), user));
        }
        let bus = RecordingEventBus::default();
        let objects = Arc::new(object_store::memory::InMemory::new());
        let services = ChatServices::new(store, Arc::new(directory))
            .with_event_bus(Arc::new(bus.clone()))
            .with_limits(limits)
            .with_attachments(objects.clone());
        Self {
            tenant,
            users: identities,
            services,
            bus,
            objects,
        }
    }

    /// User number `index`.
    pub fn user(&self, index: usize) -> &Identity {
        &self.users[index]
    }

    /// The conversation service.
    pub fn conversations(&self) -> ConversationService {
        self.services.conversations()
    }

    /// The message service.
    pub fn messages(&self) -> MessageService {
        self.services.messages()
    }

    /// Starts (or finds) the untagged direct conversation of users `a` and `b`.
    pub async fn direct(&self, a: usize, b: usize) -> ConversationId {
        let (view, _) = self
            .conversations()
            .start_direct(self.user(a), StartDirect::with(self.user(b).user.clone()))
            .await
            .expect("start direct conversation");
        view.conversation.id
    }

    /// Creates a group owned by `owner` with `members`.
    pub async fn group(&self, owner: usize, members: &[usize]) -> ConversationId {
        let input = NewGroupInput {
            participants: members.iter().map(|&index| self.user(index).user.clone()).collect(),
            title: format!("Group of {owner}"),
            tag: None,
            metadata: Default::default(),
        };
        self.conversations()
            .create_group(self.user(owner), input)
            .await
            .expect("create group")
            .conversation
            .id
    }

    /// Uploads `bytes` named `name` as user `uploader` into `conversation`.
    pub async fn upload(
        &self,
        uploader: usize,
        conversation: ConversationId,
        name: &str,
        bytes: &[u8],
    ) -> ChatResult<crate::attachment::Attachment> {
        let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> = bytes
            .chunks(3000)
            .map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk)))
            .collect();
        self.services
            .attachments()
            .upload(
                self.user(uploader),
                conversation,
                name,
                futures_util::stream::iter(chunks),
            )
            .await
    }

    /// The attachments the fixture's object store holds bytes of.
    pub async fn stored_objects(&self) -> Vec<String> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let mut names: Vec<String> = self
            .objects
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("list the object store");
        names.sort();
        names
    }

    /// Sends `text` as user `sender`.
    pub async fn send(&self, sender: usize, conversation: ConversationId, text: &str) -> Message {
        self.messages()
            .send(self.user(sender), conversation, SendMessage::text(text))
            .await
            .expect("send message")
            .message
            .message
    }
}

/// The head of a PNG image of `width` × `height` pixels (the signature and the IHDR chunk,
/// which is all a sniffer and a dimension probe read): what tests upload as a photo.
pub fn sample_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&width.to_be_bytes());
    png.extend_from_slice(&height.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    png
}

/// A tenant id no other test uses.
pub fn fresh_tenant() -> TenantId {
    TenantId::new(format!("t-{}", uuid::Uuid::now_v7().simple())).expect("generated tenant ids are valid")
}

/// The display name of fixture user `index` (accents included: "Bruno Díaz 1").
pub fn user_name(index: usize) -> String {
    format!("{} {index}", NAMES[index % NAMES.len()])
}

/// The id of fixture user `index`.
pub fn user_id(index: usize) -> UserId {
    UserId::new(format!("u{index}")).expect("generated user ids are valid")
}
