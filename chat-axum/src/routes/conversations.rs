//! `/conversations…`: starting, listing, reading, archiving and membership.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::{ArchiveFilter, InboxFilter, Metadata, NewGroupInput, StartDirect, Tag, TagFilter, TaggableId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiJson, ApiQuery, ConversationPath, OptionalJson, ParticipantPath, QueryCheck};
use crate::resources::{ConversationResource, Envelope, ListEnvelope, StatsResource, TaggableIdValue, UserRef};

type ConversationResponse = Json<Envelope<ConversationResource>>;

/// Body of `POST /conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participant_uuid": "seller-7", "taggable_type": "App\\Models\\Order", "taggable_id": 123}))]
pub struct StartConversationRequest {
    /// The other user (a host user id; an integer is taken as its decimal text).
    pub participant_uuid: UserRef,
    /// The kind of host object the conversation is about; with `taggable_id`.
    #[serde(default)]
    pub taggable_type: Option<String>,
    /// The host object's id, integer or string; with `taggable_type`.
    #[serde(default)]
    pub taggable_id: Option<TaggableIdValue>,
    /// Host-defined data, stored when the conversation is created.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

/// Body of `POST /conversations/groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participant_uuids": ["seller-7", "support-1"], "title": "Order 123"}))]
pub struct CreateGroupRequest {
    /// The other members (the caller is added as owner).
    pub participant_uuids: Vec<UserRef>,
    /// The group's title.
    pub title: String,
    /// The kind of host object the group is about; with `taggable_id`.
    #[serde(default)]
    pub taggable_type: Option<String>,
    /// The host object's id, integer or string; with `taggable_type`.
    #[serde(default)]
    pub taggable_id: Option<TaggableIdValue>,
    /// Host-defined data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

/// Body of `POST /conversations/{uuid}/read` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    /// Read up to this seq (clamped to the newest); absent: up to the newest message.
    #[serde(default, deserialize_with = "crate::resources::optional_seq")]
    pub up_to_seq: Option<u64>,
}

/// An empty body (`{}` or nothing at all).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Body of `POST /conversations/{uuid}/participants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participant_uuids": ["support-2"]}))]
pub struct AddParticipantsRequest {
    /// The users to add.
    pub participant_uuids: Vec<UserRef>,
}

/// Query of `GET /conversations`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// `true` or `1`: only archived conversations; `all`: both; absent, empty, `false` or
    /// `0`: the inbox.
    #[param(value_type = Option<String>, example = "false")]
    pub archived: Option<String>,
    /// Only conversations about this kind of host object.
    pub taggable_type: Option<String>,
    /// Only conversations about this host object (needs `taggable_type`).
    pub taggable_id: Option<String>,
    /// `true` or `1`: only conversations with unread messages (`false`, `0` or empty: all).
    #[param(value_type = Option<bool>)]
    pub unread: Option<String>,
    /// The `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// Query of `GET /conversations/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text to find in a participant's name or the title.
    #[param(required = true)]
    pub q: Option<String>,
    /// Most results, 1..=100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// A tag from the optional `taggable_type` and `taggable_id` of a body.
fn tag_of(taggable_type: Option<String>, taggable_id: Option<TaggableIdValue>) -> Result<Option<Tag>, ApiError> {
    match (taggable_type, taggable_id) {
        (None, None) => Ok(None),
        (Some(taggable_type), Some(taggable_id)) => Ok(Some(Tag::new(taggable_type, TaggableId::from(taggable_id))?)),
        (Some(_), None) => Err(ApiError::invalid("taggable_id", "is required with taggable_type")),
        (None, Some(_)) => Err(ApiError::invalid("taggable_type", "is required with taggable_id")),
    }
}

/// Start a direct conversation, or get the existing one.
///
/// There is at most one direct conversation per pair of users and tag: 201 when it was
/// created, 200 with the existing one.
#[utoipa::path(
    post,
    path = "/conversations",
    tag = "conversations",
    request_body = StartConversationRequest,
    responses(
        (status = 201, description = "Created.", body = Envelope<ConversationResource>),
        (status = 200, description = "The existing conversation.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "The caller may not start a conversation with this user (a neutral refusal); an existing one still opens.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Invalid input, e.g. an unknown user.", body = ValidationErrorBody),
        (status = 429, description = "Too many conversations started (`Limits::conversations_started_per_hour`); see `Retry-After`. Reopening an existing one never counts.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub(crate) async fn start_direct(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiJson(request): ApiJson<StartConversationRequest>,
) -> Result<(StatusCode, ConversationResponse), ApiError> {
    let counterpart = request.participant_uuid.to_user_id("participant_uuid")?;
    let input = StartDirect {
        counterpart,
        tag: tag_of(request.taggable_type, request.taggable_id)?,
        metadata: request.metadata.unwrap_or_default(),
    };
    let (view, created) = api.services.conversations().start_direct(&me, input).await?;
    let (status, message) = if created {
        (StatusCode::CREATED, "Conversation created.")
    } else {
        (StatusCode::OK, "Conversation retrieved.")
    };
    Ok((status, Json(Envelope::new(message, (&view).into()))))
}

/// Create a group.
#[utoipa::path(
    post,
    path = "/conversations/groups",
    tag = "conversations",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Invalid input: unknown users, too many, bad title.", body = ValidationErrorBody),
        (status = 429, description = "Too many conversations started (`Limits::conversations_started_per_hour`); see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub(crate) async fn create_group(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiJson(request): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, ConversationResponse), ApiError> {
    let limit = api.limits().group_max_participants;
    if request.participant_uuids.len() > limit.saturating_mul(2).max(limit + 1) {
        // Far past the limit: refuse before looking anyone up.
        return Err(ApiError::invalid(
            "participant_uuids",
            format!("a group has at most {limit} participants"),
        ));
    }
    let participants = request
        .participant_uuids
        .iter()
        .enumerate()
        .map(|(index, user)| user.to_user_id(&format!("participant_uuids.{index}")))
        .collect::<Result<Vec<_>, _>>()?;
    let input = NewGroupInput {
        participants,
        title: request.title,
        tag: tag_of(request.taggable_type, request.taggable_id)?,
        metadata: request.metadata.unwrap_or_default(),
    };
    let view = api.services.conversations().create_group(&me, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new("Conversation created.", (&view).into())),
    ))
}

/// The caller's inbox, newest activity first, in cursor pages.
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "conversations",
    params(InboxParams),
    responses(
        (status = 200, description = "A page of the inbox.", body = ListEnvelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 422, description = "Bad filter, cursor or limit.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn inbox(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiQuery(params): ApiQuery<InboxParams>,
) -> Result<Json<ListEnvelope<ConversationResource>>, ApiError> {
    let mut check = QueryCheck::default();
    let archive = match params.archived.as_deref() {
        None | Some("") => ArchiveFilter::Active,
        Some("all") => ArchiveFilter::All,
        Some(value) => match check.boolean("archived", Some(value)) {
            Some(true) => ArchiveFilter::Archived,
            _ => ArchiveFilter::Active,
        },
    };
    let unread_only = check.boolean("unread", params.unread.as_deref()).unwrap_or(false);
    let limit = check.number::<usize>("limit", params.limit.as_deref());
    let taggable_type = params.taggable_type.filter(|value| !value.is_empty());
    let taggable_id = params.taggable_id.filter(|value| !value.is_empty());
    let tag = match (taggable_type, taggable_id) {
        (Some(taggable_type), taggable_id) => Some(TagFilter {
            taggable_type,
            taggable_id: taggable_id.map(TaggableId::Str),
        }),
        (None, Some(_)) => {
            check.add("taggable_type", "is required with taggable_id");
            None
        }
        (None, None) => None,
    };
    check.finish()?;
    let filter = InboxFilter {
        archive,
        tag,
        unread_only,
        cursor: params.cursor.filter(|value| !value.is_empty()),
        limit,
    };
    let page = api.services.conversations().inbox(&me, filter).await?;
    let data = page.items.iter().map(ConversationResource::from).collect();
    Ok(Json(ListEnvelope::new(
        "Conversations retrieved.",
        data,
        page.next_cursor,
    )))
}

/// The caller's conversations whose title or other participant's name matches `q`.
#[utoipa::path(
    get,
    path = "/conversations/search",
    tag = "conversations",
    params(SearchParams),
    responses(
        (status = 200, description = "Matches in inbox order (one page).", body = ListEnvelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 422, description = "Missing or too long `q`, bad limit.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn search(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<ListEnvelope<ConversationResource>>, ApiError> {
    let mut check = QueryCheck::default();
    let limit = check.number::<usize>("limit", params.limit.as_deref());
    if params.q.is_none() {
        check.add("q", "is required");
    }
    check.finish()?;
    let query = params.q.unwrap_or_default();
    let views = api.services.conversations().search(&me, &query, limit).await?;
    let data = views.iter().map(ConversationResource::from).collect();
    Ok(Json(ListEnvelope::new("Conversations retrieved.", data, None)))
}

/// The caller's totals.
#[utoipa::path(
    get,
    path = "/conversations/stats",
    tag = "conversations",
    responses(
        (status = 200, description = "Totals over all the caller's conversations.", body = Envelope<StatsResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
    )
)]
pub(crate) async fn stats(
    State(api): State<ChatApi>,
    Caller(me): Caller,
) -> Result<Json<Envelope<StatsResource>>, ApiError> {
    let stats = api.services.conversations().stats(&me).await?;
    Ok(Json(Envelope::new("Stats retrieved.", stats.into())))
}

/// One conversation.
#[utoipa::path(
    get,
    path = "/conversations/{uuid}",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    responses(
        (status = 200, description = "The conversation.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn show(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
) -> Result<ConversationResponse, ApiError> {
    let view = api.services.conversations().get(&me, id).await?;
    Ok(Json(Envelope::new("Conversation retrieved.", (&view).into())))
}

/// Mark the conversation read for the caller, up to a seq or the newest message.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/read",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body(content = Option<MarkReadRequest>, description = "Optional; an empty body reads everything."),
    responses(
        (status = 200, description = "The conversation after reading.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or body.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn mark_read(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    OptionalJson(request): OptionalJson<MarkReadRequest>,
) -> Result<ConversationResponse, ApiError> {
    let view = api
        .services
        .conversations()
        .mark_read(&me, id, request.up_to_seq)
        .await?;
    Ok(Json(Envelope::new("Conversation marked as read.", (&view).into())))
}

/// Archive the conversation for the caller (until a new message arrives).
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/archive",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body(content = Option<EmptyRequest>, description = "None."),
    responses(
        (status = 200, description = "The conversation, archived.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or body.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn archive(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    OptionalJson(EmptyRequest {}): OptionalJson<EmptyRequest>,
) -> Result<ConversationResponse, ApiError> {
    let view = api.services.conversations().archive(&me, id).await?;
    Ok(Json(Envelope::new("Conversation archived.", (&view).into())))
}

/// Bring an archived conversation back to the caller's inbox.
#[utoipa::path(
    delete,
    path = "/conversations/{uuid}/archive",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    responses(
        (status = 200, description = "The conversation, not archived.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn unarchive(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
) -> Result<ConversationResponse, ApiError> {
    let view = api.services.conversations().unarchive(&me, id).await?;
    Ok(Json(Envelope::new("Conversation unarchived.", (&view).into())))
}

/// Hide the current history from the caller (the others keep theirs) and mark it read.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/clear",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation.")),
    request_body(content = Option<EmptyRequest>, description = "None."),
    responses(
        (status = 200, description = "The conversation after clearing.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or body.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn clear(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    OptionalJson(EmptyRequest {}): OptionalJson<EmptyRequest>,
) -> Result<ConversationResponse, ApiError> {
    let view = api.services.conversations().clear_history(&me, id).await?;
    Ok(Json(Envelope::new("History cleared.", (&view).into())))
}

/// Add users to a group.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/participants",
    tag = "conversations",
    params(("uuid" = uuid::Uuid, Path, description = "The group.")),
    request_body = AddParticipantsRequest,
    responses(
        (status = 200, description = "The group with its new members.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 409, description = "A direct conversation has no other members.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 415, description = "Body is not JSON.", body = ErrorBody),
        (status = 422, description = "Unknown users, too many members, malformed uuid.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn add_participants(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    ApiJson(request): ApiJson<AddParticipantsRequest>,
) -> Result<ConversationResponse, ApiError> {
    let limit = api.limits().group_max_participants;
    if request.participant_uuids.len() > limit.saturating_mul(2).max(limit + 1) {
        return Err(ApiError::invalid(
            "participant_uuids",
            format!("a group has at most {limit} participants"),
        ));
    }
    let users = request
        .participant_uuids
        .iter()
        .enumerate()
        .map(|(index, user)| user.to_user_id(&format!("participant_uuids.{index}")))
        .collect::<Result<Vec<_>, _>>()?;
    let view = api.services.conversations().add_participants(&me, id, users).await?;
    Ok(Json(Envelope::new("Participants added.", (&view).into())))
}

/// Remove a member from a group (the owner removes others; anyone removes themselves, which
/// is leaving).
#[utoipa::path(
    delete,
    path = "/conversations/{uuid}/participants/{user}",
    tag = "conversations",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The group."),
        ("user" = String, Path, description = "The member's host user id."),
    ),
    responses(
        (status = 200, description = "The group as it is afterwards.", body = Envelope<ConversationResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 403, description = "Only the owner removes others.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 409, description = "Not a group.", body = ErrorBody),
        (status = 422, description = "Malformed uuid or user id.", body = ValidationErrorBody),
    )
)]
pub(crate) async fn remove_participant(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: ParticipantPath,
) -> Result<ConversationResponse, ApiError> {
    let view = api
        .services
        .conversations()
        .remove_participant(&me, path.conversation, &path.user)
        .await?;
    Ok(Json(Envelope::new("Participant removed.", (&view).into())))
}
