//! The demo's moderation queue: every report of a message is logged (ids and the reason,
//! never the message's words), where a real marketplace would open a ticket.

use chat_core::{ReportNotice, ReportSink};

/// Logs each report at `info`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoggedReports;

#[async_trait::async_trait]
impl ReportSink for LoggedReports {
    async fn report(&self, notice: ReportNotice<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tracing::info!(
            tenant = %notice.tenant,
            reporter = %notice.report.reporter,
            message_id = %notice.report.message_id,
            conversation_id = %notice.report.conversation_id,
            reason = notice.report.reason.as_str(),
            first = notice.first,
            "message reported"
        );
        Ok(())
    }
}
