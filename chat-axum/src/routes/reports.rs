//! `POST /conversations/{uuid}/messages/{message_uuid}/report`: a member reports another
//! user's message to the host's moderation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::{Report, ReportReason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiJson, MessagePath};
use crate::resources::{Envelope, timestamp};

/// Why a message is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportReasonResource {
    /// Unwanted advertising or repeated messages.
    Spam,
    /// Insults, threats, harassment.
    Abuse,
    /// Fraud, phishing, payment outside the platform.
    Scam,
    /// Sexual, violent or otherwise inappropriate content.
    Inappropriate,
    /// Anything else (say what in the note).
    Other,
}

impl From<ReportReasonResource> for ReportReason {
    fn from(reason: ReportReasonResource) -> Self {
        match reason {
            ReportReasonResource::Spam => Self::Spam,
            ReportReasonResource::Abuse => Self::Abuse,
            ReportReasonResource::Scam => Self::Scam,
            ReportReasonResource::Inappropriate => Self::Inappropriate,
            ReportReasonResource::Other => Self::Other,
        }
    }
}

impl From<ReportReason> for ReportReasonResource {
    fn from(reason: ReportReason) -> Self {
        match reason {
            ReportReason::Spam => Self::Spam,
            ReportReason::Abuse => Self::Abuse,
            ReportReason::Scam => Self::Scam,
            ReportReason::Inappropriate => Self::Inappropriate,
            _ => Self::Other,
        }
    }
}

/// Body of a report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "scam", "note": "Asked me to pay outside the app"}))]
pub struct ReportRequest {
    /// Why.
    pub reason: ReportReasonResource,
    /// More words for the moderator (trimmed; at most `Limits::report_note_max_chars`).
    #[serde(default)]
    pub note: Option<String>,
}

/// A report as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResource {
    /// The reported message.
    pub message_uuid: uuid::Uuid,
    /// The conversation of the message.
    pub conversation_uuid: uuid::Uuid,
    /// Why.
    pub reason: ReportReasonResource,
    /// The reporter's note.
    #[schema(required = true)]
    pub note: Option<String>,
    /// When it was made (a repeat keeps the first report).
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-10-15T10:30:00.000000Z")]
    pub created_at: DateTime<Utc>,
}

impl From<&Report> for ReportResource {
    fn from(report: &Report) -> Self {
        Self {
            message_uuid: *report.message_id.as_uuid(),
            conversation_uuid: *report.conversation_id.as_uuid(),
            reason: report.reason.into(),
            note: report.note.clone(),
            created_at: report.created_at,
        }
    }
}

/// Report another user's message to the host's moderation. Members only; one report per
/// user and message: a repeat is accepted too and changes nothing (the first report
/// stands). The reported user is told nothing.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/messages/{message_uuid}/report",
    tag = "messages",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("message_uuid" = uuid::Uuid, Path, description = "The message."),
    ),
    request_body = ReportRequest,
    responses(
        (status = 202, description = "Received (also for a repeat); the report as stored.", body = Envelope<ReportResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "One's own or a system message.", body = ErrorBody),
        (status = 404, description = "No such conversation or message for the caller.", body = ErrorBody),
        (status = 409, description = "The message is deleted.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Unknown reason, too long a note, malformed ids.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn report(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: MessagePath,
    ApiJson(request): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<Envelope<ReportResource>>), ApiError> {
    let (report, _) = api
        .services
        .reports()
        .report(
            &me,
            path.conversation,
            path.message,
            request.reason.into(),
            request.note.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Envelope::new("Report received.", ReportResource::from(&report))),
    ))
}
