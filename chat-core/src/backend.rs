//! What a store implementer needs, under one path (the crate root keeps what hosts use): the
//! store traits and the inputs and outputs of their operations, the records they keep, the
//! outbox's records, the rules every store applies, and (feature `kernel`) the storage
//! kernel with its engine trait.
//!
//! ```ignore
//! use chat_core::backend::{ConversationStore, InboxQuery, NewMessage, rules};
//! ```

pub use crate::attachment::{AttachedFile, Attachment, AttachmentState, UploadedFile};
pub use crate::error::{ChatError, ChatResult};
pub use crate::ids::{AttachmentId, ConversationId, Identity, MessageId, NotificationId, TenantId, UserId};
#[cfg(feature = "kernel")]
pub use crate::kernel;
pub use crate::model::{
    Block, Conversation, ConversationKind, ConversationRecord, LastMessage, Message, MessageKind, MessageRef, Metadata,
    Participant, Quote, Reaction, Report, ReportReason, Role, Stats, now,
};
pub use crate::outbox::{
    DueNotification, MAX_NOTIFICATION_DELAY, NotificationOutcome, PendingNotification, SettledNotification,
    bounded_delay,
};
pub use crate::rules;
pub use crate::store::{
    Appended, ArchiveFilter, AttachmentStore, ConversationStore, Deleted, ErasedBatch, ErasureStore, HistoryPage,
    HistoryQuery, InboxCursor, InboxQuery, ModerationStore, NewDirect, NewGroup, NewMessage, NewReport, OutboxStore,
    Reacted, ReactionChange, ReadUpTo, Reported, SearchQuery, Store,
};
pub use crate::tag::{Tag, TagFilter, TaggableId};
