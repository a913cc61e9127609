//! The retry policy every HTTP client of ours follows — the sources (`sources/http.rs`), the
//! language model (`generator/llm.rs`) and Slack (`notify.rs`): how long to wait before a retry,
//! what a `Retry-After` header means, and how much of a body we read.
//!
//! - **Backoff**: exponential from the client's first backoff, doubled per retry, capped, with
//!   equal jitter (half fixed, half random) so clients that failed together do not retry
//!   together. A server's `Retry-After` takes its place, capped the same way.
//! - **`Retry-After`**: seconds (`120`, `1.5`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00
//!   GMT`), never more than a day.
//! - **Bodies**: read in chunks and refused past a cap, whatever `Content-Length` claims.

use std::time::Duration;

/// The longest `Retry-After` we take literally.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The wait before retry number `retry` (1 = the first retry): the server's `retry_after` when
/// it gave one, else `initial` doubled per retry with equal jitter; never more than `max`.
pub fn wait(
    retry_after: Option<Duration>,
    initial: Duration,
    max: Duration,
    retry: u32,
) -> Duration {
    match retry_after {
        Some(asked) => asked.min(max),
        None => {
            let full = initial
                .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
                .min(max);
            let half = full / 2;
            half + half.mul_f64(fastrand::f64())
        }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (then the time until it, 0 if past); at most
/// a day. `None` when it is neither.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs_f64(
        wait.as_seconds_f64()
            .clamp(0.0, MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// The `Retry-After` header of a response, if it has a usable one.
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    retry_after(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the cap.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The connection failed mid-body (the message never names the URL).
    #[error("the body could not be read: {0}")]
    Transport(String),
}

/// Reads a response's body, refusing it past `cap` bytes (checked on the declared length first,
/// then on what arrives).
///
/// # Errors
/// [`BodyError::TooLarge`], or [`BodyError::Transport`].
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|l| l > cap as u64) {
        return Err(BodyError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_stops_at_the_cap() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(30));
        for retry in 1..=12 {
            let full = (initial * (1 << (retry - 1))).min(max);
            for _ in 0..50 {
                let w = wait(None, initial, max, retry);
                assert!(
                    w >= full / 2 && w <= full,
                    "retry {retry}: {w:?} of {full:?}"
                );
            }
        }
        // Far past the cap, no overflow.
        assert!(wait(None, initial, max, u32::MAX) <= max);
        // The server's word, capped.
        assert_eq!(
            wait(Some(Duration::from_secs(7)), initial, max, 1),
            Duration::from_secs(7)
        );
        assert_eq!(wait(Some(Duration::from_secs(3600)), initial, max, 1), max);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("-3"), None);
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("99999999"), Some(MAX_RETRY_AFTER));
        // A date in the past: retry now.
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        // A date about a minute ahead.
        let ahead = time::OffsetDateTime::now_utc() + time::Duration::seconds(61);
        let text = ahead
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let w = retry_after(&text).unwrap();
        assert!(
            w > Duration::from_secs(55) && w <= Duration::from_secs(61),
            "{text}: {w:?}"
        );
    }
}
