//! Reports of messages: validation, the store's one-per-user rule, and the hand-over to
//! the host's [`ReportSink`](crate::ReportSink).

use crate::error::ChatResult;
use crate::ids::{ConversationId, Identity, MessageId};
use crate::model::{Report, ReportReason};
use crate::report_sink::ReportNotice;
use crate::store::NewReport;
use crate::validate;

use super::ChatServices;

/// Reporting messages ([`ChatServices::reports`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReportService {
    pub(super) ctx: ChatServices,
}

impl ReportService {
    /// Reports `message` of `conversation` for `reason`, with an optional `note`; `true`
    /// when the report is new. At most one report per user and message: a repeat returns
    /// the stored report and changes nothing. The host's sink, if any, is told either way
    /// (see [`crate::ReportSink`]); the reported user is told nothing.
    ///
    /// Errors: `NotFound` for a conversation the actor is not in or a message not in it;
    /// `PermissionDenied` for one's own or a system message; `Conflict` for a deleted one;
    /// `Validation` on `note` (too long, control characters other than line breaks).
    pub async fn report(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        message: MessageId,
        reason: ReportReason,
        note: Option<&str>,
    ) -> ChatResult<(Report, bool)> {
        let ctx = &self.ctx;
        let note = validate::report_note(&ctx.limits, note)?;
        let new = NewReport {
            conversation,
            message,
            reason,
            note,
        };
        let reported = ctx.store.report_message(actor, new).await?;
        if reported.created {
            tracing::debug!(conversation_id = %conversation, message_id = %message, user_id = %actor.user, "message reported");
        }
        if let Some(sink) = &ctx.report_sink {
            let notice = ReportNotice {
                tenant: &actor.tenant,
                report: &reported.report,
                message: &reported.message,
                first: reported.created,
            };
            if let Err(error) = sink.report(notice).await {
                tracing::warn!(conversation_id = %conversation, message_id = %message, user_id = %actor.user, %error, "the report sink failed; the report is stored");
            }
        }
        Ok((reported.report, reported.created))
    }

    /// The actor's reports, by message id.
    pub async fn list(&self, actor: &Identity) -> ChatResult<Vec<Report>> {
        self.ctx.store.reports_by(actor).await
    }
}
