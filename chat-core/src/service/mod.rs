//! The services a web layer calls: they validate input, authorize the actor (through the
//! store's membership check), call the store, enrich with profiles and publish events.

mod attachments;
mod blocks;
mod contacts;
mod conversations;
mod delivery;
mod erase;
mod export;
mod hourly_limit;
mod messages;
mod notifications;
mod reactions;
mod reports;
mod send_order;

use std::collections::HashMap;
use std::sync::Arc;

pub use attachments::{
    AttachmentService, ByteRange, Download, DownloadContent, DownloadRequest, DownloadSigner, SweepReport,
};
pub use blocks::{BlockService, BlockView};
pub use contacts::ContactService;
pub use conversations::{ConversationService, InboxFilter, NewGroupInput, StartDirect};
pub use delivery::DELIVERY_BATCH_INTERVAL;
pub use erase::{ERASE_BATCH, EraseReport};
pub use export::{ExportService, ExportedConversation, ExportedReaction, UserExport};
pub use messages::{MessageService, SendMessage, Sent, SystemMessage};
pub use notifications::{DrainReport, NOTIFICATION_BATCH, NotificationWorker, NotificationWorkerHandle};
pub use reports::ReportService;

use crate::attachment::AllowedTypes;
use crate::directory::{Profile, UserDirectory};
use crate::error::{ChatError, ChatResult};
use crate::events::{Event, EventBus, EventPayload, InProcessEventBus};
use crate::ids::{ConversationId, Identity, UserId};
use crate::limits::Limits;
use crate::model::{ConversationRecord, Message, Quote};
use crate::rules;
use crate::store::Store;
use crate::view::{ConversationView, MessageView, ParticipantView, ReplyPreview};

/// Everything the services need, built once by the host:
///
/// ```
/// # use std::sync::Arc;
/// # use chat_core::{ChatServices, InMemoryDirectory};
/// # fn demo(store: Arc<dyn chat_core::Store>) {
/// let services = ChatServices::new(store, Arc::new(InMemoryDirectory::new()));
/// let conversations = services.conversations();
/// let messages = services.messages();
/// # }
/// ```
///
/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct ChatServices {
    store: Arc<dyn Store>,
    directory: Arc<dyn UserDirectory>,
    bus: Arc<dyn EventBus>,
    limits: Limits,
    send_order: Arc<send_order::SendOrder>,
    start_limiter: Arc<hourly_limit::HourlyLimiter>,
    upload_limiter: Arc<hourly_limit::HourlyLimiter>,
    deliveries: Arc<delivery::DeliveryBatch>,
    attachments: Option<Arc<attachments::AttachmentConfig>>,
    notify_after: Option<chrono::TimeDelta>,
    policy: Option<Arc<dyn crate::policy::MessagePolicy>>,
    report_sink: Option<Arc<dyn crate::report_sink::ReportSink>>,
}

impl std::fmt::Debug for ChatServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServices")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ChatServices {
    /// Services over `store` and the host's `directory`, with an [`InProcessEventBus`] and
    /// default [`Limits`].
    pub fn new(store: Arc<dyn Store>, directory: Arc<dyn UserDirectory>) -> Self {
        Self {
            store,
            directory,
            bus: Arc::new(InProcessEventBus::new()),
            limits: Limits::default(),
            send_order: Arc::default(),
            start_limiter: Arc::default(),
            upload_limiter: Arc::default(),
            deliveries: Arc::default(),
            attachments: None,
            notify_after: None,
            policy: None,
            report_sink: None,
        }
    }

    /// With a before-send policy: every send and edit is checked by `policy` after its own
    /// validation and before the store; it may allow it, reject it (a validation error on
    /// `body` with the policy's reason) or replace the body (validated again). See
    /// [`crate::policy`]; `chat_core::policy::ContactMasking` (feature `contact-masking`) is a
    /// ready one.
    pub fn with_message_policy(mut self, policy: Arc<dyn crate::policy::MessagePolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// With a moderation queue: every report of a message is handed to `sink` after it is
    /// stored (see [`crate::ReportSink`]). Without one, reports are only stored.
    pub fn with_report_sink(mut self, sink: Arc<dyn crate::report_sink::ReportSink>) -> Self {
        self.report_sink = Some(sink);
        self
    }

    /// `body` as the policy decides for `kind` (unchanged without a policy); a replacement
    /// is validated like the draft was, with the message's `attachments`.
    pub(crate) async fn apply_policy(
        &self,
        actor: &Identity,
        conversation: crate::ids::ConversationId,
        kind: crate::policy::DraftKind,
        body: String,
        attachments: &[crate::ids::AttachmentId],
    ) -> ChatResult<String> {
        let Some(policy) = &self.policy else {
            return Ok(body);
        };
        let draft = crate::policy::Draft {
            actor,
            conversation,
            body: &body,
            kind,
        };
        match policy.check(draft).await {
            crate::policy::PolicyDecision::Allow => Ok(body),
            crate::policy::PolicyDecision::Reject { reason } => {
                tracing::debug!(conversation_id = %conversation, user_id = %actor.user, "the message policy refused a message");
                Err(ChatError::invalid("body", reason))
            }
            // The same rule as the draft's own: may be empty only with attachments.
            crate::policy::PolicyDecision::Replace { body: replaced } => {
                crate::validate::body_with_attachments(&self.limits, &replaced, attachments)
            }
        }
    }

    /// Turns offline notifications on (invariant 14): from now on every send leaves, in its
    /// own transaction, a pending notification for each recipient who has none, due `delay`
    /// after the message (a burst is one notification; reading everything first cancels
    /// it). A [`NotificationWorker`] the host spawns hands the due ones to its
    /// [`crate::Notifier`]. Off by default: without a worker the rows would only wait.
    /// The delay is at most [`crate::notification::MAX_NOTIFICATION_DELAY`] (100 years); a
    /// longer one is that.
    pub fn with_notifications(mut self, delay: std::time::Duration) -> Self {
        let delay = chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
        self.notify_after = Some(crate::notification::bounded_delay(delay));
        self
    }

    /// The delay of [`Self::with_notifications`]; `None` when notifications are off.
    pub fn notification_delay(&self) -> Option<std::time::Duration> {
        self.notify_after.and_then(|delay| delay.to_std().ok())
    }

    /// With another interval for batching the delivery receipts of live events
    /// ([`ConversationService::delivered_later`]; default
    /// [`DELIVERY_BATCH_INTERVAL`], 250 ms): the longest a
    /// receipt waits, and each (user, conversation) is written at most once per interval.
    pub fn with_delivery_batch_interval(mut self, interval: std::time::Duration) -> Self {
        self.deliveries = Arc::new(delivery::DeliveryBatch::with_interval(interval));
        self
    }

    /// With attachments: their bytes go to `objects` (S3, GCS, Azure, local files: any
    /// `object_store::ObjectStore`) under `attachments/<uuid>`, with the default
    /// [`AllowedTypes`]. Without it, attachment operations answer
    /// [`crate::ChatError::NotEnabled`].
    pub fn with_attachments(mut self, objects: Arc<dyn object_store::ObjectStore>) -> Self {
        self.attachments = Some(Arc::new(attachments::AttachmentConfig {
            objects,
            allowed: AllowedTypes::default(),
            signer: None,
        }));
        self
    }

    /// With these content types accepted for attachments (sniffed from the bytes) instead
    /// of the default [`AllowedTypes`]. Call it after [`Self::with_attachments`]; without
    /// attachments it changes nothing.
    pub fn with_allowed_types(mut self, allowed: AllowedTypes) -> Self {
        if let Some(config) = &mut self.attachments {
            Arc::make_mut(config).allowed = allowed;
        }
        self
    }

    /// Downloads answer with a URL signed by `signer` (e.g. around `object_store::aws::AmazonS3`),
    /// valid for `ttl`, instead of streaming the bytes through this server: the membership
    /// check stays here, the bytes come from the bucket. Call it after
    /// [`Self::with_attachments`]; without attachments it changes nothing.
    pub fn with_attachment_signer(mut self, signer: Arc<dyn DownloadSigner>, ttl: std::time::Duration) -> Self {
        if let Some(config) = &mut self.attachments {
            Arc::make_mut(config).signer = Some((signer, ttl));
        }
        self
    }

    /// With another event bus (e.g. the Postgres one for several nodes).
    pub fn with_event_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = bus;
        self
    }

    /// With other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Conversation operations.
    pub fn conversations(&self) -> ConversationService {
        ConversationService { ctx: self.clone() }
    }

    /// Message operations.
    pub fn messages(&self) -> MessageService {
        MessageService { ctx: self.clone() }
    }

    /// Attachments: uploads, downloads and the sweep.
    pub fn attachments(&self) -> AttachmentService {
        AttachmentService { ctx: self.clone() }
    }

    /// The content types accepted for attachments, when attachments are enabled.
    pub fn allowed_types(&self) -> Option<&AllowedTypes> {
        self.attachments.as_deref().map(|config| &config.allowed)
    }

    /// Reporting other users' messages to the host's moderation ([`crate::ReportSink`]).
    pub fn reports(&self) -> ReportService {
        ReportService { ctx: self.clone() }
    }

    /// Blocking: who may not reach the caller in direct conversations (invariant 13).
    pub fn blocks(&self) -> BlockService {
        BlockService { ctx: self.clone() }
    }

    /// Contacts: the host's users the caller may start a conversation with.
    pub fn contacts(&self) -> ContactService {
        ContactService { ctx: self.clone() }
    }

    /// The bus events are published on; subscribe here for live events.
    pub fn event_bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The host's directory.
    pub fn directory(&self) -> &Arc<dyn UserDirectory> {
        &self.directory
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Profiles of `users` in one directory call, with a stand-in for unknown ones.
    async fn profiles(&self, actor: &Identity, users: Vec<UserId>) -> ChatResult<Profiles> {
        let mut users = users;
        users.sort();
        users.dedup();
        let mut found = self.directory.profiles(&actor.tenant, &users).await?;
        for user in users {
            found.entry(user.clone()).or_insert_with(|| Profile::unknown(user));
        }
        Ok(Profiles(found))
    }

    /// Profiles of everyone in `record`: one directory batch renders the conversation and
    /// any of its messages, for the actor's answer and for every event recipient alike.
    async fn member_profiles(&self, actor: &Identity, record: &ConversationRecord) -> ChatResult<Profiles> {
        self.profiles(actor, record.member_ids()).await
    }

    /// Views of `records` for the actor, enriched with one directory call in all.
    async fn conversation_views(
        &self,
        actor: &Identity,
        records: Vec<ConversationRecord>,
    ) -> ChatResult<Vec<ConversationView>> {
        let users = records.iter().flat_map(ConversationRecord::member_ids).collect();
        let profiles = self.profiles(actor, users).await?;
        Ok(records
            .into_iter()
            .map(|record| profiles.conversation(record, &actor.user))
            .collect())
    }

    /// The originals that `messages` quote, by seq: those among `messages` taken from
    /// them, the others in one store read; none when no message is a reply.
    async fn originals(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        messages: &[Message],
    ) -> ChatResult<Originals> {
        let missing = rules::quoted_seqs(messages);
        let found = if missing.is_empty() {
            Vec::new()
        } else {
            self.store.messages_by_seq(actor, conversation, &missing).await?
        };
        let mut originals = Originals::of(found.iter().map(Quote::of).collect());
        originals.add_page(messages);
        Ok(originals)
    }

    /// Everyone whose profile rendering `messages` of `record` needs: the members, the
    /// senders and the senders of the quoted originals.
    fn involved(record: &ConversationRecord, messages: &[Message], originals: &Originals) -> Vec<UserId> {
        let mut users = record.member_ids();
        users.extend(messages.iter().filter_map(|message| message.sender.clone()));
        users.extend(originals.0.values().filter_map(|quote| quote.sender.clone()));
        users
    }

    /// What rendering `messages` of `record` needs: the originals they quote (one store
    /// read at most) and the profiles of the members and of every sender involved (one
    /// directory batch), for the actor's answer and for every event recipient alike.
    async fn rendering(
        &self,
        actor: &Identity,
        record: &ConversationRecord,
        messages: &[Message],
    ) -> ChatResult<(Profiles, Originals)> {
        let originals = self.originals(actor, record.conversation.id, messages).await?;
        let users = Self::involved(record, messages, &originals);
        Ok((self.profiles(actor, users).await?, originals))
    }

    /// Views of `messages` of `record` as the actor sees them: senders, quoted originals
    /// and receipts, with one store read and one directory call in all.
    async fn message_views(
        &self,
        actor: &Identity,
        record: &ConversationRecord,
        messages: Vec<Message>,
    ) -> ChatResult<Vec<MessageView>> {
        let (profiles, originals) = self.rendering(actor, record, &messages).await?;
        Ok(messages
            .into_iter()
            .map(|message| profiles.message(message, record, &originals, &actor.user))
            .collect())
    }

    /// Publishes after a committed change. Events are a fast path (clients catch up from
    /// the store), so a bus failure is logged and does not fail the operation.
    async fn publish(
        &self,
        actor: &Identity,
        conversation_id: ConversationId,
        recipients: Vec<UserId>,
        payload: EventPayload,
    ) {
        if recipients.is_empty() {
            return;
        }
        let kind = payload.type_name();
        let event = Event {
            tenant: actor.tenant.clone(),
            recipients,
            conversation_id,
            payload,
        };
        if let Err(error) = self.bus.publish(event).await {
            tracing::warn!(%conversation_id, event = kind, %error, "publishing a live event failed");
        }
    }

    /// Publishes `conversation.updated` (or another conversation event made by `payload`)
    /// with `view` to `recipients`.
    async fn publish_conversation(
        &self,
        actor: &Identity,
        view: &ConversationView,
        recipients: Vec<UserId>,
        payload: fn(ConversationView) -> EventPayload,
    ) {
        self.publish(actor, view.conversation.id, recipients, payload(view.clone()))
            .await;
    }
}

/// Profiles looked up in one directory batch, rendering records into views.
struct Profiles(HashMap<UserId, Profile>);

impl Profiles {
    fn of(&self, user: &UserId) -> Profile {
        self.0
            .get(user)
            .cloned()
            .unwrap_or_else(|| Profile::unknown(user.clone()))
    }

    fn conversation(&self, record: ConversationRecord, viewer: &UserId) -> ConversationView {
        let participants = record
            .participants
            .into_iter()
            .map(|participant| ParticipantView {
                profile: self.of(&participant.user),
                participant,
            })
            .collect();
        ConversationView {
            conversation: record.conversation,
            participants,
            viewer: viewer.clone(),
        }
    }

    /// `message` of `record` as `viewer` sees it: the original it quotes from `originals`
    /// (shown as deleted when it is, when the viewer cleared it, or when it was not found),
    /// and its receipts from the watermarks in `record`.
    fn message(
        &self,
        message: Message,
        record: &ConversationRecord,
        originals: &Originals,
        viewer: &UserId,
    ) -> MessageView {
        let cleared = record
            .participant(viewer)
            .map_or(0, |participant| participant.cleared_through_seq);
        let reply_to = message.reply_to.map(|quoted| {
            let original = originals
                .0
                .get(&quoted.seq)
                .filter(|original| original.id == quoted.id && !original.deleted && original.seq > cleared);
            ReplyPreview {
                id: quoted.id,
                seq: quoted.seq,
                sender: original
                    .and_then(|original| original.sender.as_ref())
                    .map(|user| self.of(user)),
                body: original.map(|original| original.text.clone()),
                is_deleted: original.is_none(),
            }
        });
        MessageView {
            sender: message.sender.as_ref().map(|user| self.of(user)),
            reply_to,
            receipts: rules::receipts(record, &message),
            conversation_kind: record.conversation.kind,
            message,
        }
    }
}

/// The originals quoted by a set of replies, by seq.
#[derive(Default)]
struct Originals(HashMap<u64, Quote>);

impl Originals {
    fn of(quotes: Vec<Quote>) -> Self {
        Self(quotes.into_iter().map(|quote| (quote.seq, quote)).collect())
    }

    /// Adds the quotes of the messages of `page` that replies on it quote.
    fn add_page(&mut self, page: &[Message]) {
        for quoted in page.iter().filter_map(|message| message.reply_to) {
            if let Ok(index) = page.binary_search_by_key(&quoted.seq, |message| message.seq) {
                self.0.entry(quoted.seq).or_insert_with(|| Quote::of(&page[index]));
            }
        }
    }
}
