//! The demo's "e-mail": a [`Notifier`] that keeps each user's latest notifications in
//! memory, for the page's notifications panel (`GET /demo/notifications`), as if they had
//! been e-mailed. A real host sends mail or push here, or uses
//! `chat_axum::webhook::WebhookNotifier`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chat_core::{Identity, Notification, NotificationId, Notifier, NotifyError, TenantId, UserId};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Notifications kept per user; older ones go.
pub const KEPT_PER_USER: usize = 50;

/// One notification as the panel shows it: a subject and the unread lines.
#[derive(Clone, Debug, Serialize)]
pub struct Mail {
    /// The notification's id (a retry of the same notification replaces it).
    pub id: NotificationId,
    /// The conversation to open.
    pub conversation_uuid: uuid::Uuid,
    /// "New messages from Ana" or "New messages in" and the group's title.
    pub subject: String,
    /// The unread messages it carries, oldest first.
    pub lines: Vec<MailLine>,
    /// Unread messages in all.
    pub unread_count: u64,
    /// When the notifier was called.
    pub received_at: DateTime<Utc>,
}

/// One message of a [`Mail`].
#[derive(Clone, Debug, Serialize)]
pub struct MailLine {
    /// The sender's name (`None`: a system message).
    pub from: Option<String>,
    /// The text.
    pub text: String,
}

/// Each user's mails, oldest first.
type Mailboxes = HashMap<(TenantId, UserId), VecDeque<Mail>>;

/// The in-memory notifier; clones share the mailboxes.
#[derive(Clone, Debug, Default)]
pub struct DemoMailbox {
    boxes: Arc<Mutex<Mailboxes>>,
}

impl DemoMailbox {
    /// `identity`'s notifications, newest first.
    pub fn of(&self, identity: &Identity) -> Vec<Mail> {
        let boxes = self.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        boxes
            .get(&(identity.tenant.clone(), identity.user.clone()))
            .map(|mails| mails.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn mail_of(notification: &Notification) -> Mail {
        let view = &notification.conversation;
        let subject = match (view.counterpart(), &view.conversation.title) {
            (Some(counterpart), _) => format!("New messages from {}", counterpart.profile.name),
            (None, Some(title)) => format!("New messages in {title}"),
            (None, None) => "New messages".to_owned(),
        };
        let lines = notification
            .messages
            .iter()
            .map(|message| MailLine {
                from: message.sender.as_ref().map(|profile| profile.name.clone()),
                text: message.message.body.clone(),
            })
            .collect();
        Mail {
            id: notification.id,
            conversation_uuid: *view.conversation.id.as_uuid(),
            subject,
            lines,
            unread_count: notification.unread_count,
            received_at: Utc::now(),
        }
    }
}

#[async_trait]
impl Notifier for DemoMailbox {
    async fn notify(&self, batch: &[Notification]) -> Result<(), NotifyError> {
        let mut boxes = self.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        for notification in batch {
            let mails = boxes
                .entry((notification.tenant.clone(), notification.recipient.clone()))
                .or_default();
            mails.retain(|mail| mail.id != notification.id);
            mails.push_back(Self::mail_of(notification));
            while mails.len() > KEPT_PER_USER {
                mails.pop_front();
            }
        }
        tracing::debug!(notifications = batch.len(), "demo mailbox received notifications");
        Ok(())
    }
}
