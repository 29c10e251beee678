//! Attachments: uploads streamed into the host's object store, downloads by participants
//! only, and the sweep that removes what nobody can read any more.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::attachment::{AllowedTypes, Attachment, SNIFF_BYTES, UploadedFile, image_dimensions, sniff};
use crate::error::{ChatError, ChatResult};
use crate::ids::{AttachmentId, ConversationId, Identity};
use crate::model::now;
use crate::validate;

use super::ChatServices;

/// Parts in flight to the object store per upload: with the default 5 MiB part size an
/// upload holds at most about three parts in memory, however large the file.
const PARTS_IN_FLIGHT: usize = 2;

/// Records the sweep handles per store call.
const SWEEP_BATCH: usize = 100;

/// Where attachment bytes go, and what is accepted: set by
/// [`ChatServices::with_attachments`].
#[derive(Clone, Debug)]
pub(super) struct AttachmentConfig {
    pub(super) objects: Arc<dyn ObjectStore>,
    pub(super) allowed: AllowedTypes,
    pub(super) signer: Option<(Arc<dyn DownloadSigner>, Duration)>,
}

/// Signs download URLs, for hosts whose object store serves clients directly (S3, GCS,
/// Azure): set with [`ChatServices::with_attachment_signer`], downloads then answer a
/// redirect to the signed URL after the membership check, and the bytes never pass
/// through this server. With object_store's `aws` feature, a host wraps its `AmazonS3`
/// (an `object_store::signer::Signer`):
///
/// ```ignore
/// #[async_trait::async_trait]
/// impl chat_core::DownloadSigner for S3Links {
///     async fn signed_url(&self, path: &object_store::path::Path, ttl: Duration) -> ChatResult<String> {
///         let url = self.0.signed_url(object_store::signer::Method::GET, path, ttl).await;
///         Ok(url.map_err(ChatError::backend)?.to_string())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait DownloadSigner: std::fmt::Debug + Send + Sync + 'static {
    /// A URL that lets its holder GET the object at `path` for `ttl`.
    async fn signed_url(&self, path: &object_store::path::Path, ttl: Duration) -> ChatResult<String>;
}

/// A byte range a download asks for (HTTP `Range: bytes=…`, one range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `first..=last`.
    Bounded {
        /// The first byte.
        first: u64,
        /// The last byte, inclusive (clamped to the end of the file).
        last: u64,
    },
    /// From this byte to the end.
    From(u64),
    /// The last this many bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The bytes this range names in a file of `size` bytes, or `None` when it names none
    /// (HTTP 416).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            Self::Bounded { first, last } if first <= last => first..last.saturating_add(1).min(size),
            Self::Bounded { .. } => return None,
            Self::From(first) => first..size,
            Self::Suffix(length) => size.saturating_sub(length)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

/// What a download asks for besides the attachment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadRequest {
    /// One byte range, if any.
    pub range: Option<ByteRange>,
    /// The ETag the client holds (`If-None-Match`).
    pub if_none_match: Option<String>,
}

/// The answer of [`AttachmentService::download`]: the record and its content.
pub struct Download {
    /// The attachment (name, sniffed type, size).
    pub attachment: Attachment,
    /// What to send.
    pub content: DownloadContent,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("attachment", &self.attachment.id)
            .finish_non_exhaustive()
    }
}

/// The content of a [`Download`].
#[non_exhaustive]
pub enum DownloadContent {
    /// The bytes, streamed from the object store.
    Bytes {
        /// The bytes of `range`.
        stream: BoxStream<'static, ChatResult<Bytes>>,
        /// Which bytes: the whole file, or the range asked for.
        range: Range<u64>,
        /// True when `range` answers a range request (HTTP 206).
        partial: bool,
        /// The object store's ETag, when it gives one.
        etag: Option<String>,
    },
    /// The client's ETag is current (HTTP 304).
    NotModified {
        /// That ETag.
        etag: String,
    },
    /// The range names no byte of the file (HTTP 416).
    RangeNotSatisfiable,
    /// A signed URL of the object store to send the client to (HTTP 307), when the host
    /// configured a signer ([`ChatServices::with_attachment_signer`]).
    Redirect {
        /// The signed URL.
        url: String,
    },
}

/// What one [`AttachmentService::sweep`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Attachments whose bytes and record were removed.
    pub removed: usize,
}

/// Uploading, downloading and sweeping attachments. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AttachmentService {
    pub(super) ctx: ChatServices,
}

impl AttachmentService {
    fn config(&self) -> ChatResult<&AttachmentConfig> {
        self.ctx
            .attachments
            .as_deref()
            .ok_or(ChatError::NotEnabled { feature: "attachments" })
    }

    /// Uploads a file named `name` into a conversation the actor is in, streaming `body`
    /// into the object store: never more than a few parts of it are held in memory. The
    /// record is written before the first byte ([`crate::rules::begin_upload`]); the type
    /// is sniffed from the first bytes ([`sniff`]) and must be allowed, whatever the client
    /// claimed; images get their dimensions. The answer is the actor's unsent upload, to be
    /// sent with [`crate::SendMessage::attachments`].
    ///
    /// Errors: `NotEnabled` without an object store; `RateLimited` past
    /// [`crate::Limits::uploads_per_hour`]; `Validation` on `name` or on `file`
    /// (empty, or a type the host does not allow); `TooLarge` past
    /// [`crate::Limits::attachment_max_bytes`]; `NotFound` for a conversation the actor is
    /// not in. On every error nothing of the upload stays behind: the multipart upload is
    /// aborted and the record removed.
    pub async fn upload<S, E>(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        name: &str,
        body: S,
    ) -> ChatResult<Attachment>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let config = self.config()?;
        let name = validate::attachment_name(&self.ctx.limits, name)?;
        let per_hour = self.ctx.limits.uploads_per_hour;
        let reservation = self.ctx.upload_limiter.take(per_hour, actor)?;
        let result = self
            .upload_within_budget(actor, conversation, &name, body, config)
            .await;
        if result.is_err() {
            self.ctx.upload_limiter.give_back(per_hour, actor, reservation);
        }
        result
    }

    /// [`Self::upload`] once the upload has its token.
    async fn upload_within_budget<S, E>(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        name: &str,
        body: S,
        config: &AttachmentConfig,
    ) -> ChatResult<Attachment>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let store = &self.ctx.store;
        let attachment = store.begin_upload(actor, conversation, name).await?;
        let path = Attachment::object_path(attachment.id);
        let upload = match config.objects.put_multipart(&path).await {
            Ok(upload) => WriteMultipart::new(upload),
            Err(error) => {
                self.abandon(actor, attachment.id).await;
                return Err(ChatError::backend(error));
            }
        };
        match self.stream_into(upload, body, config).await {
            Ok(uploaded) => match store.finish_upload(actor, attachment.id, uploaded).await {
                Ok(finished) => {
                    tracing::debug!(conversation_id = %conversation, attachment_id = %finished.id, size = finished.size, "attachment uploaded");
                    Ok(finished)
                }
                Err(error) => {
                    if let Err(delete) = config.objects.delete(&path).await {
                        tracing::warn!(attachment_id = %attachment.id, error = %delete, "removing a refused upload's bytes failed; the sweep will");
                    }
                    self.abandon(actor, attachment.id).await;
                    Err(error)
                }
            },
            Err(error) => {
                self.abandon(actor, attachment.id).await;
                Err(error)
            }
        }
    }

    /// Streams `body` into `upload`, sniffing its head, within the size limit; aborts the
    /// upload on any error.
    async fn stream_into<S, E>(
        &self,
        mut upload: WriteMultipart,
        body: S,
        config: &AttachmentConfig,
    ) -> ChatResult<UploadedFile>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let limit = self.ctx.limits.attachment_max_bytes;
        let mut body = std::pin::pin!(body);
        let mut head: Vec<u8> = Vec::new();
        let mut sniffed: Option<(String, Option<(u32, u32)>)> = None;
        let mut size: u64 = 0;
        let outcome: ChatResult<()> = async {
            loop {
                let chunk = match body.next().await {
                    Some(Ok(chunk)) => Some(chunk),
                    // The client's body broke off (a cancelled upload, a dropped connection):
                    // the client's doing, not the server's.
                    Some(Err(error)) => {
                        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
                        tracing::debug!(%error, "an upload's body broke off");
                        return Err(ChatError::invalid("file", "the upload was interrupted"));
                    }
                    None => None,
                };
                let done = chunk.is_none();
                if let Some(chunk) = &chunk {
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(ChatError::TooLarge {
                            what: "attachment",
                            limit,
                        });
                    }
                }
                if sniffed.is_none() {
                    if let Some(chunk) = &chunk {
                        head.extend_from_slice(chunk);
                    }
                    if head.len() < SNIFF_BYTES && !done {
                        continue;
                    }
                    if head.is_empty() {
                        return Err(ChatError::invalid("file", "must not be empty"));
                    }
                    let probe = &head[..head.len().min(SNIFF_BYTES)];
                    let content_type = sniff(probe, done && head.len() <= SNIFF_BYTES);
                    if !config.allowed.allows(&content_type) {
                        return Err(ChatError::invalid(
                            "file",
                            format!("a {content_type} file is not allowed here"),
                        ));
                    }
                    let dimensions = content_type
                        .starts_with("image/")
                        .then(|| image_dimensions(probe))
                        .flatten();
                    sniffed = Some((content_type, dimensions));
                    upload.write(&std::mem::take(&mut head));
                } else if let Some(chunk) = chunk {
                    upload.put(chunk);
                }
                if done {
                    return Ok(());
                }
                upload
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(ChatError::backend)?;
            }
        }
        .await;
        match (outcome, sniffed) {
            (Ok(()), Some((content_type, dimensions))) => {
                upload.finish().await.map_err(ChatError::backend)?;
                Ok(UploadedFile {
                    content_type,
                    size,
                    dimensions,
                })
            }
            (outcome, _) => {
                if let Err(error) = upload.abort().await {
                    tracing::warn!(%error, "aborting a refused upload failed");
                }
                Err(outcome
                    .err()
                    .unwrap_or_else(|| ChatError::invalid("file", "must not be empty")))
            }
        }
    }

    /// Removes the record of a refused upload; a failure is logged and left to the sweep.
    async fn abandon(&self, actor: &Identity, attachment: AttachmentId) {
        if let Err(error) = self.ctx.store.abandon_upload(actor, attachment).await {
            tracing::warn!(attachment_id = %attachment, %error, "removing a refused upload's record failed; the sweep will");
        }
    }

    /// An attachment of a conversation the actor is in, with its bytes: any participant's
    /// once sent (unless the actor cleared the history that holds its message), only the
    /// uploader's own before ([`crate::rules::is_readable`]); with a
    /// signer configured, a signed URL instead of the bytes.
    ///
    /// Errors: `NotEnabled` without an object store; `NotFound` (the same for a
    /// conversation the actor is not in as for an unknown id) for anything else.
    pub async fn download(
        &self,
        actor: &Identity,
        conversation: ConversationId,
        attachment: AttachmentId,
        request: DownloadRequest,
    ) -> ChatResult<Download> {
        let config = self.config()?;
        let attachment = self.ctx.store.attachment(actor, conversation, attachment).await?;
        let path = Attachment::object_path(attachment.id);
        if let Some((signer, ttl)) = &config.signer {
            let url = signer.signed_url(&path, *ttl).await?;
            return Ok(Download {
                attachment,
                content: DownloadContent::Redirect { url },
            });
        }
        let range = match request.range {
            Some(asked) => match asked.resolve(attachment.size) {
                Some(range) => Some(range),
                None => {
                    return Ok(Download {
                        attachment,
                        content: DownloadContent::RangeNotSatisfiable,
                    });
                }
            },
            None => None,
        };
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            if_none_match: request.if_none_match.clone(),
            ..GetOptions::default()
        };
        let got = match config.objects.get_opts(&path, options).await {
            Ok(got) => got,
            Err(object_store::Error::NotModified { .. }) => {
                return Ok(Download {
                    attachment,
                    content: DownloadContent::NotModified {
                        etag: request.if_none_match.unwrap_or_default(),
                    },
                });
            }
            Err(object_store::Error::NotFound { .. }) => {
                tracing::warn!(attachment_id = %attachment.id, "an attachment's bytes are missing");
                return Err(ChatError::attachment_not_found());
            }
            Err(error) => return Err(ChatError::backend(error)),
        };
        let etag = got.meta.e_tag.clone();
        let served = got.range.clone();
        let stream = got.into_stream().map_err(ChatError::backend).boxed();
        Ok(Download {
            attachment,
            content: DownloadContent::Bytes {
                stream,
                range: served,
                partial: range.is_some(),
                etag,
            },
        })
    }

    /// Removes what nobody can read any more: the bytes and records of attachments of
    /// deleted messages, and of uploads not sent within
    /// [`crate::Limits::unsent_upload_ttl`] (among them uploads whose process died). The
    /// host calls it from time to time (the example runs it hourly); running it on several
    /// nodes at once is safe. Bytes go before records, so a sweep that dies half-way is
    /// finished by the next one. Every tenant's, so the object store must hold them all;
    /// a host with one object store per tenant calls [`Self::sweep_tenant`] instead.
    pub async fn sweep(&self) -> ChatResult<SweepReport> {
        self.sweep_in(None).await
    }

    /// As [`Self::sweep`], for the attachments of one tenant only.
    pub async fn sweep_tenant(&self, tenant: &crate::ids::TenantId) -> ChatResult<SweepReport> {
        self.sweep_in(Some(tenant)).await
    }

    async fn sweep_in(&self, tenant: Option<&crate::ids::TenantId>) -> ChatResult<SweepReport> {
        let config = self.config()?;
        let ttl = chrono::Duration::from_std(self.ctx.limits.unsent_upload_ttl).unwrap_or(chrono::Duration::MAX);
        let unsent_before = now()
            .checked_sub_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut report = SweepReport::default();
        loop {
            let batch = self
                .ctx
                .store
                .discard_stale_attachments(tenant, unsent_before, SWEEP_BATCH)
                .await?;
            for attachment in &batch {
                match config.objects.delete(&Attachment::object_path(attachment.id)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(error) => return Err(ChatError::backend(error)),
                }
            }
            let ids: Vec<AttachmentId> = batch.iter().map(|attachment| attachment.id).collect();
            self.ctx.store.forget_attachments(&ids).await?;
            report.removed += ids.len();
            if batch.len() < SWEEP_BATCH {
                tracing::debug!(removed = report.removed, "attachment sweep done");
                return Ok(report);
            }
        }
    }
}
