//! Attachments: the records the chat store keeps of files uploaded into conversations, and
//! the content types a host allows.
//!
//! The bytes live in the host's [`object_store::ObjectStore`] under
//! [`Attachment::object_path`]; the chat store keeps the [`Attachment`] record, which walks
//! through [`AttachmentState`] by the rules of [`crate::rules`] (`begin_upload`,
//! `finish_upload`, `attach`, `discard_attachments`). A sent message carries an
//! [`AttachedFile`] copy of each of its attachments' immutable facts, so reading history
//! needs no second lookup.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AttachmentId, ConversationId, MessageId, TenantId, UserId};

/// Where an attachment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "message")]
pub enum AttachmentState {
    /// The record was written before the bytes; the upload has not finished (or its
    /// process died: the sweep removes it after [`crate::Limits::unsent_upload_ttl`]).
    Uploading,
    /// Uploaded and checked; its uploader may send it once, within a day.
    Unsent,
    /// Part of this message.
    Sent(MessageId),
    /// Its message was deleted, or it was never sent in time: unreadable at once, its
    /// bytes and record removed by the next sweep.
    Discarded,
}

/// An uploaded file, as the chat store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its id (UUID v7, so ids order by upload time).
    pub id: AttachmentId,
    /// The tenant of its conversation.
    pub tenant: TenantId,
    /// The conversation it was uploaded to; it can be sent only there.
    pub conversation_id: ConversationId,
    /// Who uploaded it; only they can send it.
    pub uploader: UserId,
    /// The file name the client gave (validated: no path, no control characters).
    pub name: String,
    /// The content type sniffed from the bytes (never the client's claim); empty while
    /// uploading.
    pub content_type: String,
    /// Its size in bytes; 0 while uploading.
    pub size: u64,
    /// Width in pixels, for images.
    pub width: Option<u32>,
    /// Height in pixels, for images.
    pub height: Option<u32>,
    /// When the upload began.
    pub created_at: DateTime<Utc>,
    /// Where it is in its life.
    pub state: AttachmentState,
}

impl Attachment {
    /// The key of its bytes in the host's object store: `attachments/<uuid>` (hosts that
    /// share a bucket wrap the store in an `object_store::prefix::PrefixStore`).
    pub fn object_path(id: AttachmentId) -> object_store::path::Path {
        object_store::path::Path::from_iter(["attachments".to_owned(), id.to_string()])
    }

    /// The facts a message keeps of it.
    pub fn file(&self) -> AttachedFile {
        AttachedFile {
            id: self.id,
            name: self.name.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
        }
    }
}

/// What a message keeps of each of its attachments: the immutable facts of the upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedFile {
    /// The attachment.
    pub id: AttachmentId,
    /// Its file name.
    pub name: String,
    /// Its sniffed content type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Width in pixels, for images.
    pub width: Option<u32>,
    /// Height in pixels, for images.
    pub height: Option<u32>,
}

/// What an upload turned out to be, written by [`crate::rules::finish_upload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedFile {
    /// The sniffed content type.
    pub content_type: String,
    /// The size in bytes.
    pub size: u64,
    /// Image dimensions, when it is an image.
    pub dimensions: Option<(u32, u32)>,
}

/// Content types sniffed from the bytes that a host accepts, and which of them a download
/// may show inline. The default: PNG, JPEG, GIF and WebP images (inline), PDF and plain
/// text (as downloads). SVG and HTML are never inline, even when allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedTypes {
    types: Vec<String>,
}

/// The images a download may show inline (raster formats only: no script inside).
const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Plain text: what a file with no magic number that is valid UTF-8 (and no NUL) is.
pub const PLAIN_TEXT: &str = "text/plain";

impl Default for AllowedTypes {
    fn default() -> Self {
        Self::new(INLINE_IMAGES.into_iter().chain(["application/pdf", PLAIN_TEXT]))
    }
}

impl AllowedTypes {
    /// Exactly these content types (as [`sniff`] names them, e.g. `image/png`,
    /// `application/zip`).
    pub fn new<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            types: types.into_iter().map(Into::into).collect(),
        }
    }

    /// True when `content_type` is allowed.
    pub fn allows(&self, content_type: &str) -> bool {
        self.types.iter().any(|allowed| allowed == content_type)
    }

    /// True when a download of `content_type` may be shown inline: an allowed raster image.
    pub fn is_inline(&self, content_type: &str) -> bool {
        self.allows(content_type) && INLINE_IMAGES.contains(&content_type)
    }

    /// The allowed types.
    pub fn types(&self) -> &[String] {
        &self.types
    }
}

/// How many leading bytes [`sniff`] and [`image_dimensions`] look at.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The content type of a file from its first bytes (at most [`SNIFF_BYTES`]), by magic
/// number (the `infer` crate), whatever the client claimed. A file with no magic number
/// whose leading bytes are UTF-8 text without control characters (but tabs, line breaks
/// and form feeds) is [`PLAIN_TEXT`] (unless it looks like
/// HTML or SVG, which are named as such so an allowlist can refuse them); anything else is
/// `application/octet-stream`. `complete` says the head is the whole file (so a UTF-8
/// sequence cut at its end is not forgiven).
pub fn sniff(head: &[u8], complete: bool) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        // A multi-byte character cut by the end of the sniffed head.
        Err(error) if !complete && error.error_len().is_none() && head.len() - error.valid_up_to() < 4 => {
            std::str::from_utf8(&head[..error.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(text)
            if !head.is_empty()
                && !text
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c')) =>
        {
            let start = text
                .trim_start()
                .get(..64)
                .unwrap_or(text.trim_start())
                .to_ascii_lowercase();
            if start.starts_with("<svg") || (start.starts_with("<?xml") && text.contains("<svg")) {
                "image/svg+xml".to_owned()
            } else if start.starts_with("<!doctype html") || start.starts_with("<html") || start.contains("<script") {
                "text/html".to_owned()
            } else {
                PLAIN_TEXT.to_owned()
            }
        }
        _ => "application/octet-stream".to_owned(),
    }
}

/// The largest side, in pixels, an image's stored dimensions may have: a header claiming
/// more (a "dimension bomb" of a few bytes that says 1 x 2,147,483,647) is not believed, and
/// the attachment is stored without dimensions, so no client sizes a box by it.
pub const MAX_IMAGE_SIDE: u32 = 20_000;

/// Width and height of an image from its first bytes, when its header says them and each
/// is 1..=[`MAX_IMAGE_SIDE`]; `None` otherwise (no dimensions are stored).
pub fn image_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let size = imagesize::blob_size(head).ok()?;
    let fits = |value: usize| {
        u32::try_from(value)
            .ok()
            .filter(|&value| (1..=MAX_IMAGE_SIDE).contains(&value))
    };
    Some((fits(size.width)?, fits(size.height)?))
}

/// The file name extensions that fit a sniffed content type; the first is the one
/// [`name_for_type`] adds.
fn extensions_of(content_type: &str) -> &'static [&'static str] {
    match content_type {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "image/svg+xml" => &["svg"],
        "application/pdf" => &["pdf"],
        PLAIN_TEXT => &["txt", "text", "log", "csv", "md"],
        "text/html" => &["html", "htm"],
        "text/xml" => &["xml"],
        "application/zip" => &["zip"],
        _ => &["bin"],
    }
}

/// `name` with an extension that fits `content_type`: kept when its extension is one of the
/// type's, else the type's extension is added (`invoice.html` sniffed as plain text becomes
/// `invoice.html.txt`), so a downloaded file never opens as something its bytes are not.
pub fn name_for_type(name: &str, content_type: &str) -> String {
    let extensions = extensions_of(content_type);
    let fits = name
        .rsplit_once('.')
        .is_some_and(|(_, extension)| extensions.iter().any(|known| extension.eq_ignore_ascii_case(known)));
    if fits {
        name.to_owned()
    } else {
        format!("{name}.{}", extensions[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 3, 0, 0, 0, 2, 8,
        6, 0, 0, 0,
    ];

    #[test]
    fn sniffing_reads_the_bytes_not_the_claim() {
        assert_eq!(sniff(PNG_1X1, true), "image/png");
        assert_eq!(image_dimensions(PNG_1X1), Some((3, 2)));
        assert_eq!(sniff(b"%PDF-1.7\n", true), "application/pdf");
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0", true),
            "application/vnd.microsoft.portable-executable"
        );
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        assert_ne!(sniff(&elf, true), PLAIN_TEXT);
        assert_ne!(sniff(b"\x7fELF\x02\x01\x01", true), PLAIN_TEXT);
        assert_eq!(sniff("hola, ¿qué tal?".as_bytes(), true), PLAIN_TEXT);
        assert_eq!(sniff(b"  <!DOCTYPE html><p>hi", true), "text/html");
        assert_eq!(
            sniff(b"<svg xmlns='http://www.w3.org/2000/svg'>", true),
            "image/svg+xml"
        );
        assert_eq!(
            sniff(b"<?xml version='1.0'?><svg>", true),
            "text/xml",
            "named by infer; never inline"
        );
        assert_eq!(sniff(b"a\0b", true), "application/octet-stream");
        assert_eq!(sniff(b"", true), "application/octet-stream");
        // A character cut by the end of the sniffed head is still text; at the end of the
        // whole file it is not.
        let cut = &"añ".as_bytes()[..2];
        assert_eq!(sniff(cut, false), PLAIN_TEXT);
        assert_eq!(sniff(cut, true), "application/octet-stream");
    }

    #[test]
    fn names_get_the_extension_of_what_the_bytes_are() {
        assert_eq!(name_for_type("bike.PNG", "image/png"), "bike.PNG");
        assert_eq!(name_for_type("invoice.html", PLAIN_TEXT), "invoice.html.txt");
        assert_eq!(name_for_type("setup.bat", PLAIN_TEXT), "setup.bat.txt");
        assert_eq!(name_for_type("photo", "image/jpeg"), "photo.jpg");
        assert_eq!(name_for_type("scan.jpeg", "image/jpeg"), "scan.jpeg");
        assert_eq!(name_for_type("a.pdf", "application/x-unknown"), "a.pdf.bin");
    }

    #[test]
    fn dimensions_past_what_stores_keep_are_ignored() {
        let mut huge = PNG_1X1.to_vec();
        huge[16..20].copy_from_slice(&0x8000_0000u32.to_be_bytes());
        assert_eq!(image_dimensions(&huge), None);
    }

    /// Issue 32, item 7: a 68-byte PNG claiming 1 x 2,147,483,647 gets no dimensions; a side
    /// up to [`MAX_IMAGE_SIDE`] is kept, one past it is not.
    #[test]
    fn a_dimension_bomb_gets_no_dimensions() {
        let with = |width: u32, height: u32| {
            let mut png = PNG_1X1.to_vec();
            png[16..20].copy_from_slice(&width.to_be_bytes());
            png[20..24].copy_from_slice(&height.to_be_bytes());
            image_dimensions(&png)
        };
        assert_eq!(with(1, 2_147_483_647), None);
        assert_eq!(with(2_147_483_647, 1), None);
        assert_eq!(
            with(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE),
            Some((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        );
        assert_eq!(with(MAX_IMAGE_SIDE + 1, 10), None);
        assert_eq!(with(640, 480), Some((640, 480)));
    }

    #[test]
    fn only_allowed_raster_images_are_inline() {
        let allowed = AllowedTypes::default();
        assert!(allowed.allows("image/png") && allowed.is_inline("image/png"));
        assert!(allowed.allows("application/pdf") && !allowed.is_inline("application/pdf"));
        assert!(!allowed.allows("image/svg+xml") && !allowed.is_inline("image/svg+xml"));
        let with_svg = AllowedTypes::new(["image/svg+xml", "text/html"]);
        assert!(with_svg.allows("image/svg+xml") && !with_svg.is_inline("image/svg+xml"));
        assert!(!with_svg.is_inline("text/html"));
        assert!(!AllowedTypes::new(["application/pdf"]).is_inline("image/png"));
    }
}
