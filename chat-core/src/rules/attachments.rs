//! Attachments: an upload's life from its record to its message, and what the sweep removes.
//!
//! An upload writes its record first ([`begin_upload`], state `Uploading`), streams the
//! bytes to the object store, then records what they are ([`finish_upload`], `Unsent`). A
//! send binds the sender's unsent uploads to its message ([`attach`], `Sent`) in the send's
//! transaction. Deleting the message, or leaving an upload unsent past
//! [`crate::Limits::unsent_upload_ttl`], discards it ([`discard_attachment`], `Discarded`):
//! no longer readable, its bytes and record removed by the sweep ([`is_swept`]). A process
//! that dies mid-upload leaves an `Uploading` record, which the sweep removes with any bytes
//! it wrote; no message ever points at an attachment that is not `Sent` to it.

use chrono::{DateTime, Utc};

use crate::attachment::{Attachment, AttachmentState, UploadedFile};
use crate::error::{ChatError, ChatResult};
use crate::ids::{AttachmentId, Identity, UserId};
use crate::model::{ConversationRecord, Message};

/// The refusal of an `attachment_ids` entry: a validation error on `attachment_ids`, the
/// same for another user's upload, another conversation's, one already sent or discarded,
/// one still uploading and an unknown id, so it leaks nothing.
pub fn attachments_refused() -> ChatError {
    ChatError::invalid("attachment_ids", "must be your own unsent uploads to this conversation")
}

/// The record of an upload by `caller` to `record`'s conversation, begun at `now`.
///
/// Errors: `NotFound` (conversation) when the caller does not participate.
pub fn begin_upload(
    record: &ConversationRecord,
    caller: &Identity,
    name: &str,
    now: DateTime<Utc>,
) -> ChatResult<Attachment> {
    if !super::is_member(record, caller) {
        return Err(ChatError::conversation_not_found());
    }
    Ok(Attachment {
        id: AttachmentId::new_v7(),
        tenant: caller.tenant.clone(),
        conversation_id: record.conversation.id,
        uploader: caller.user.clone(),
        name: name.to_owned(),
        content_type: String::new(),
        size: 0,
        width: None,
        height: None,
        created_at: now,
        state: AttachmentState::Uploading,
    })
}

/// Records what the uploaded bytes are: the caller's own upload becomes `Unsent`, its name
/// given the extension of its sniffed type ([`crate::attachment::name_for_type`]).
///
/// Errors: `NotFound` (attachment) unless it is the caller's and still uploading.
pub fn finish_upload(attachment: &mut Attachment, caller: &Identity, uploaded: UploadedFile) -> ChatResult<()> {
    if !may_abandon(attachment, caller) {
        return Err(ChatError::attachment_not_found());
    }
    attachment.name = crate::attachment::name_for_type(&attachment.name, &uploaded.content_type);
    attachment.content_type = uploaded.content_type;
    attachment.size = uploaded.size;
    attachment.width = uploaded.dimensions.map(|(width, _)| width);
    attachment.height = uploaded.dimensions.map(|(_, height)| height);
    attachment.state = AttachmentState::Unsent;
    Ok(())
}

/// True when `caller` may drop the record of this upload (it is theirs and still
/// uploading): a refused or failed upload leaves nothing behind.
pub fn may_abandon(attachment: &Attachment, caller: &Identity) -> bool {
    attachment.tenant == caller.tenant
        && attachment.uploader == caller.user
        && attachment.state == AttachmentState::Uploading
}

/// Binds `wanted` to `message`, just appended by `author` to `record`: each must be among
/// `found` (the records the store read for those ids) as `author`'s own unsent upload to
/// this conversation, each named once. On success the message carries their files in the
/// order given and each record is `Sent` to it; the store saves both in the send's
/// transaction. (The services limit how many, [`crate::Limits::attachments_per_message`].)
///
/// Errors: `Validation` on `attachment_ids` ([`attachments_refused`]); nothing changes then.
pub fn attach(
    record: &ConversationRecord,
    author: &UserId,
    message: &mut Message,
    wanted: &[AttachmentId],
    found: &mut [Attachment],
) -> ChatResult<()> {
    let usable = |attachment: &Attachment| {
        attachment.tenant == record.conversation.tenant
            && attachment.conversation_id == record.conversation.id
            && &attachment.uploader == author
            && attachment.state == AttachmentState::Unsent
    };
    for (index, id) in wanted.iter().enumerate() {
        let named_once = !wanted[..index].contains(id);
        if !named_once
            || !found
                .iter()
                .any(|attachment| &attachment.id == id && usable(attachment))
        {
            return Err(attachments_refused());
        }
    }
    message.attachments = wanted
        .iter()
        .filter_map(|id| found.iter().find(|attachment| &attachment.id == id))
        .map(Attachment::file)
        .collect();
    for attachment in found.iter_mut().filter(|attachment| wanted.contains(&attachment.id)) {
        attachment.state = AttachmentState::Sent(message.id);
    }
    Ok(())
}

/// Discards an attachment (its message was deleted, or it was never sent in time): it is
/// unreadable from now on, and the sweep removes its bytes and record.
pub fn discard_attachment(attachment: &mut Attachment) {
    attachment.state = AttachmentState::Discarded;
}

/// True when erasing `user` discards this attachment: it is theirs and not sent (a sent
/// one goes with its message). PgStore's `erase` statement applies the same condition.
pub fn erasing_discards(attachment: &Attachment, tenant: &crate::ids::TenantId, user: &crate::ids::UserId) -> bool {
    &attachment.tenant == tenant
        && &attachment.uploader == user
        && matches!(attachment.state, AttachmentState::Uploading | AttachmentState::Unsent)
}

/// True when the sweep may remove the record now that its bytes are gone: it is discarded.
/// Anything else (an upload bound meanwhile, say) is left alone. PgStore's `forget`
/// statement applies the same condition.
pub fn may_forget(attachment: &Attachment) -> bool {
    attachment.state == AttachmentState::Discarded
}

/// True when `caller`, a participant of the attachment's conversation, may download it:
/// any participant once it is sent, unless the caller cleared the history that holds its
/// message (`sent_seq`, the message's seq, at or below `cleared_through_seq`, the caller's
/// cleared watermark: the same answer as a missing id, like a reply to a cleared message);
/// only its uploader before it is sent.
pub fn is_readable(
    attachment: &Attachment,
    caller: &Identity,
    sent_seq: Option<u64>,
    cleared_through_seq: u64,
) -> bool {
    attachment.tenant == caller.tenant
        && match attachment.state {
            AttachmentState::Sent(_) => sent_seq.is_some_and(|seq| seq > cleared_through_seq),
            AttachmentState::Unsent => attachment.uploader == caller.user,
            AttachmentState::Uploading | AttachmentState::Discarded => false,
        }
}

/// True when the sweep removes it now: discarded, or not sent and begun before
/// `unsent_before` (now minus [`crate::Limits::unsent_upload_ttl`]). The store discards the
/// latter in the same transaction that reads them, so a send racing the sweep either binds
/// the upload first (then it is kept) or is refused.
pub fn is_swept(attachment: &Attachment, unsent_before: DateTime<Utc>) -> bool {
    match attachment.state {
        AttachmentState::Discarded => true,
        AttachmentState::Uploading | AttachmentState::Unsent => attachment.created_at < unsent_before,
        AttachmentState::Sent(_) => false,
    }
}
