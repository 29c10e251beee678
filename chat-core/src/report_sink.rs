//! The moderation hook: a host's [`ReportSink`] is handed every report a user makes of a
//! message ([`crate::ReportService::report`]), after the store has kept it.

use async_trait::async_trait;

use crate::ids::TenantId;
use crate::model::{Message, Report};

/// A report as the sink sees it: the stored report and the message as it is now (its body
/// is what a moderator reviews).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReportNotice<'a> {
    /// The reporter's tenant.
    pub tenant: &'a TenantId,
    /// The report, as stored (for a repeat: the first one).
    pub report: &'a Report,
    /// The reported message.
    pub message: &'a Message,
    /// True the first time; false when the user reported the message again.
    pub first: bool,
}

/// The host's moderation queue ([`crate::ChatServices::with_report_sink`]).
///
/// Called after the report is stored, never inside a transaction, once per report call:
/// a repeat (the same user reporting the same message again) calls it again with
/// `first: false`, so a report whose hand-over failed reaches the sink when it is
/// repeated. Deduplicate on (reporter, message).
#[async_trait]
pub trait ReportSink: Send + Sync + 'static {
    /// Takes `notice`. An error is logged (with ids only); the report stays stored.
    async fn report(&self, notice: ReportNotice<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}
