//! Untrusted text made safe for where it is shown. Feed items, model replies, a strategy's panic
//! messages and log lines come from outside: a control sequence in them could rewrite a
//! reviewer's terminal line, and `<!channel>` or `<https://…|text>` would reach a Slack
//! channel as a mention or a link we never wrote.
//!
//! - [`printable`]: every control character but the newline (C0, DEL, C1), and the Unicode
//!   controls that reorder or hide text (bidi overrides and isolates, line and paragraph
//!   separators), become visible escapes (`\u{1b}`), so nothing is lost and nothing acts.
//! - [`json`]: a serialised JSON text with those same characters written as `\uXXXX` escapes
//!   (serde_json escapes only C0): still the same JSON value, and safe to `cat`.
//! - [`slack`]: [`printable`], then `&`, `<` and `>` escaped as Slack asks, so no mention or
//!   link can be formed, and `://` broken so a bare URL is not turned into a link.

use std::borrow::Cow;

/// Whether `c` acts on a terminal or reorders text rather than showing as itself.
pub fn is_unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `text` with every unsafe character shown as an escape (`\u{1b}`); borrowed when clean.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A serialised JSON text with DEL, C1 and the text-reordering controls escaped as `\uXXXX`
/// (C0 is escaped by the serialiser already): the same JSON value, nothing that acts.
pub fn json(serialised: &str) -> Cow<'_, str> {
    if !serialised.chars().any(is_unsafe_char) {
        return Cow::Borrowed(serialised);
    }
    let mut out = String::with_capacity(serialised.len() + 16);
    for c in serialised.chars() {
        // A raw newline or tab outside strings is JSON whitespace (pretty printing): kept.
        if is_unsafe_char(c) && !matches!(c, '\t' | '\r') {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for a Slack message: [`printable`], `&` `<` `>` escaped, `://` broken.
pub fn slack(text: &str) -> String {
    printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("://", "[:]//")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "\u{1b}[2K\r\u{1b}]0;owned\u{7}decision: APPROVED for COLD\u{9b}31m\u{202e}gnp.exe";

    #[test]
    fn nothing_that_acts_survives_and_nothing_is_lost() {
        let shown = printable(HOSTILE);
        assert!(!shown.chars().any(is_unsafe_char), "{shown}");
        assert!(shown.contains("\\u{1b}[2K\\u{d}"), "{shown}");
        assert!(shown.contains("decision: APPROVED for COLD"));
        assert_eq!(printable("plain\ntext"), "plain\ntext");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_the_same_value() {
        let serialised = serde_json::to_string(&serde_json::json!({ "m": HOSTILE })).unwrap();
        let safe = json(&serialised);
        assert!(!safe.chars().any(is_unsafe_char), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["m"], HOSTILE);
    }

    #[test]
    fn an_untrusted_field_is_stored_as_the_plain_string_it_was_and_shown_safely() {
        let raw = HOSTILE.to_string();
        let marked = Untrusted::new(raw.clone());
        let config = bincode::config::standard();
        assert_eq!(
            bincode::serde::encode_to_vec(&marked, config).unwrap(),
            bincode::serde::encode_to_vec(&raw, config).unwrap(),
            "the log's format does not change"
        );
        assert_eq!(
            serde_json::to_string(&marked).unwrap(),
            serde_json::to_string(&raw).unwrap()
        );
        assert_eq!(marked.raw(), raw, "the raw bytes are kept");
        let shown = format!("title: {marked}");
        assert!(!shown.chars().any(is_unsafe_char), "{shown}");
    }

    #[test]
    fn slack_gets_no_mention_and_no_link() {
        let s = slack("<!channel> see <https://evil.example|Approve here> & https://x.example");
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains("://"),
            "{s}"
        );
        assert!(s.starts_with("&lt;!channel&gt;"), "{s}");
    }
}

/// Text from outside kept as it came (feed titles and hypotheses): the field's type marks it
/// untrusted. It serialises as a plain string (the log's format does not change), and shows
/// itself only through [`printable`] (`Display`), so formatting it anywhere is safe.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Untrusted(String);

impl Untrusted {
    /// Marks `text` as from outside.
    pub fn new(text: impl Into<String>) -> Untrusted {
        Untrusted(text.into())
    }

    /// The raw text, as it came: for parsing and comparing, never for showing.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The text with nothing in it that acts ([`printable`]).
    pub fn shown(&self) -> Cow<'_, str> {
        printable(&self.0)
    }
}

impl std::ops::Deref for Untrusted {
    type Target = str;
    /// The raw text (for parsing and comparing; `Display` is what shows it).
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&printable(&self.0))
    }
}

impl From<String> for Untrusted {
    fn from(text: String) -> Untrusted {
        Untrusted(text)
    }
}

impl From<&str> for Untrusted {
    fn from(text: &str) -> Untrusted {
        Untrusted(text.to_string())
    }
}
