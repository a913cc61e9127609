//! Polite HTTP for the sources: one client per source with its own rate limit, a timeout, a
//! body-size cap, conditional GETs (ETag / Last-Modified), and retries with exponential backoff
//! that honour `Retry-After` and the rate-limit headers of Reddit (`x-ratelimit-*`, reset in
//! seconds) and X (`x-rate-limit-*`, reset as an epoch time).
//!
//! The same client talks to the real service and to the loopback servers of the tests; only the
//! base URL differs. Errors never carry the URL (a query string may hold a key).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One HTTP response as the parsers see it (also what an offline recording holds).
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a GET brought.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// New content.
    Body(Response),
    /// 304: unchanged since the validators we sent.
    NotModified,
}

/// How politely a source is called.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPolicy {
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// Timeout of one request, connect to last byte.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Attempts per request, retries included.
    pub max_attempts: u32,
    /// First backoff when the server gives no `Retry-After`; doubled each retry.
    pub initial_backoff: Duration,
    /// Longest the client waits for a retry or a rate-limit reset; a server asking for more
    /// ends the check with [`FetchError::RateLimited`] (the next cycle tries again).
    pub max_wait: Duration,
    /// Least time between two requests of this source (arXiv: 3 s; EDGAR: 100 ms).
    pub min_interval: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            user_agent: concat!(
                "stratagem/",
                env!("CARGO_PKG_VERSION"),
                " (strategy research; +https://example.invalid/stratagem)"
            )
            .into(),
            timeout: Duration::from_secs(30),
            max_body_bytes: 8 * 1024 * 1024,
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            min_interval: Duration::ZERO,
        }
    }
}

/// Why a request failed. Messages name the cause, never the URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// No answer within the timeout.
    #[error("timed out after {} ms ({attempts} attempts)", .after.as_millis())]
    Timeout {
        /// The timeout.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The server answered with an error status.
    #[error("HTTP {status} ({attempts} attempts): {message}")]
    Status {
        /// Status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The start of the body, for the operator.
        message: String,
    },
    /// The server asked us to wait longer than we are willing to within this check.
    #[error("rate limited: the server asks to wait {} s (more than the {} s this check may wait)", .wait.as_secs(), .max_wait.as_secs())]
    RateLimited {
        /// How long the server wants us to wait.
        wait: Duration,
        /// Our cap.
        max_wait: Duration,
    },
    /// The body exceeded the cap.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Connection or protocol failure.
    #[error("{0}")]
    Transport(String),
}

/// Conditional-GET validators per URL. A cache, never the truth: losing it costs one full
/// response. The discovery command keeps it in the data directory between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Validators {
    entries: BTreeMap<String, Validator>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Validator {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    /// Takes the entries of another cache (theirs win).
    pub fn merge(&mut self, other: Validators) {
        self.entries.extend(other.entries);
    }

    /// Reads a cache file; a missing or unreadable one is an empty cache.
    pub fn load(path: &std::path::Path) -> Validators {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the cache file (atomically: temp file, then rename).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }
}

/// A source's HTTP client.
pub struct HttpClient {
    http: reqwest::Client,
    policy: HttpPolicy,
    last_request: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.policy)
            .finish()
    }
}

impl HttpClient {
    /// A client with this policy.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new(policy: HttpPolicy) -> Result<HttpClient, FetchError> {
        let http = reqwest::Client::builder()
            .user_agent(policy.user_agent.clone())
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| FetchError::Transport(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            http,
            policy,
            last_request: None,
            blocked_until: None,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// A conditional GET: sends the validators stored for this URL, stores the new ones.
    ///
    /// # Errors
    /// [`FetchError`] once the retries are spent, or at once for a status that is not retried
    /// or a wait longer than the policy allows.
    pub async fn get(
        &mut self,
        url: &str,
        headers: &[(&str, String)],
        validators: &mut Validators,
    ) -> Result<Fetched, FetchError> {
        let known = validators.entries.get(url).cloned().unwrap_or_default();
        let mut request = self.http.get(url);
        for (n, v) in headers {
            request = request.header(*n, v);
        }
        if let Some(etag) = &known.etag {
            request = request.header("if-none-match", etag);
        }
        if let Some(lm) = &known.last_modified {
            request = request.header("if-modified-since", lm);
        }
        let response = self.send(request).await?;
        if response.status == 304 {
            return Ok(Fetched::NotModified);
        }
        let fresh = Validator {
            etag: response.header("etag").map(str::to_string),
            last_modified: response.header("last-modified").map(str::to_string),
        };
        if fresh.etag.is_some() || fresh.last_modified.is_some() {
            validators.entries.insert(url.to_string(), fresh);
        }
        Ok(Fetched::Body(response))
    }

    /// A POST of a JSON body (JSON-RPC, OAuth token requests go through [`Self::send`]).
    ///
    /// # Errors
    /// As [`Self::get`].
    pub async fn post_json(
        &mut self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Response, FetchError> {
        let request = self.http.post(url).json(body);
        self.send(request).await
    }

    /// The underlying client, to build requests [`Self::send`] runs (form posts, basic auth).
    pub fn builder(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request with the policy: rate limit, retries, backoff, caps. Returns 2xx and
    /// 304 responses; anything else is an error.
    ///
    /// # Errors
    /// As [`Self::get`].
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<Response, FetchError> {
        let mut attempt = 1;
        loop {
            self.wait_turn().await?;
            let Some(this) = request.try_clone() else {
                return Err(FetchError::Transport(
                    "the request cannot be retried".into(),
                ));
            };
            self.last_request = Some(Instant::now());
            let outcome = match this.send().await {
                Ok(response) => self.read(response).await,
                Err(e) => Err(self.transport_error(&e, attempt)),
            };
            let retry_after = match outcome {
                Ok(response) if (200..300).contains(&response.status) || response.status == 304 => {
                    self.note_rate_limit(&response);
                    return Ok(response);
                }
                Ok(response) => {
                    self.note_rate_limit(&response);
                    let status = response.status;
                    let retry_after = retry_after(&response);
                    // Binance answers 418 to a client it has banned for a while, with a
                    // `Retry-After`: honoured like a 429.
                    let retryable = matches!(status, 408 | 425 | 429)
                        || status >= 500
                        || (status == 418 && retry_after.is_some());
                    if let Some(wait) = retry_after {
                        if wait > self.policy.max_wait {
                            return Err(FetchError::RateLimited {
                                wait,
                                max_wait: self.policy.max_wait,
                            });
                        }
                    }
                    if !retryable || attempt >= self.policy.max_attempts {
                        return Err(FetchError::Status {
                            status,
                            attempts: attempt,
                            message: error_excerpt(&response.body),
                        });
                    }
                    tracing::warn!(status, attempt, "source asked us to retry");
                    retry_after
                }
                Err(e @ (FetchError::Timeout { .. } | FetchError::Transport(_)))
                    if attempt < self.policy.max_attempts =>
                {
                    tracing::warn!(error = %e, attempt, "source request failed; retrying");
                    None
                }
                Err(e) => return Err(e),
            };
            let wait = crate::http_policy::wait(
                retry_after,
                self.policy.initial_backoff,
                self.policy.max_wait,
                attempt,
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn transport_error(&self, e: &reqwest::Error, attempts: u32) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout {
                after: self.policy.timeout,
                attempts,
            }
        } else if e.is_connect() {
            FetchError::Transport(format!("connection failed ({attempts} attempts)"))
        } else {
            FetchError::Transport(format!("request failed ({attempts} attempts)"))
        }
    }

    async fn read(&self, mut response: reqwest::Response) -> Result<Response, FetchError> {
        let limit = self.policy.max_body_bytes;
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(FetchError::TooLarge { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(&e, 1)),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Waits for this source's turn: the minimum interval since the last request, and any
    /// rate-limit reset the server announced.
    async fn wait_turn(&mut self) -> Result<(), FetchError> {
        let now = Instant::now();
        let mut until = self.last_request.map(|t| t + self.policy.min_interval);
        if let Some(b) = self.blocked_until {
            until = Some(until.map_or(b, |u| u.max(b)));
        }
        if let Some(until) = until.filter(|u| *u > now) {
            let wait = until - now;
            if wait > self.policy.max_wait {
                return Err(FetchError::RateLimited {
                    wait,
                    max_wait: self.policy.max_wait,
                });
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Reads the rate-limit headers: with nothing remaining, the next request waits for the
    /// reset. Reddit gives `x-ratelimit-reset` in seconds (and `remaining` as a float), X gives
    /// `x-rate-limit-reset` as a Unix time.
    fn note_rate_limit(&mut self, response: &Response) {
        let number = |name: &str| {
            response
                .header(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let wait = if let Some(remaining) = number("x-ratelimit-remaining") {
            (remaining < 1.0).then(|| number("x-ratelimit-reset").unwrap_or(60.0))
        } else if let Some(remaining) = number("x-rate-limit-remaining") {
            (remaining < 1.0).then(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                number("x-rate-limit-reset").map_or(900.0, |reset| (reset - now).max(0.0))
            })
        } else {
            None
        };
        self.blocked_until =
            wait.map(|s| Instant::now() + Duration::from_secs_f64(s.min(86_400.0)));
    }
}

/// `Retry-After` in seconds or as an HTTP date ([`crate::http_policy::retry_after`]).
fn retry_after(response: &Response) -> Option<Duration> {
    crate::http_policy::retry_after(response.header("retry-after")?)
}

/// What an error body says: the service's own message when the body is its error format (an
/// Atom feed with an `Error` entry, as arXiv sends with HTTP 400; a JSON `message`, `error`,
/// `detail` or `errors[0]`), else its first 200 characters on one line.
fn error_excerpt(body: &[u8]) -> String {
    if let Ok(root) = super::xml::parse(body) {
        let message = root
            .children_named(super::xml::ATOM, "entry")
            .find(|e| e.child_text(super::xml::ATOM, "title").as_deref() == Some("Error"))
            .and_then(|e| e.child_text(super::xml::ATOM, "summary"));
        if let Some(m) = message {
            return super::clip(&m, 200);
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = [
            "/error/message",
            "/message",
            "/detail",
            "/errors/0/message",
            "/errors/0/detail",
            "/error",
        ]
        .iter()
        .find_map(|p| v.pointer(p).and_then(|m| m.as_str()).map(str::to_string));
        if let Some(m) = found {
            return super::clip(&m, 200);
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    let line = super::xml::collapse_whitespace(&text);
    let excerpt: String = line.chars().take(200).collect();
    if excerpt.is_empty() {
        "empty body".into()
    } else {
        excerpt
    }
}
