//! Reports of messages: members report others' messages, one report per user and message
//! (also when 16 tasks report at once), the host's sink is told, and nothing else changes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::ChatError;
use crate::ids::MessageId;
use crate::limits::Limits;
use crate::model::ReportReason;
use crate::report_sink::{ReportNotice, ReportSink};
use crate::service::SystemMessage;
use crate::store::Store;
use crate::testing::fixtures::Fixture;

/// A sink that records (reporter, message body, first) of every notice.
#[derive(Default)]
struct RecordingSink {
    notices: Mutex<Vec<(String, String, bool)>>,
}

#[async_trait]
impl ReportSink for RecordingSink {
    async fn report(&self, notice: ReportNotice<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let entry = (
            notice.report.reporter.to_string(),
            notice.message.body.clone(),
            notice.first,
        );
        self.notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(entry);
        Ok(())
    }
}

/// A member reports another user's message once: a repeat keeps the first report, the sink
/// hears of both with the message's body; one's own, a system or a deleted message, an
/// outsider and a bad note are refused and store nothing; reports move no counter.
pub async fn members_report_others_messages_once_and_the_sink_is_told(store: Arc<dyn Store>) {
    let limits = Limits {
        report_note_max_chars: 20,
        ..Limits::default()
    };
    let mut fx = Fixture::with_limits(store, 3, limits);
    let sink = Arc::new(RecordingSink::default());
    fx.services = fx.services.clone().with_report_sink(sink.clone());
    let reports = fx.services.reports();
    let direct = fx.direct(0, 1).await;
    let rude = fx.send(1, direct, "pay me outside the app").await;
    let mine = fx.send(0, direct, "no thanks").await;
    let before = fx.conversations().get(fx.user(0), direct).await.expect("get");

    let (report, created) = reports
        .report(
            fx.user(0),
            direct,
            rude.id,
            ReportReason::Scam,
            Some("  asked for cash  "),
        )
        .await
        .expect("report");
    assert!(created);
    assert_eq!(report.reason, ReportReason::Scam);
    assert_eq!(report.note.as_deref(), Some("asked for cash"), "the note is trimmed");
    assert_eq!((report.message_id, report.conversation_id), (rude.id, direct));
    let (again, created) = reports
        .report(fx.user(0), direct, rude.id, ReportReason::Spam, None)
        .await
        .expect("repeat");
    assert!(!created, "one report per user and message");
    assert_eq!(again, report, "a repeat keeps the first report");

    let refused = [
        reports
            .report(fx.user(0), direct, mine.id, ReportReason::Other, None)
            .await,
        reports
            .report(fx.user(2), direct, rude.id, ReportReason::Other, None)
            .await,
        reports
            .report(fx.user(0), direct, MessageId::new_v7(), ReportReason::Other, None)
            .await,
        reports
            .report(
                fx.user(1),
                direct,
                mine.id,
                ReportReason::Other,
                Some("far too long a note here"),
            )
            .await,
        reports
            .report(fx.user(1), direct, mine.id, ReportReason::Other, Some("bell \u{7}"))
            .await,
    ];
    let kinds: Vec<String> = refused
        .into_iter()
        .map(|result| match result {
            Err(ChatError::PermissionDenied { .. }) => "denied".to_owned(),
            Err(ChatError::NotFound { what }) => format!("no {what}"),
            Err(ChatError::Validation(fields)) => fields.fields().keys().cloned().collect::<Vec<_>>().join(","),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["denied", "no conversation", "no message", "note", "note"]);

    let unchanged = fx.conversations().get(fx.user(0), direct).await.expect("get");
    assert_eq!(
        (
            unchanged.conversation.last_seq,
            unchanged.conversation.last_activity_at,
            unchanged.unread_count()
        ),
        (
            before.conversation.last_seq,
            before.conversation.last_activity_at,
            before.unread_count()
        ),
        "reports move neither activity nor badges"
    );
    fx.messages().delete(fx.user(0), direct, mine.id).await.expect("delete");
    let deleted = reports
        .report(fx.user(1), direct, mine.id, ReportReason::Abuse, None)
        .await;
    assert!(matches!(deleted, Err(ChatError::Conflict { .. })), "{deleted:?}");
    let system = fx
        .messages()
        .send_system(&fx.tenant, direct, SystemMessage::text("Order shipped"))
        .await
        .expect("system message");
    let system = reports
        .report(fx.user(1), direct, system.message.id, ReportReason::Spam, None)
        .await;
    assert!(matches!(system, Err(ChatError::PermissionDenied { .. })), "{system:?}");

    let listed = reports.list(fx.user(0)).await.expect("list");
    assert_eq!(listed, [report]);
    assert!(reports.list(fx.user(1)).await.expect("list").is_empty());
    assert!(reports.list(fx.user(2)).await.expect("list").is_empty());
    let notices = sink
        .notices
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let reporter = fx.user(0).user.to_string();
    assert_eq!(
        notices,
        [
            (reporter.clone(), "pay me outside the app".to_owned(), true),
            (reporter, "pay me outside the app".to_owned(), false),
        ]
    );
}

/// Sixteen tasks of one user reporting one message at once store exactly one report.
pub async fn sixteen_racing_reports_of_one_message_store_one(store: Arc<dyn Store>) {
    let fx = Fixture::new(store, 2);
    let group = fx.group(0, &[1]).await;
    let message = fx.send(1, group, "spam spam spam").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let fx = fx.clone();
            tokio::spawn(async move {
                fx.services
                    .reports()
                    .report(fx.user(0), group, message.id, ReportReason::Spam, None)
                    .await
                    .expect("report")
            })
        })
        .collect();
    let mut created = 0;
    let mut stored = Vec::new();
    for task in tasks {
        let (report, new) = task.await.expect("task");
        created += usize::from(new);
        stored.push(report);
    }
    assert_eq!(created, 1, "exactly one report is new");
    stored.dedup();
    assert_eq!(stored.len(), 1, "every call answered with the one stored report");
    assert_eq!(fx.services.reports().list(fx.user(0)).await.expect("list").len(), 1);
}
