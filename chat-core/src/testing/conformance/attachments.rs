//! Attachments: a message carries only its sender's own unsent uploads to the same
//! conversation, at most the limit; a resend keeps the first message's; deleting the message
//! hides them at once and the sweep removes their bytes and records, as it does uploads
//! never sent.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ChatError;
use crate::ids::{AttachmentId, ConversationId, Identity};
use crate::limits::Limits;
use crate::service::{DownloadContent, DownloadRequest, SendMessage};
use crate::store::Store;
use crate::testing::fixtures::{Fixture, sample_png};

fn refused_on_attachment_ids(result: Result<crate::service::Sent, ChatError>) -> bool {
    matches!(result, Err(ChatError::Validation(errors)) if errors.fields().contains_key("attachment_ids"))
}

async fn readable(fx: &Fixture, reader: &Identity, conversation: ConversationId, id: AttachmentId) -> bool {
    match fx
        .services
        .attachments()
        .download(reader, conversation, id, DownloadRequest::default())
        .await
    {
        Ok(download) => matches!(download.content, DownloadContent::Bytes { .. }),
        Err(error) if error.is_not_found() => false,
        Err(error) => panic!("download failed: {error}"),
    }
}

/// Only the sender's own unsent uploads to this conversation bind (another user's, another
/// conversation's, one already sent, an unknown id and one past the limit are each a 422 on
/// `attachment_ids` that sends nothing); a message may be attachments only; before it is
/// sent only the uploader reads an upload, after it every member; a resend with the same
/// `client_message_id` keeps the first message's attachments.
pub async fn attachments_bind_only_the_senders_own_unsent_uploads(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 3);
    let messages = fx.messages();
    let conversation = fx.direct(0, 1).await;
    let other = fx.direct(0, 2).await;
    let photo = fx
        .upload(0, conversation, "bike.png", &sample_png(640, 480))
        .await
        .expect("upload");
    assert_eq!(
        (photo.content_type.as_str(), photo.width, photo.height),
        ("image/png", Some(640), Some(480))
    );
    assert!(
        readable(&fx, fx.user(0), conversation, photo.id).await,
        "the uploader reads it"
    );
    assert!(
        !readable(&fx, fx.user(1), conversation, photo.id).await,
        "nobody else before it is sent"
    );
    let theirs = fx
        .upload(1, conversation, "invoice.pdf", b"%PDF-1.7\n1 0 obj\n")
        .await
        .expect("upload");
    let elsewhere = fx
        .upload(0, other, "other.png", &sample_png(2, 2))
        .await
        .expect("upload");
    for wanted in [theirs.id, elsewhere.id, AttachmentId::new_v7()] {
        let sent = messages
            .send(
                fx.user(0),
                conversation,
                SendMessage::text("").with_attachments([photo.id, wanted]),
            )
            .await;
        assert!(
            refused_on_attachment_ids(sent),
            "{wanted} is not the sender's to send here"
        );
    }
    let repeated = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("twice").with_attachments([photo.id, photo.id]),
        )
        .await;
    assert!(refused_on_attachment_ids(repeated), "an id named twice");
    let mut many = Vec::new();
    for index in 0..=Limits::default().attachments_per_message {
        let upload = fx
            .upload(0, conversation, &format!("p{index}.png"), &sample_png(1, 1))
            .await
            .expect("upload");
        many.push(upload.id);
    }
    let past_limit = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("all").with_attachments(many.clone()),
        )
        .await;
    assert!(refused_on_attachment_ids(past_limit), "one past the limit");
    let record = fx.conversations().get(fx.user(0), conversation).await.expect("get");
    assert_eq!(record.conversation.last_seq, 0, "no refused send stored anything");

    let sent = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("  ")
                .with_client_message_id("photo-1")
                .with_attachments([photo.id]),
        )
        .await
        .expect("a message of attachments only");
    assert!(sent.created);
    assert_eq!(sent.message.message.body, "");
    assert_eq!(sent.message.message.attachments, [photo.file()]);
    assert!(
        readable(&fx, fx.user(1), conversation, photo.id).await,
        "every member once sent"
    );
    assert!(
        matches!(
            fx.services
                .attachments()
                .download(fx.user(2), conversation, photo.id, DownloadRequest::default())
                .await,
            Err(ChatError::NotFound { what: "conversation" })
        ),
        "a non-member learns nothing"
    );
    let resent = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("  ")
                .with_client_message_id("photo-1")
                .with_attachments([photo.id]),
        )
        .await
        .expect("the retry");
    assert!(!resent.created);
    assert_eq!(resent.message.message.id, sent.message.message.id);
    assert_eq!(resent.message.message.attachments, [photo.file()]);
    let again = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("again").with_attachments([photo.id]),
        )
        .await;
    assert!(refused_on_attachment_ids(again), "an upload is sent once");
    let history = messages
        .history(fx.user(1), conversation, None, None, None)
        .await
        .expect("history");
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].message.attachments, [photo.file()]);
    let within_limit = messages
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("ten").with_attachments(many[..many.len() - 1].iter().copied()),
        )
        .await
        .expect("exactly the limit");
    assert_eq!(
        within_limit.message.message.attachments.len(),
        Limits::default().attachments_per_message
    );
}

/// Deleting a message hides its attachments from every reader at once and the sweep then
/// removes their bytes and records; an upload not sent within the time to live is swept
/// too (and can no longer be sent); what is sent or still fresh stays.
pub async fn deleted_and_never_sent_attachments_are_swept(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone(), 2);
    let conversation = fx.direct(0, 1).await;
    let kept = fx
        .upload(0, conversation, "kept.png", &sample_png(3, 3))
        .await
        .expect("upload");
    let dropped = fx
        .upload(0, conversation, "gone.png", &sample_png(4, 4))
        .await
        .expect("upload");
    let fresh = fx
        .upload(0, conversation, "fresh.txt", b"just text")
        .await
        .expect("upload");
    fx.messages()
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("keep").with_attachments([kept.id]),
        )
        .await
        .expect("send");
    let doomed = fx
        .messages()
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("oops").with_attachments([dropped.id]),
        )
        .await
        .expect("send")
        .message
        .message;
    let deleted = fx
        .messages()
        .delete(fx.user(0), conversation, doomed.id)
        .await
        .expect("delete");
    assert!(deleted.message.attachments.is_empty(), "a deleted message shows none");
    for reader in [0, 1] {
        assert!(
            !readable(&fx, fx.user(reader), conversation, dropped.id).await,
            "unreadable at once"
        );
    }
    let sweep = fx.services.attachments().sweep_tenant(&fx.tenant).await.expect("sweep");
    assert_eq!(sweep.removed, 1, "only the deleted message's attachment");
    let names = fx.stored_objects().await;
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.iter().any(|name| name.contains(&dropped.id.to_string())));
    assert!(readable(&fx, fx.user(1), conversation, kept.id).await);
    assert!(readable(&fx, fx.user(0), conversation, fresh.id).await);

    // The same tenant and store, seen by services whose uploads expire at once.
    let expiring = Limits {
        unsent_upload_ttl: Duration::ZERO,
        ..Limits::default()
    };
    let services = fx.services.clone().with_limits(expiring);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let sweep = services.attachments().sweep_tenant(&fx.tenant).await.expect("sweep");
    assert_eq!(sweep.removed, 1, "the upload never sent");
    assert_eq!(fx.stored_objects().await.len(), 1, "the sent attachment's bytes stay");
    assert!(readable(&fx, fx.user(1), conversation, kept.id).await);
    let late = fx
        .messages()
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("late").with_attachments([fresh.id]),
        )
        .await;
    assert!(refused_on_attachment_ids(late), "a swept upload cannot be sent");
    let again = services.attachments().sweep_tenant(&fx.tenant).await.expect("sweep");
    assert_eq!(again.removed, 0, "nothing left to sweep");
}

/// A refused upload (a type the host does not allow, whatever its name claims; past the
/// size limit; empty; by a non-member) leaves nothing behind: no bytes, no record.
pub async fn refused_uploads_leave_nothing_behind(store: Arc<dyn Store>) {
    let limits = Limits {
        attachment_max_bytes: 10_000,
        ..Limits::default()
    };
    let fx = Fixture::with_limits(store, 3, limits);
    let conversation = fx.direct(0, 1).await;
    let mut executable = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff".to_vec();
    executable.resize(4000, 0);
    let refusals = [
        ("photo.png", executable.clone(), "file"),
        (
            "page.html",
            b"<!DOCTYPE html><script>alert(1)</script>".to_vec(),
            "file",
        ),
        ("empty.txt", Vec::new(), "file"),
        ("../../etc/passwd", b"text".to_vec(), "name"),
    ];
    for (name, bytes, field) in refusals {
        match fx.upload(0, conversation, name, &bytes).await {
            Err(ChatError::Validation(errors)) => assert!(errors.fields().contains_key(field), "{name}: {errors}"),
            other => panic!("{name} was not refused: {other:?}"),
        }
    }
    let mut large = sample_png(10, 10);
    large.resize(10_001, 0);
    assert!(matches!(
        fx.upload(0, conversation, "large.png", &large).await,
        Err(ChatError::TooLarge { limit: 10_000, .. })
    ));
    large.truncate(10_000);
    let at_limit = fx
        .upload(0, conversation, "at-limit.png", &large)
        .await
        .expect("exactly the limit");
    assert_eq!(at_limit.size, 10_000);
    assert!(matches!(
        fx.upload(2, conversation, "bola.png", &sample_png(1, 1)).await,
        Err(ChatError::NotFound { what: "conversation" })
    ));
    assert_eq!(fx.stored_objects().await.len(), 1, "only the accepted upload's bytes");
    let expiring = Limits {
        unsent_upload_ttl: Duration::ZERO,
        ..limits
    };
    tokio::time::sleep(Duration::from_millis(2)).await;
    let sweep = fx
        .services
        .clone()
        .with_limits(expiring)
        .attachments()
        .sweep_tenant(&fx.tenant)
        .await
        .expect("sweep");
    assert_eq!(sweep.removed, 1, "no record of a refused upload was left to sweep");
    assert!(fx.stored_objects().await.is_empty());
}

/// Issue 32, item 12: a member who cleared a conversation's history gets, for an attachment
/// of a cleared message, the answer of a missing id (like a reply to a cleared message);
/// the other member still downloads it, and an attachment sent after the clear is readable.
pub async fn a_cleared_history_hides_its_attachments_from_that_member_only(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let conversation = fx.direct(0, 1).await;
    let photo = fx
        .upload(0, conversation, "before.png", &sample_png(4, 4))
        .await
        .expect("upload");
    fx.messages()
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("before").with_attachments([photo.id]),
        )
        .await
        .expect("send the photo");
    assert!(readable(&fx, fx.user(1), conversation, photo.id).await);
    fx.conversations()
        .clear_history(fx.user(1), conversation)
        .await
        .expect("clear");
    assert!(
        !readable(&fx, fx.user(1), conversation, photo.id).await,
        "a cleared message's attachment answers like a missing one"
    );
    assert!(
        readable(&fx, fx.user(0), conversation, photo.id).await,
        "the other member did not clear"
    );
    let later = fx
        .upload(0, conversation, "after.png", &sample_png(4, 4))
        .await
        .expect("upload");
    fx.messages()
        .send(
            fx.user(0),
            conversation,
            SendMessage::text("after").with_attachments([later.id]),
        )
        .await
        .expect("send after the clear");
    assert!(readable(&fx, fx.user(1), conversation, later.id).await);
}
