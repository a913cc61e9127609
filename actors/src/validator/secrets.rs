//! Hard-coded secrets: known provider formats anywhere in the text, and a Shannon-entropy rule for
//! generic key-like tokens that applies only next to a secret-like name (`key`, `secret`,
//! `token`, `password`…). Hashes, UUIDs, addresses and identifiers made of words are never
//! secrets. Findings name the kind of secret, never its value.
//!
//! [`find`] looks for the known formats (AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI,
//! Anthropic, PEM and PGP private keys). Layer 2 runs it over the whole source text — strings,
//! raw, byte and C strings, comments — and over what the token stream assembles: `concat!`
//! pieces joined, byte arrays decoded. [`find_generic`] is the entropy rule, for a literal whose
//! statement names a secret, or whose own text says `key=`.

/// Shortest token the entropy rule looks at.
pub const MIN_ENTROPY_TOKEN: usize = 24;
/// Bits per character at or above which a mixed-alphabet token looks like a key.
pub const ENTROPY_THRESHOLD: f64 = 4.0;

/// Words that make a name secret-like (matched in lower case, anywhere in the name).
pub const SECRET_WORDS: &[&str] = &[
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "pwd",
    "credential",
    "auth",
    "bearer",
    "private",
    "apikey",
];

/// Whether an identifier or label is secret-like.
pub fn secret_like_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn upper_or_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// `prefix` at a word boundary, followed by a run of at least `min` characters of `pred`; the
/// run must satisfy `body` too. Anywhere in `text`.
fn prefixed(
    text: &str,
    prefix: &str,
    min: usize,
    pred: impl Fn(char) -> bool + Copy,
    body: impl Fn(&str) -> bool,
) -> bool {
    text.match_indices(prefix).any(|(i, _)| {
        let boundary = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let rest = &text[i + prefix.len()..];
        let run: usize = rest
            .chars()
            .take_while(|c| pred(*c))
            .map(char::len_utf8)
            .sum();
        boundary && run >= min && body(&rest[..run])
    })
}

fn any(_: &str) -> bool {
    true
}

fn has_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

/// The kind of a known-format secret found in `text`, if any.
pub fn find(text: &str) -> Option<&'static str> {
    if text.contains("-----BEGIN") {
        if text.contains("PRIVATE KEY-----") {
            return Some("private key");
        }
        if text.contains("PGP PRIVATE KEY BLOCK-----") {
            return Some("PGP private key");
        }
    }
    for prefix in ["AKIA", "ASIA"] {
        if prefixed(text, prefix, 16, upper_or_digit, any) {
            return Some("AWS access key id");
        }
    }
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        if prefixed(text, prefix, 36, |c| c.is_ascii_alphanumeric(), any) {
            return Some("GitHub token");
        }
    }
    if prefixed(text, "github_pat_", 22, token_char, any) {
        return Some("GitHub token");
    }
    if prefixed(text, "glpat-", 20, token_char, any) {
        return Some("GitLab token");
    }
    if text.contains("hooks.slack.com/services/T") {
        return Some("Slack webhook URL");
    }
    for prefix in ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"] {
        if prefixed(text, prefix, 10, token_char, has_digit) {
            return Some("Slack token");
        }
    }
    for prefix in ["sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"] {
        if prefixed(text, prefix, 20, |c| c.is_ascii_alphanumeric(), any) {
            return Some("Stripe key");
        }
    }
    if prefixed(text, "AIza", 35, token_char, any) {
        return Some("Google API key");
    }
    if prefixed(text, "sk-ant-", 20, token_char, any) {
        return Some("Anthropic API key");
    }
    for prefix in ["sk-proj-", "sk-svcacct-", "sk-admin-"] {
        if prefixed(text, prefix, 20, token_char, any) {
            return Some("OpenAI API key");
        }
    }
    // A legacy OpenAI key: `sk-` and 32 or more letters and digits, with digits.
    if prefixed(text, "sk-", 32, |c| c.is_ascii_alphanumeric(), has_digit) {
        return Some("OpenAI API key");
    }
    None
}

/// The entropy rule over `text`, for a literal next to a secret-like name (`named`), or whose
/// own text puts a secret-like label right before the token (`api_key=…`, `token: …`).
pub fn find_generic(text: &str, named: bool) -> Option<&'static str> {
    let mut run_start: Option<usize> = None;
    let check = |start: usize, end: usize| {
        let mut token = &text[start..end];
        let mut start = start;
        // `api_key=VALUE`: the label is part of the run (`=` can be base64 padding, so only an
        // `=` with something after it splits).
        if let Some(eq) = token
            .find('=')
            .filter(|i| !token[i + 1..].trim_start_matches('=').is_empty())
        {
            start += eq + 1;
            token = &token[eq + 1..];
        }
        if token.len() < MIN_ENTROPY_TOKEN || !looks_random(token) {
            return false;
        }
        let before = &text[..start];
        let label = before
            .char_indices()
            .rev()
            .nth(24)
            .map_or(before, |(i, _)| &before[i..]);
        named || secret_like_name(label)
    };
    for (i, c) in text.char_indices() {
        match (is_key_char(c), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if check(start, i) {
                    return Some("high-entropy key-like literal");
                }
                run_start = None;
            }
            _ => {}
        }
    }
    match run_start {
        Some(start) if check(start, text.len()) => Some("high-entropy key-like literal"),
        _ => None,
    }
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 128];
    let mut n = 0u32;
    for b in s.bytes().filter(u8::is_ascii) {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| f64::from(*c) / n)
        .map(|p| -p * p.log2())
        .sum()
}

/// An identifier, not a key: hex of any length (hashes, simple UUIDs, `0x` addresses and
/// transaction hashes), a canonical UUID, or words joined by `_` or `-` (`breakout_20_55_v2`).
pub fn is_identifier_shaped(token: &str) -> bool {
    let hex = token.strip_prefix("0x").unwrap_or(token);
    if hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    let groups: Vec<&str> = token.split('-').collect();
    if groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return true;
    }
    // Words (and path segments): more than two parts between separators, each short or hex.
    let parts: Vec<&str> = token.split(['_', '-', '/']).collect();
    parts.len() > 2
        && parts
            .iter()
            .all(|p| p.len() <= 12 || p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn looks_random(token: &str) -> bool {
    let has_digit = token.chars().any(|c| c.is_ascii_digit());
    let has_alpha = token.chars().any(|c| c.is_ascii_alphabetic());
    has_digit && has_alpha && !is_identifier_shaped(token) && entropy(token) >= ENTROPY_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case: a literal and the kind expected (None = clean). Keys here are made up in the
    /// providers' shapes, not real.
    fn check(text: &str, expected: Option<&str>) {
        assert_eq!(find(text), expected, "{text}");
    }

    #[test]
    fn provider_patterns() {
        check("AKIAIOSFODNN7EXAMPLE", Some("AWS access key id"));
        check(
            "key=ghp_0123456789abcdefghijABCDEFGHIJ012345",
            Some("GitHub token"),
        );
        check(
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            Some("GitHub token"),
        );
        check("glpat-abcdefghij0123456789", Some("GitLab token"));
        check(
            "https://hooks.slack.com/services/T000/B000/XXXX",
            Some("Slack webhook URL"),
        );
        check("xoxb-1234567890-abcdefghij", Some("Slack token"));
        check("sk_live_abcdefghijklmnopqrstuvwx", Some("Stripe key"));
        check(
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            Some("Google API key"),
        );
        check(
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            Some("Anthropic API key"),
        );
        check("sk-proj-abcdefghijklmnopqrstuvwx", Some("OpenAI API key"));
        check(
            "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            Some("OpenAI API key"),
        );
        check("-----BEGIN RSA PRIVATE KEY-----\nMIIE", Some("private key"));
        check(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ",
            Some("PGP private key"),
        );
    }

    #[test]
    fn the_entropy_rule_needs_a_secret_like_name() {
        let key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(find_generic(key, false), None);
        assert_eq!(
            find_generic(key, true),
            Some("high-entropy key-like literal")
        );
        assert_eq!(
            find_generic(&format!("api_key={key}"), false),
            Some("high-entropy key-like literal")
        );
        assert_eq!(
            find_generic("token 7Fq2Zr9LmX4pK8sW1dV6bN3hJ5tY0cGe", false),
            Some("high-entropy key-like literal")
        );
    }

    #[test]
    fn identifiers_hashes_and_words_are_not_secrets() {
        for text in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "0x5c69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f",
            "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640abcdef0123456789abcdef01",
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "donchian_breakout_20_55_v2",
            "https://github.com/rust-lang/rust/blob/3f5fd8dd41153bc5fdca9427e9e05be2c767ba23/library/core/src/num/f64.rs#L10",
            "momentum_lookback_window_parameter_name",
            "Buy when the 20-bar high is broken and volume confirms",
            "BTC-USD",
            "risk-adjusted-return-calculation-for-portfolios-2024",
            "skeleton-key",
            "",
        ] {
            assert_eq!(find(text), None, "{text}");
            assert_eq!(find_generic(text, true), None, "{text}");
        }
    }

    #[test]
    fn regression_a_generated_strategys_opportunity_uuid_is_not_a_secret() {
        // A template names its opportunity (`//! Opportunity <uuid>.`); random UUIDs sometimes
        // reached 4.0 bits per character and the strategy was rejected as holding a key.
        let mut flagged = 0;
        for i in 0..20_000u128 {
            let id =
                uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            let text = format!("Opportunity {id}.");
            if find(&text).is_some() || find_generic(&text, true).is_some() {
                flagged += 1;
            }
        }
        assert_eq!(flagged, 0);
    }
}
