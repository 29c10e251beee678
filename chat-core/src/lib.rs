//! # chat-core
//!
//! The domain, services and storage contract of an embeddable chat library: conversations
//! between a host application's users (direct and group, optionally about a host object such
//! as an order), an inbox sorted by activity, unread counts, read receipts, typing and live
//! events.
//!
//! A host builds [`ChatServices`] from a [`Store`], its own [`UserDirectory`] and optionally
//! an [`EventBus`], then calls [`ConversationService`] and [`MessageService`] with the
//! authenticated [`Identity`] of each request.
//!
//! Which store: `chat-store-sled` (`SledStore`, the default for one node: embedded,
//! acknowledged only once in its synced write-ahead log) or `chat-store-redb` (`RedbStore`:
//! embedded, one file, each commit fsynced by redb) for a single node; `chat-store-sqlx`
//! (`PgStore`) when several nodes share the data, with `PgEventBus` or `chat-bus-redis`'s
//! `RedisEventBus` carrying live events between them. The embedded stores are all the storage
//! kernel of the `kernel` feature over an engine, so they share every operation, group commit
//! and the rule that a read never returns a write that is not yet durable; the `testing`
//! feature's in-memory reference store is the same kernel over a `BTreeMap`.
//!
//! ## Choices made here
//!
//! - **Not yours = not found.** A conversation the actor is not in answers
//!   [`ChatError::NotFound`], exactly like an unknown id. Inside a conversation, editing
//!   another user's message is [`ChatError::PermissionDenied`].
//! - **Bodies are trimmed** and must then be 1..=4000 characters; they are stored as sent
//!   otherwise (never escaped: rendering is the client's business).
//! - **Tags match by text**: `taggable_id` `123` and `"123"` are the same order; a
//!   conversation answers in the form it was created with.
//! - **Unread counts** count messages from others above the read watermark, deleted ones
//!   included (a deletion does not move anyone's badge). Sending marks the sender read.
//! - **Deleting** keeps the row and seq and drops the body; the preview moves to the newest
//!   message that is not deleted. Activity order is not changed by edits or deletes.
//! - **Clearing history** hides every current message from that user only and marks them read.
//! - **Archive** is per user; a new message un-archives the conversation for everyone.
//! - **Groups**: the creator owns the group; any member may add people, the owner removes
//!   others, anyone may leave; when the owner leaves, the longest-standing member owns it.
//! - **Inbox paging** is keyset paging on (last_activity_at, id) descending: a page never
//!   repeats a conversation already listed and never skips one whose activity did not change
//!   while paging. A conversation that gets a new message moves to the top, where the live
//!   `conversation.updated` event (or a refresh of the first page) shows it.
//! - **Events are a fast path**: they are published after the store commits; a client that
//!   missed some catches up with `history(after = seq)`.
#![forbid(unsafe_code)]

pub mod attachment;
pub mod backend;
pub mod cursor;
pub mod directory;
pub mod error;
pub mod events;
pub mod ids;
#[cfg(feature = "kernel")]
pub mod kernel;
pub mod limits;
pub mod model;
pub mod notification;
pub mod outbox;
pub mod policy;
pub mod report_sink;
pub mod rules;
pub mod service;
pub mod store;
pub mod tag;
mod validate;
pub mod view;

#[cfg(feature = "testing")]
pub mod testing;

pub use attachment::{AllowedTypes, AttachedFile, Attachment, AttachmentState, UploadedFile};
pub use directory::{InMemoryDirectory, Profile, UserDirectory};
pub use error::{ChatError, ChatResult, FieldErrors};
pub use events::{DeliveryReceipt, Event, EventBus, EventPayload, EventStream, InProcessEventBus, StreamError};
pub use ids::{AttachmentId, ConversationId, Identity, MessageId, NotificationId, TenantId, UserId};
pub use limits::Limits;
pub use model::{
    Block, Conversation, ConversationKind, ConversationRecord, LastMessage, Message, MessageKind, MessageRef, Metadata,
    Participant, Quote, Reaction, Report, ReportReason, Role, Stats,
};
pub use notification::{Notification, Notifier, NotifyError};
pub use report_sink::{ReportNotice, ReportSink};
pub use service::{
    AttachmentService, BlockService, BlockView, ByteRange, ChatServices, ContactService, ConversationService, Download,
    DownloadContent, DownloadRequest, DownloadSigner, DrainReport, EraseReport, ExportService, ExportedConversation,
    InboxFilter, MessageService, NewGroupInput, NotificationWorker, NotificationWorkerHandle, ReportService,
    SendMessage, Sent, StartDirect, SweepReport, SystemMessage, UserExport,
};
pub use store::{ArchiveFilter, Store};
pub use tag::{Tag, TagFilter, TaggableId};
pub use validate::{CLIENT_MESSAGE_ID_PATTERN, TAGGABLE_ID_MAX_MAGNITUDE};
pub use view::{ConversationView, MessageView, Page, ParticipantView, ReplyPreview};
