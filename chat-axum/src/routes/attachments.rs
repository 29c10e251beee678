//! `POST /conversations/{uuid}/attachments` (upload, streamed) and
//! `GET /conversations/{uuid}/attachments/{attachment_uuid}` (download, members only).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_core::{ByteRange, DownloadContent, DownloadRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::ChatApi;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::extract::{ApiQuery, AttachmentPath, ConversationPath};
use crate::resources::{AttachmentResource, Envelope};

/// The policy every download answers with: nothing in the file may load, run or navigate,
/// even if a browser renders it.
pub const DOWNLOAD_CSP: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox";

/// Query of `POST /conversations/{uuid}/attachments`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file name to show (1..=255 characters, no path separators or control characters,
    /// not only dots).
    #[param(required = true)]
    pub name: Option<String>,
}

/// Upload a file into a conversation (members only). The body is the raw file, streamed to
/// the object store; its type is sniffed from the bytes, whatever `Content-Type` says, and
/// must be one the host allows (default: PNG, JPEG, GIF, WebP, PDF, plain text). Answers
/// the caller's unsent upload: send it with `attachment_ids` within a day.
#[utoipa::path(
    post,
    path = "/conversations/{uuid}/attachments",
    tag = "attachments",
    params(("uuid" = uuid::Uuid, Path, description = "The conversation."), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes."),
    responses(
        (status = 201, description = "Uploaded.", body = Envelope<AttachmentResource>),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not in it.", body = ErrorBody),
        (status = 413, description = "Larger than the attachment limit (default 10 MiB).", body = ErrorBody),
        (status = 422, description = "No or a bad `name`, an empty file, a type the host does not allow.", body = ValidationErrorBody),
        (status = 429, description = "Too many uploads this hour; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 501, description = "The server has no object store for attachments.", body = ErrorBody),
    )
)]
pub(crate) async fn upload(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    ConversationPath(id): ConversationPath,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Envelope<AttachmentResource>>), ApiError> {
    let Some(name) = params.name else {
        return Err(ApiError::invalid("name", "is required"));
    };
    let limit = api.limits().attachment_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    let attachment = api
        .services
        .attachments()
        .upload(&me, id, &name, body.into_data_stream())
        .await?;
    let resource = AttachmentResource::new(&attachment.file(), id, api.mount_path());
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new("Attachment uploaded.", resource)),
    ))
}

/// Download an attachment: any member once it is sent, only its uploader before. Streamed,
/// with `ETag` and one byte range when the object store gives them; `inline` only for the
/// raster images the host allows, `attachment` for everything else, always `nosniff` and a
/// sandboxing `Content-Security-Policy`. With a signer configured, a 307 to a signed URL.
#[utoipa::path(
    get,
    path = "/conversations/{uuid}/attachments/{attachment_uuid}",
    tag = "attachments",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The conversation."),
        ("attachment_uuid" = uuid::Uuid, Path, description = "The attachment."),
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=0-99`, `bytes=100-`, `bytes=-100`."),
        ("If-None-Match" = Option<String>, Header, description = "The ETag the client holds."),
    ),
    responses(
        (status = 200, description = "The file, as its sniffed type.", content_type = "*/*", body = Vec<u8>),
        (status = 206, description = "The range asked for.", content_type = "*/*", body = Vec<u8>),
        (status = 304, description = "The client's copy is current."),
        (status = 307, description = "Download from this signed URL (`Location`)."),
        (status = 401, description = "Unauthenticated.", body = ErrorBody),
        (status = 404, description = "No such attachment for the caller (also for a conversation the caller is not in).", body = ErrorBody),
        (status = 416, description = "The range names no byte of the file."),
        (status = 422, description = "Malformed ids.", body = ValidationErrorBody),
        (status = 501, description = "The server has no object store for attachments.", body = ErrorBody),
    )
)]
pub(crate) async fn download(
    State(api): State<ChatApi>,
    Caller(me): Caller,
    path: AttachmentPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let request = DownloadRequest {
        range: headers
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_range),
        if_none_match: headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .map(etag_candidates),
    };
    let download = api
        .services
        .attachments()
        .download(&me, path.conversation, path.attachment, request)
        .await
        .map_err(|error| match error {
            // The same 404 as a missing id, for a conversation the caller is not in.
            chat_core::ChatError::NotFound { .. } => ApiError::NotFound("attachment"),
            other => other.into(),
        })?;
    let attachment = &download.attachment;
    let inline = api
        .services
        .allowed_types()
        .is_some_and(|allowed| allowed.is_inline(&attachment.content_type));
    let mut response = match download.content {
        DownloadContent::Bytes {
            stream,
            range,
            partial,
            etag,
        } => {
            let mut response = Response::new(Body::from_stream(stream));
            let response_headers = response.headers_mut();
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(range.end - range.start));
            if partial {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let content_range = format!("bytes {}-{}/{}", range.start, range.end - 1, attachment.size);
                if let Ok(value) = HeaderValue::from_str(&content_range) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            if let Some(value) = etag.and_then(|etag| HeaderValue::from_str(&quoted_etag(&etag)).ok()) {
                response.headers_mut().insert(header::ETAG, value);
            }
            // Revalidated every time (cheap with the ETag), so that a deleted message's file
            // stops showing at once.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
            response
        }
        DownloadContent::NotModified { etag } => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            // The candidates' first tag, bare: the one the client sent.
            let sent = etag.split(',').next().unwrap_or_default().trim();
            if let Ok(value) = HeaderValue::from_str(&quoted_etag(sent)) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
            response
        }
        DownloadContent::RangeNotSatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", attachment.size)) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        DownloadContent::Redirect { url } => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            let location = HeaderValue::from_str(&url).map_err(ApiError::internal)?;
            response.headers_mut().insert(header::LOCATION, location);
            // A signed URL expires: the redirect must not outlive it in a cache.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ => return Err(ApiError::internal("unknown download content")),
    };
    let response_headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(&attachment.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response_headers.insert(header::CONTENT_TYPE, content_type);
    response_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response_headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOWNLOAD_CSP));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(inline, &attachment.name)) {
        response_headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// An entity tag as HTTP writes it: quoted (object stores such as `LocalFileSystem` give
/// them bare).
fn quoted_etag(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/\"") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// The tags of an `If-None-Match` in both forms, bare and quoted, without `W/`: object
/// stores compare the header with their own form, which is quoted for some
/// (`InMemory`, S3) and bare for others (`LocalFileSystem`).
fn etag_candidates(value: &str) -> String {
    let mut candidates = Vec::new();
    for tag in value.split(',').map(str::trim).filter(|tag| !tag.is_empty()) {
        if tag == "*" {
            candidates.push("*".to_owned());
            continue;
        }
        let bare = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
        candidates.push(bare.to_owned());
        candidates.push(format!("\"{bare}\""));
    }
    candidates.join(", ")
}

/// One range of a `Range: bytes=…` header; anything else (several ranges, other units,
/// garbage) is ignored and the whole file served, as RFC 9110 allows.
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    match (first.trim(), last.trim()) {
        ("", suffix) => suffix.parse().ok().map(ByteRange::Suffix),
        (first, "") => first.parse().ok().map(ByteRange::From),
        (first, last) => Some(ByteRange::Bounded {
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        }),
    }
}

/// `inline` or `attachment` with the file name in both forms of RFC 6266: an ASCII
/// fallback with anything unsafe replaced by `_`, and the exact name percent-encoded.
fn content_disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_one_span_are_read_and_others_ignored() {
        assert_eq!(
            parse_range("bytes=0-99"),
            Some(ByteRange::Bounded { first: 0, last: 99 })
        );
        assert_eq!(parse_range("bytes=100-"), Some(ByteRange::From(100)));
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=x-1"), None);
    }

    #[test]
    fn etags_are_quoted_out_and_unquoted_in() {
        assert_eq!(quoted_etag("1a-2b"), "\"1a-2b\"");
        assert_eq!(quoted_etag("\"1a\""), "\"1a\"");
        assert_eq!(etag_candidates("W/\"1a-2b\""), "1a-2b, \"1a-2b\"");
        assert_eq!(etag_candidates("1a, \"2b\""), "1a, \"1a\", 2b, \"2b\"");
        assert_eq!(etag_candidates("*"), "*");
    }

    #[test]
    fn file_names_cannot_break_out_of_the_header() {
        let header = content_disposition(false, "a\"b;c\r\nd.pdf");
        assert_eq!(
            header,
            "attachment; filename=\"a_b_c__d.pdf\"; filename*=UTF-8''a%22b%3Bc%0D%0Ad.pdf"
        );
        assert!(content_disposition(true, "foto ñ.png").starts_with("inline; filename=\"foto _.png\""));
    }
}
