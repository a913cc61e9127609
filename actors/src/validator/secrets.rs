//! Hard-coded secrets in string literals: provider key patterns, and a Shannon-entropy rule for
//! generic key-like tokens. Findings name the kind of secret, never its value.

/// Shortest token the entropy rule looks at.
pub const MIN_ENTROPY_TOKEN: usize = 24;
/// Bits per character at or above which a mixed-alphabet token looks like a key.
pub const ENTROPY_THRESHOLD: f64 = 4.0;
/// Bits per character for a hex-only token (hex has at most 4 bits per character).
pub const HEX_ENTROPY_THRESHOLD: f64 = 3.0;

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

/// Length of the run of characters satisfying `pred` at the start of `s`.
fn run_len(s: &str, pred: impl Fn(char) -> bool) -> usize {
    s.chars().take_while(|c| pred(*c)).count()
}

/// `prefix` followed by at least `min` characters of `pred`, anywhere in `text`.
fn prefixed(text: &str, prefix: &str, min: usize, pred: impl Fn(char) -> bool + Copy) -> bool {
    text.match_indices(prefix)
        .any(|(i, _)| run_len(&text[i + prefix.len()..], pred) >= min)
}

fn upper_or_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The kind of secret found in `text`, if any.
pub fn find(text: &str) -> Option<&'static str> {
    if text.contains("PRIVATE KEY-----") && text.contains("-----BEGIN") {
        return Some("private key");
    }
    if prefixed(text, "AKIA", 16, upper_or_digit) || prefixed(text, "ASIA", 16, upper_or_digit) {
        return Some("AWS access key id");
    }
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        if prefixed(text, prefix, 36, |c| c.is_ascii_alphanumeric()) {
            return Some("GitHub token");
        }
    }
    if prefixed(text, "github_pat_", 22, token_char) {
        return Some("GitHub token");
    }
    if text.contains("hooks.slack.com/services/") {
        return Some("Slack webhook URL");
    }
    for prefix in ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"] {
        if prefixed(text, prefix, 10, token_char) {
            return Some("Slack token");
        }
    }
    if prefixed(text, "sk-ant-", 20, token_char) {
        return Some("Anthropic API key");
    }
    if prefixed(text, "sk-", 20, token_char) {
        return Some("OpenAI API key");
    }
    for token in text.split(|c: char| !is_key_char(c)) {
        if token.len() >= MIN_ENTROPY_TOKEN && !is_uuid(token) && looks_random(token) {
            return Some("high-entropy key-like literal");
        }
    }
    None
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

/// A canonical UUID (`8-4-4-4-12` hex digits): an identifier, not a key. Generated strategies
/// name their opportunity's UUID in their header, and a random UUID's entropy is close to the
/// threshold (up to log2(17) ≈ 4.09 bits per character).
fn is_uuid(token: &str) -> bool {
    let groups: Vec<&str> = token.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn looks_random(token: &str) -> bool {
    let has_digit = token.chars().any(|c| c.is_ascii_digit());
    let has_alpha = token.chars().any(|c| c.is_ascii_alphabetic());
    if !(has_digit && has_alpha) {
        return false;
    }
    let hex = token.chars().all(|c| c.is_ascii_hexdigit());
    let e = entropy(token);
    if hex {
        e >= HEX_ENTROPY_THRESHOLD
    } else {
        e >= ENTROPY_THRESHOLD
    }
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
        check(
            "https://hooks.slack.com/services/T000/B000/XXXX",
            Some("Slack webhook URL"),
        );
        check("xoxb-1234567890-abcdefghij", Some("Slack token"));
        check(
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            Some("Anthropic API key"),
        );
        check("sk-proj-abcdefghijklmnopqrstuvwx", Some("OpenAI API key"));
        check("-----BEGIN RSA PRIVATE KEY-----\nMIIE", Some("private key"));
    }

    #[test]
    fn entropy_rule() {
        // 40 characters of mixed-case base64: an AWS secret access key's shape.
        check(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            Some("high-entropy key-like literal"),
        );
        check(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            Some("high-entropy key-like literal"),
        );
    }

    #[test]
    fn regression_a_generated_strategys_opportunity_uuid_is_not_a_secret() {
        // A template names its opportunity (`//! Opportunity <uuid>.`); random UUIDs sometimes
        // reached 4.0 bits per character and the strategy was rejected as holding a key.
        let mut flagged = 0;
        for i in 0..20_000u128 {
            let id =
                uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            if find(&format!("Opportunity {id}.")).is_some() {
                flagged += 1;
            }
        }
        assert_eq!(flagged, 0);
        // A key-like token shaped otherwise is still caught.
        check(
            "token 7Fq2Zr9LmX4pK8sW1dV6bN3hJ5tY0cGe",
            Some("high-entropy key-like literal"),
        );
    }

    #[test]
    fn ordinary_text_is_clean() {
        check("momentum_lookback_window_parameter_name", None); // no digits
        check(
            "Buy when the 20-bar high is broken and volume confirms",
            None,
        );
        check("BTC-USD", None);
        check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1111111111", None); // long but low entropy
        check("skeleton-key", None);
        check("", None);
    }
}
