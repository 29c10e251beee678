//! Configurable limits. The services enforce them; exceeding one is a validation error
//! naming the field, never a truncation.

/// Limits on input, with the defaults of the design document.
///
/// Construct with [`Limits::default`] and change fields:
/// `let mut limits = Limits::default(); limits.body_max_chars = 2000;`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Message body length in characters, after trimming (default 4000).
    pub body_max_chars: usize,
    /// Group title length in characters (default 200).
    pub title_max_chars: usize,
    /// `taggable_type` length in characters (default 255).
    pub taggable_type_max_chars: usize,
    /// A string `taggable_id` length in characters (default 255).
    pub taggable_id_max_chars: usize,
    /// `client_message_id` length in bytes (default 128).
    pub client_message_id_max_bytes: usize,
    /// Serialized size of a `metadata` object in bytes (default 4096).
    pub metadata_max_bytes: usize,
    /// Page size when the client names none (default 50).
    pub page_default: usize,
    /// Largest page a client may ask for (default 100).
    pub page_max: usize,
    /// Largest group, the creator included (default 256).
    pub group_max_participants: usize,
    /// Search query length in characters (default 100).
    pub search_query_max_chars: usize,
    /// Request body size in bytes, enforced by the web layer (default 64 KiB).
    pub request_body_max_bytes: usize,
    /// WebSocket frame size in bytes, enforced by the web layer (default 16 KiB).
    pub ws_frame_max_bytes: usize,
    /// Conversations (direct and group) one user may start per hour, per node of the services
    /// (default 100; 0: no limit). Past it, [`crate::ChatError::RateLimited`] (HTTP 429 with
    /// `Retry-After`). Reopening an existing direct conversation does not count; adding
    /// people to a group counts one per call that adds anyone (a call that adds nobody, or
    /// fails, does not), so adding and removing someone over and over is bounded too.
    pub conversations_started_per_hour: u32,
    /// Size of a reaction's emoji in bytes; it must also be one emoji of Unicode's list
    /// (default 32).
    pub emoji_max_bytes: usize,
    /// Distinct emoji on one message (default 20). Past it, a new emoji is a validation
    /// error on `emoji`; adding oneself to an emoji already there always works.
    pub reactions_per_message: usize,
    /// Size of one attachment in bytes (default 10 MiB); past it the upload stops with
    /// [`crate::ChatError::TooLarge`] (HTTP 413) and nothing of it stays behind.
    pub attachment_max_bytes: u64,
    /// Attachments on one message (default 10).
    pub attachments_per_message: usize,
    /// An attachment's file name, in characters (default 255).
    pub attachment_name_max_chars: usize,
    /// Uploads one user may make per hour, per node of the services (default 200; 0: no
    /// limit). Past it, [`crate::ChatError::RateLimited`] (HTTP 429 with `Retry-After`); a
    /// refused upload does not count. Keeps one member from filling the object store.
    pub uploads_per_hour: u32,
    /// How long an upload may wait to be sent (default one day); the sweep
    /// ([`crate::AttachmentService::sweep`]) removes older unsent uploads.
    pub unsent_upload_ttl: std::time::Duration,
    /// Users one user may block (default 1000). Past it, blocking someone new is a
    /// validation error on `user`; blocking someone already blocked always works.
    pub blocks_per_user: usize,
    /// The note of a report, in characters after trimming (default 1000).
    pub report_note_max_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_max_chars: 4000,
            title_max_chars: 200,
            taggable_type_max_chars: 255,
            taggable_id_max_chars: 255,
            client_message_id_max_bytes: 128,
            metadata_max_bytes: 4096,
            page_default: 50,
            page_max: 100,
            group_max_participants: 256,
            search_query_max_chars: 100,
            request_body_max_bytes: 64 * 1024,
            ws_frame_max_bytes: 16 * 1024,
            conversations_started_per_hour: 100,
            emoji_max_bytes: 32,
            reactions_per_message: 20,
            attachment_max_bytes: 10 * 1024 * 1024,
            attachments_per_message: 10,
            uploads_per_hour: 200,
            attachment_name_max_chars: 255,
            unsent_upload_ttl: std::time::Duration::from_secs(24 * 60 * 60),
            blocks_per_user: 1000,
            report_note_max_chars: 1000,
        }
    }
}
