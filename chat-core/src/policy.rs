//! The before-send hook: a host's [`MessagePolicy`] sees every send and edit before the
//! store does and may allow it, reject it (a validation error on `body` with the host's
//! reason, a 422 over HTTP) or replace its body (e.g. `ContactMasking`, feature
//! `contact-masking`, hides phone numbers, e-mail addresses and links so that deals stay on
//! the platform).
//!
//! It runs in the service, after the body's own validation and before the store, never
//! inside a transaction; a replaced body is validated again (empty, too long or with control
//! characters is a validation error on `body`, never a silent cut). System messages are the
//! host's own and do not pass through it.

use async_trait::async_trait;

use crate::ids::{ConversationId, Identity, MessageId};

#[cfg(feature = "contact-masking")]
mod contact_masking;
#[cfg(feature = "contact-masking")]
pub use contact_masking::ContactMasking;

/// What the policy is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DraftKind {
    /// A new message.
    Send,
    /// A new body for the actor's own message.
    Edit {
        /// The message being edited.
        message: MessageId,
    },
}

/// A message about to be stored, as the policy sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Draft<'a> {
    /// Who sends or edits.
    pub actor: &'a Identity,
    /// Where.
    pub conversation: ConversationId,
    /// The body after validation (trimmed; may be empty when the message carries
    /// attachments).
    pub body: &'a str,
    /// A send or an edit.
    pub kind: DraftKind,
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyDecision {
    /// Store the draft as it is.
    Allow,
    /// Refuse it: a validation error on `body` carrying `reason` (shown to the user).
    Reject {
        /// Why, in words for the user.
        reason: String,
    },
    /// Store this body instead (validated again).
    Replace {
        /// The body to store.
        body: String,
    },
}

/// The host's before-send policy ([`crate::ChatServices::with_message_policy`]).
#[async_trait]
pub trait MessagePolicy: Send + Sync + 'static {
    /// Decides on `draft`. Called once per send or edit, before the store, so before the
    /// membership check: `draft.conversation` may be one the actor is not in (the store
    /// then refuses the send). A send repeated with the same `client_message_id` is asked
    /// again before the store returns the stored message: a policy that answers alike for
    /// the same draft (as `ContactMasking` does) lets the repeat through, one that now
    /// refuses makes the repeat fail although the first send was stored.
    async fn check(&self, draft: Draft<'_>) -> PolicyDecision;
}
