//! [`ContactMasking`] (feature `contact-masking`): a ready [`MessagePolicy`] for
//! marketplaces that keep deals on the platform. It replaces phone numbers, e-mail
//! addresses (also spelled out, `ana(at)mail(dot)com`) and links (`https://…`, `www.…`,
//! `wa.me/…`, `t.me/…`, bare domains) with a placeholder, and allows everything else.
//!
//! A phone number is a run of 9 to 15 digits with at most one space, dash or bracket
//! between them, starting with `+`, `(` or a group of at least 3 digits: `+34 612 34 56 78`,
//! `612-345-678`, `612345678`, `(555) 123-4567`. Prices, times, dates, sizes and numbers of
//! up to 8 digits are left alone (a 9-digit order number is masked: write it with `#`
//! and a space, or change the pattern). Hosts with other needs copy this file and change
//! the patterns.

use async_trait::async_trait;
use regex::Regex;

use super::{Draft, MessagePolicy, PolicyDecision};

/// What a masked contact becomes unless [`ContactMasking::with_placeholder`] says otherwise.
pub const DEFAULT_PLACEHOLDER: &str = "[hidden]";

/// Masks phone numbers, e-mail addresses and links in sends and edits (see the module).
#[derive(Clone, Debug)]
pub struct ContactMasking {
    email: Regex,
    link: Regex,
    phone: Regex,
    placeholder: String,
}

impl Default for ContactMasking {
    fn default() -> Self {
        Self::new()
    }
}

/// A pattern of this file; they are constants, so one that does not compile is a bug that
/// the tests catch.
fn pattern(source: &str) -> Regex {
    Regex::new(source).unwrap_or_else(|error| unreachable!("a built-in pattern: {error}"))
}

impl ContactMasking {
    /// The policy with the placeholder `[hidden]`.
    pub fn new() -> Self {
        // An address: the usual `@` form; `(at)` or `[at]` with real or spelled-out dots;
        // a spaced ` at ` only with spelled-out dots (`ana at mail dot com`), so that "at
        // home.Call me" stays. The top-level label is letters: "there at 5.30" is no address.
        let dot = r"(?:\s*[(\[]\s*dot\s*[)\]]\s*|\s+dot\s+)";
        let email = [
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b".to_owned(),
            format!(r"[\w.+-]+\s*[(\[]\s*at\s*[)\]]\s*[\w-]+(?:(?:\.|{dot})[\w-]+)*(?:\.|{dot})[a-zA-Z]{{2,}}\b"),
            format!(r"[\w.+-]+\s+at\s+[\w-]+(?:{dot}[\w-]+)*{dot}[a-zA-Z]{{2,}}\b"),
        ]
        .join("|");
        // Links: a scheme or `www.`, messenger short links, and bare lowercase domains with a
        // common top-level label (lowercase only: "it.It works", a missing space after a
        // full stop, is no domain).
        let link = concat!(
            r"(?i:\b(?:https?://|www\.)\S+|\b(?:wa\.me|t\.me|m\.me|chat\.whatsapp\.com)/\S*)",
            r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|io|co|me|app|link|ly|es|de|fr|it|pt|uk|us|br|mx|ar)\b(?:/\S*)?",
        );
        // Digits with at most one space, dash or bracket between them; `is_phone` then
        // keeps only what has the shape of a phone number.
        let phone = r"[+(]?\d(?:(?:[ -]|\) ?| ?\()?\d){8,14}";
        Self {
            email: pattern(&format!("(?i:{email})")),
            link: pattern(link),
            phone: pattern(phone),
            placeholder: DEFAULT_PLACEHOLDER.to_owned(),
        }
    }

    /// With another placeholder (e.g. "[contact details removed]").
    pub fn with_placeholder(mut self, placeholder: impl Into<String>) -> Self {
        self.placeholder = placeholder.into();
        self
    }

    /// `text` with every contact masked; `None` when there is none.
    pub fn mask(&self, text: &str) -> Option<String> {
        let emails = self.email.replace_all(text, regex::NoExpand(&self.placeholder));
        let links = self.link.replace_all(&emails, regex::NoExpand(&self.placeholder));
        let phones = self.phone.replace_all(&links, |found: &regex::Captures<'_>| {
            if is_phone(&found[0]) {
                self.placeholder.clone()
            } else {
                found[0].to_owned()
            }
        });
        (phones != text).then(|| phones.into_owned())
    }
}

/// Whether digits the phone pattern found look like a phone number: an international `+`,
/// a bracketed area code, or a first group of at least 3 digits ("612 34 56 78" is, "sizes
/// 38 39 40 41 42" is not), and not a date (`2026-12-02 10`).
fn is_phone(found: &str) -> bool {
    if found.starts_with(['+', '(']) {
        return true;
    }
    let groups: Vec<&str> = found
        .split(|c: char| !c.is_ascii_digit())
        .filter(|group| !group.is_empty())
        .collect();
    let date =
        matches!(groups.as_slice(), [year, month, day, ..] if year.len() == 4 && month.len() == 2 && day.len() == 2);
    groups.first().is_some_and(|first| first.len() >= 3) && !date
}

#[async_trait]
impl MessagePolicy for ContactMasking {
    async fn check(&self, draft: Draft<'_>) -> PolicyDecision {
        match self.mask(draft.body) {
            Some(body) => PolicyDecision::Replace { body },
            None => PolicyDecision::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContactMasking;

    fn masked(text: &str) -> String {
        ContactMasking::new().mask(text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn phone_numbers_in_real_formats_are_masked() {
        assert_eq!(
            masked("call me on +34 612 34 56 78 tonight"),
            "call me on [hidden] tonight"
        );
        assert_eq!(masked("612-345-678"), "[hidden]");
        assert_eq!(masked("my number: 612345678."), "my number: [hidden].");
        assert_eq!(masked("(555) 123-4567 or +1 555 123 4567"), "[hidden] or [hidden]");
        assert_eq!(masked("+44 (0)20 7946 0958"), "[hidden]");
    }

    #[test]
    fn e_mail_addresses_also_spelled_out_are_masked() {
        assert_eq!(masked("write to ana.souza@mail.com please"), "write to [hidden] please");
        assert_eq!(masked("ana(at)mail(dot)com"), "[hidden]");
        assert_eq!(masked("ana [at] mail [dot] co [dot] uk"), "[hidden]");
        assert_eq!(masked("ana at mail dot com"), "[hidden]");
    }

    #[test]
    fn links_and_messenger_short_links_are_masked() {
        assert_eq!(masked("see wa.me/34612345678"), "see [hidden]");
        assert_eq!(
            masked("https://example.org/item?id=3 is cheaper"),
            "[hidden] is cheaper"
        );
        assert_eq!(masked("www.other-shop.es"), "[hidden]");
        assert_eq!(masked("t.me/ana_sells"), "[hidden]");
        assert_eq!(masked("buy it on othershop.com/mug"), "buy it on [hidden]");
    }

    #[test]
    fn ordinary_text_numbers_and_times_are_left_alone() {
        let policy = ContactMasking::new();
        for text in [
            "Is the mug still available?",
            "Order #1001 costs 12.50 €, or 1.200 € for the sofa",
            "I'll be there at 5.30, see you at the station.",
            "Ships in 2-3 days; size 42; 2026-12-02",
            "¿Sí? Está disponible. Envío mañana.",
            "Pick-up 2026-12-02 10:30, or sizes 38 39 40 41 42",
            "Open 10.30 - 12.30 - 16.00; price 12.50 13.75 14.00 15",
            "I sent it.It works. Gracias.Es perfecto. Vale.De acuerdo. Thanks.Me too. ASP.net",
            "I'm at home.Call me later, look at notes.txt",
        ] {
            assert_eq!(policy.mask(text), None, "{text}");
        }
    }

    #[test]
    fn the_placeholder_is_the_hosts_and_taken_literally() {
        let policy = ContactMasking::new().with_placeholder("$0 [removed]");
        assert_eq!(policy.mask("612 345 678").as_deref(), Some("$0 [removed]"));
    }
}
