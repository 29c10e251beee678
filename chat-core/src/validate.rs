//! Input validation against [`Limits`], done once, in the services.

use crate::error::{ChatError, FieldErrors};
use crate::limits::Limits;
use crate::model::Metadata;
use crate::tag::{Tag, TagFilter, TaggableId};

/// The ranges of Unicode's `Default_Ignorable_Code_Point` property (DerivedCoreProperties,
/// Unicode 15.1): characters a renderer draws as nothing, such as zero-width spaces and
/// joiners, the byte order mark, bidi controls, variation selectors and the Hangul fillers.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// The bidirectional formatting characters (Unicode's `Bidi_Control`): marks, embeddings,
/// overrides and isolates, which reorder the text around them ("Trojan Source").
const BIDI_CONTROLS: &[(char, char)] = &[
    ('\u{061C}', '\u{061C}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2066}', '\u{2069}'),
];

/// True for a bidirectional formatting character ([`BIDI_CONTROLS`]).
fn is_bidi_control(c: char) -> bool {
    BIDI_CONTROLS.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// True for a character that shows nothing on its own: [`is_invisible`] ones, U+2800
/// BRAILLE PATTERN BLANK, U+FFFC OBJECT REPLACEMENT CHARACTER and combining marks (which
/// only decorate a character before them). A text of only these is blank.
fn shows_nothing_alone(c: char) -> bool {
    is_invisible(c) || matches!(c, '\u{2800}' | '\u{FFFC}') || unicode_normalization::char::is_combining_mark(c)
}

/// True for an emoji of Unicode's emoji list (with or without its variation selector,
/// skin tones included), from the `emojis` crate's table.
fn is_listed_emoji(text: &str) -> bool {
    emojis::get(text).is_some()
        || emojis::get(&text.replace('\u{FE0F}', "")).is_some()
        || emojis::get(&format!("{text}\u{FE0F}")).is_some()
}

/// True for a character that shows nothing: whitespace, a control character or a
/// `Default_Ignorable_Code_Point` (zero-width, format and bidi controls, U+3164 HANGUL FILLER).
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || DEFAULT_IGNORABLE
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

/// A reaction's emoji, or a validation error on `emoji`: one grapheme (an emoji with its
/// modifiers, joiners and variation selectors is one) of at most
/// [`Limits::emoji_max_bytes`] bytes, not plain ASCII, not only invisible characters (a
/// lone zero-width joiner or variation selector), with no whitespace or control character,
/// and an emoji of Unicode's list (the `emojis` crate's table, skin tones included): not a
/// letter, a lone regional indicator or skin tone, a private-use character or an emoji
/// followed by invisible tag characters.
pub(crate) fn emoji(limits: &Limits, emoji: &str) -> Result<(), ChatError> {
    use unicode_segmentation::UnicodeSegmentation;
    let invalid = |message: String| Err(ChatError::invalid("emoji", message));
    if emoji.len() > limits.emoji_max_bytes {
        return invalid(format!("must be at most {} bytes", limits.emoji_max_bytes));
    }
    if emoji.graphemes(true).count() != 1
        || emoji.is_ascii()
        || emoji.chars().all(is_invisible)
        || emoji.chars().any(|c| c.is_whitespace() || c.is_control())
        || !is_listed_emoji(emoji)
    {
        return invalid("must be one emoji".into());
    }
    Ok(())
}

/// The body, trimmed, or a validation error on `body`. A body with no visible character
/// (only [`is_invisible`] ones, U+2800, U+FFFC or combining marks) is empty.
pub(crate) fn body(limits: &Limits, body: &str) -> Result<String, ChatError> {
    let trimmed = body.trim();
    if trimmed.chars().all(shows_nothing_alone) {
        return Err(ChatError::invalid("body", "must not be empty"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ChatError::invalid(
            "body",
            "must not contain control characters other than newlines and tabs",
        ));
    }
    let chars = trimmed.chars().count();
    if chars > limits.body_max_chars {
        return Err(ChatError::invalid(
            "body",
            format!("must be at most {} characters, got {chars}", limits.body_max_chars),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A report's note, trimmed (`None` when absent or empty), or a validation error on
/// `note`: at most [`Limits::report_note_max_chars`] characters, no control characters other
/// than newlines and tabs.
pub(crate) fn report_note(limits: &Limits, note: Option<&str>) -> Result<Option<String>, ChatError> {
    let Some(trimmed) = note.map(str::trim).filter(|note| !note.is_empty()) else {
        return Ok(None);
    };
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ChatError::invalid(
            "note",
            "must not contain control characters other than newlines and tabs",
        ));
    }
    let chars = trimmed.chars().count();
    if chars > limits.report_note_max_chars {
        return Err(ChatError::invalid(
            "note",
            format!(
                "must be at most {} characters, got {chars}",
                limits.report_note_max_chars
            ),
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

/// The body of a message that carries `attachments`: with none, as [`body`]; with some,
/// the body may also be empty (or only invisible characters, stored as empty). The ids
/// must be distinct and at most [`Limits::attachments_per_message`], else a validation
/// error on `attachment_ids`.
pub(crate) fn body_with_attachments(
    limits: &Limits,
    text: &str,
    attachments: &[crate::ids::AttachmentId],
) -> Result<String, ChatError> {
    if attachments.len() > limits.attachments_per_message {
        return Err(ChatError::invalid(
            "attachment_ids",
            format!("must be at most {}", limits.attachments_per_message),
        ));
    }
    let mut distinct = attachments.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != attachments.len() {
        return Err(ChatError::invalid("attachment_ids", "must not repeat an id"));
    }
    if !attachments.is_empty() && text.trim().chars().all(shows_nothing_alone) {
        return Ok(String::new());
    }
    body(limits, text)
}

/// An attachment's file name, trimmed, or a validation error on `name`: 1..=
/// [`Limits::attachment_name_max_chars`] characters, no control, zero-width, format or bidi
/// character, no path
/// separator (`/`, `\`) and not only dots (`.`, `..`).
pub(crate) fn attachment_name(limits: &Limits, name: &str) -> Result<String, ChatError> {
    let trimmed = name.trim();
    let invalid = |message: String| Err(ChatError::invalid("name", message));
    if trimmed.chars().all(is_invisible) {
        return invalid("must not be empty".into());
    }
    if trimmed.chars().count() > limits.attachment_name_max_chars {
        return invalid(format!(
            "must be at most {} characters",
            limits.attachment_name_max_chars
        ));
    }
    // Zero-width, format and bidi characters too (`photo\u{202E}gnp.bat` shows as
    // `phototab.png`): a file name shows what it is.
    let hidden = |c: char| c != ' ' && is_invisible(c);
    if trimmed.chars().any(|c| hidden(c) || c == '/' || c == '\\') || trimmed.chars().all(|c| c == '.') {
        return invalid("must be a file name, without control or invisible characters or path separators".into());
    }
    Ok(trimmed.to_owned())
}

/// The group title, trimmed.
pub(crate) fn title(limits: &Limits, title: &str) -> Result<String, ChatError> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(ChatError::invalid("title", "must not be empty"));
    }
    if trimmed.chars().count() > limits.title_max_chars {
        return Err(ChatError::invalid(
            "title",
            format!("must be at most {} characters", limits.title_max_chars),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ChatError::invalid("title", "must not contain control characters"));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(ChatError::invalid(
            "title",
            "must not contain bidirectional control characters",
        ));
    }
    if trimmed.chars().all(shows_nothing_alone) {
        return Err(ChatError::invalid("title", "must have a visible character"));
    }
    Ok(trimmed.to_owned())
}

/// The largest magnitude of an integer `taggable_id`: 2^53, the largest integer every JSON
/// client (JavaScript's `Number`) holds exactly.
pub const TAGGABLE_ID_MAX_MAGNITUDE: u64 = 1 << 53;

/// Tag lengths, and an integer id within [`TAGGABLE_ID_MAX_MAGNITUDE`].
pub(crate) fn tag(limits: &Limits, tag: &Tag) -> Result<(), ChatError> {
    let mut errors = FieldErrors::new();
    if tag.taggable_type.chars().count() > limits.taggable_type_max_chars {
        errors.add(
            "taggable_type",
            format!("must be at most {} characters", limits.taggable_type_max_chars),
        );
    }
    match &tag.taggable_id {
        TaggableId::Str(id) if id.chars().count() > limits.taggable_id_max_chars => errors.add(
            "taggable_id",
            format!("must be at most {} characters", limits.taggable_id_max_chars),
        ),
        TaggableId::Int(id) if id.unsigned_abs() > TAGGABLE_ID_MAX_MAGNITUDE => errors.add(
            "taggable_id",
            "must be at most 2^53 (9007199254740992) in magnitude; send larger ids as strings",
        ),
        _ => {}
    }
    errors.into_result()
}

/// What a `client_message_id` may contain, as a regular expression (the OpenAPI document
/// serves it): printable ASCII, so that its length in characters is its length in bytes.
pub const CLIENT_MESSAGE_ID_PATTERN: &str = "^[ -~]*$";

/// The retry key: 1..=limit printable ASCII characters ([`CLIENT_MESSAGE_ID_PATTERN`]),
/// the same rule for a host calling the services and for an HTTP client.
pub(crate) fn client_message_id(limits: &Limits, id: Option<&str>) -> Result<(), ChatError> {
    let Some(id) = id else { return Ok(()) };
    let printable = id.bytes().all(|byte| (b' '..=b'~').contains(&byte));
    if id.is_empty() || id.len() > limits.client_message_id_max_bytes || !printable {
        return Err(ChatError::invalid(
            "client_message_id",
            format!(
                "must be 1 to {} printable ASCII characters",
                limits.client_message_id_max_bytes
            ),
        ));
    }
    Ok(())
}

/// An inbox tag filter: the same rules as a tag ([`Tag::new`]) and its lengths.
pub(crate) fn tag_filter(limits: &Limits, filter: &TagFilter) -> Result<(), ChatError> {
    let id = filter.taggable_id.clone().unwrap_or(TaggableId::Int(0));
    let as_tag = Tag::new(filter.taggable_type.clone(), id)?;
    tag(limits, &as_tag)
}

/// The serialized size of a metadata object, and no NUL characters (which no database
/// text type stores).
pub(crate) fn metadata(limits: &Limits, metadata: &Metadata) -> Result<(), ChatError> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map.iter().any(|(key, value)| key.contains('\0') || has_nul(value)),
            _ => false,
        }
    }
    if metadata.iter().any(|(key, value)| key.contains('\0') || has_nul(value)) {
        return Err(ChatError::invalid("metadata", "must not contain NUL characters"));
    }
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |bytes| bytes.len());
    if size > limits.metadata_max_bytes {
        return Err(ChatError::invalid(
            "metadata",
            format!("must be at most {} bytes as JSON", limits.metadata_max_bytes),
        ));
    }
    Ok(())
}

/// A page size: the default when absent, otherwise 1..=page_max.
pub(crate) fn page_limit(limits: &Limits, limit: Option<usize>) -> Result<usize, ChatError> {
    match limit {
        None => Ok(limits.page_default),
        Some(limit) if (1..=limits.page_max).contains(&limit) => Ok(limit),
        Some(_) => Err(ChatError::invalid(
            "limit",
            format!("must be between 1 and {}", limits.page_max),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_is_one_grapheme_within_the_byte_limit() {
        let limits = Limits::default();
        for good in ["👍", "👍🏽", "❤️", "❤", "👩🏽‍💻", "🇪🇸", "👨‍👩‍👧"] {
            assert!(emoji(&limits, good).is_ok(), "{good:?} is one emoji");
        }
        for bad in ["", "a", ":+1:", "👍👍", " 👍", "\u{7}", "\u{200B}", "\u{FE0F}", "👨‍👩‍👧‍👦👨‍👩‍👧‍👦"]
        {
            assert!(emoji(&limits, bad).is_err(), "{bad:?} is refused");
        }
        // A family emoji with skin tones is one grapheme of 41 bytes: over the limit.
        let family = "👩🏻‍👩🏻‍👧🏻‍👦🏻";
        assert!(family.len() > 32);
        assert!(emoji(&limits, family).is_err());
    }

    /// Issue 32, item 8: a reaction is an emoji of Unicode's list, not any grapheme.
    #[test]
    fn a_reaction_is_a_listed_emoji() {
        let limits = Limits::default();
        for bad in [
            "é",
            "中",
            "\u{1F1E6}",
            "\u{1F3FD}",
            "\u{E000}",
            "👍\u{E0041}\u{E0042}",
            "\u{2800}",
            "\u{FFFC}",
        ] {
            assert!(emoji(&limits, bad).is_err(), "{bad:?} is not an emoji");
        }
    }

    /// Issue 32, item 8: titles need a visible character and refuse bidi controls; bodies of
    /// only U+2800, U+FFFC or combining marks are blank.
    #[test]
    fn blank_looking_text_and_bidi_controls_are_refused() {
        let limits = Limits::default();
        for blank in ["\u{2800}\u{2800}", "\u{FFFC}", "\u{0301}\u{0308}", "\u{200B}\u{2800}"] {
            assert!(body(&limits, blank).is_err(), "body {blank:?}");
            assert!(title(&limits, blank).is_err(), "title {blank:?}");
        }
        for bidi in ["\u{202E}", "Trip \u{202E}gnp.exe", "\u{2066}x\u{2069}", "a\u{200F}b"] {
            assert!(title(&limits, bidi).is_err(), "title {bidi:?}");
        }
        assert_eq!(body(&limits, "e\u{0301}").ok().as_deref(), Some("e\u{0301}"));
        assert_eq!(title(&limits, "Café ☕").ok().as_deref(), Some("Café ☕"));
        assert_eq!(title(&limits, "שלום").ok().as_deref(), Some("שלום"));
    }

    #[test]
    fn body_is_trimmed_and_bounded() {
        let limits = Limits::default();
        assert_eq!(body(&limits, "  hi \n").ok().as_deref(), Some("hi"));
        assert!(body(&limits, "   ").is_err());
        assert_eq!(
            body(&limits, "\u{200B}hi\u{200D}").ok().as_deref(),
            Some("\u{200B}hi\u{200D}")
        );
    }

    #[test]
    fn invisible_bodies_are_empty() {
        let limits = Limits::default();
        for invisible in [
            "\u{200B}",
            "\u{3164}",
            "\u{200D}\u{200C}\u{FEFF}\u{2060}",
            "\u{202E}\u{2066}\u{2069}\u{200E}\u{200F}\u{061C}",
            " \u{200B} \u{FE0F}\u{115F}\u{FFA0} ",
        ] {
            let error = body(&limits, invisible).expect_err(invisible);
            assert!(
                error
                    .field_errors()
                    .is_some_and(|errors| errors.fields().contains_key("body")),
                "{invisible:?}"
            );
        }
        assert!(body(&limits, "\u{3164}a").is_ok());
        assert!(body(&limits, "\u{1F44D}").is_ok(), "an emoji is visible");
        assert!(body(&limits, "a\0b").is_err());
        assert_eq!(body(&limits, "line\n\tnext").ok().as_deref(), Some("line\n\tnext"));
        assert!(body(&limits, &"é".repeat(4000)).is_ok());
        let error = body(&limits, &"é".repeat(4001)).expect_err("too long");
        assert!(
            error
                .field_errors()
                .is_some_and(|errors| errors.fields().contains_key("body"))
        );
    }

    #[test]
    fn metadata_rejects_nul_and_size() {
        let limits = Limits::default();
        let mut map = Metadata::new();
        map.insert("k".into(), serde_json::Value::String("a\0".into()));
        assert!(metadata(&limits, &map).is_err());
        map.insert("k".into(), serde_json::Value::String("x".repeat(5000)));
        assert!(metadata(&limits, &map).is_err());
        map.insert("k".into(), serde_json::Value::String("fine".into()));
        assert!(metadata(&limits, &map).is_ok());
    }

    #[test]
    fn client_message_ids_are_printable_ascii() {
        let limits = Limits::default();
        assert!(client_message_id(&limits, None).is_ok());
        assert!(client_message_id(&limits, Some("c-8f14e45f ~")).is_ok());
        assert!(client_message_id(&limits, Some("")).is_err());
        assert!(client_message_id(&limits, Some("é")).is_err(), "not ASCII");
        assert!(
            client_message_id(&limits, Some("a\u{7f}")).is_err(),
            "DEL is not printable"
        );
        assert!(client_message_id(&limits, Some("a\0")).is_err());
        let longest = "x".repeat(limits.client_message_id_max_bytes);
        assert!(client_message_id(&limits, Some(&longest)).is_ok());
        assert!(client_message_id(&limits, Some(&format!("{longest}x"))).is_err());
    }

    #[test]
    fn tag_filters_follow_the_tag_rules() {
        let limits = Limits::default();
        let filter = |kind: &str, id: Option<TaggableId>| TagFilter {
            taggable_type: kind.into(),
            taggable_id: id,
        };
        assert!(tag_filter(&limits, &filter("Order", None)).is_ok());
        assert!(tag_filter(&limits, &filter("Order", Some(TaggableId::Str("a-1".into())))).is_ok());
        assert!(
            tag_filter(&limits, &filter("\0", None)).is_err(),
            "NUL reached Postgres before"
        );
        assert!(tag_filter(&limits, &filter("Order", Some(TaggableId::Str("a\0".into())))).is_err());
        assert!(tag_filter(&limits, &filter(&"t".repeat(256), None)).is_err());
        assert!(tag_filter(&limits, &filter(" ", None)).is_err());
        let order = |id: i64| Tag::new("Order", id).expect("tag");
        assert!(tag(&limits, &order(1 << 53)).is_ok());
        assert!(tag(&limits, &order(-(1 << 53))).is_ok());
        assert!(tag(&limits, &order((1 << 53) + 1)).is_err(), "past 2^53");
        assert!(tag(&limits, &order(i64::MIN)).is_err());
    }

    #[test]
    fn page_limits() {
        let limits = Limits::default();
        assert_eq!(page_limit(&limits, None).ok(), Some(50));
        assert_eq!(page_limit(&limits, Some(100)).ok(), Some(100));
        assert!(page_limit(&limits, Some(0)).is_err());
        assert!(page_limit(&limits, Some(101)).is_err());
    }
}
