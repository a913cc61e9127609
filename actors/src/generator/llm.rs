//! Language-model clients: the Anthropic Messages API and any OpenAI-compatible
//! chat-completions server (llama.cpp, Ollama, vLLM …). The same code talks to the real service
//! and to the loopback servers of the tests; only the base URL differs.
//!
//! Retries on 408, 409, 429, 5xx and 529, honouring `retry-after` (seconds), with exponential
//! backoff otherwise. Keys never appear in `Debug`, logs, errors or events.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A secret (API key): redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which API, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// `POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version: 2023-06-01`.
    Anthropic {
        /// e.g. `https://api.anthropic.com`.
        base_url: String,
        /// The key.
        api_key: Secret,
    },
    /// `POST {base_url}/chat/completions`, bearer key optional (local servers need none).
    OpenAiCompatible {
        /// e.g. `http://127.0.0.1:8080/v1`.
        base_url: String,
        /// The key, if the server wants one.
        api_key: Option<Secret>,
    },
}

/// The Anthropic API version we speak.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Settings of the client (the seed's `CODEGEN_CLAUDE_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Model name.
    pub model: String,
    /// Sampling temperature (`CODEGEN_CLAUDE_TEMPERATURE`, default 0.3).
    pub temperature: f64,
    /// Reply length cap (`CODEGEN_CLAUDE_MAX_TOKENS`, default 2000).
    pub max_tokens: u32,
    /// HTTP attempts per request, retries included.
    pub max_http_attempts: u32,
    /// First backoff when the server gives no `retry-after`; doubled each retry.
    pub initial_backoff: Duration,
    /// Longest wait, whatever `retry-after` says.
    pub max_backoff: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Largest reply body accepted.
    pub max_body_bytes: usize,
    /// `seed`, sent to servers that take one (OpenAI-compatible), for repeatable replies.
    pub seed: u64,
    /// A truncated reply is asked again with twice the cap, up to this (`CODEGEN_MAX_TOKENS_CAP`).
    pub max_tokens_cap: u32,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            model: "claude-opus-4-6".into(),
            temperature: 0.3,
            max_tokens: 2000,
            max_http_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
            max_body_bytes: 2 << 20,
            seed: 7,
            max_tokens_cap: 8_000,
        }
    }
}

/// What is asked of the model.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest<'a> {
    /// System prompt.
    pub system: &'a str,
    /// User prompt.
    pub user: &'a str,
    /// Reply cap, tokens.
    pub max_tokens: u32,
    /// The fenced block the reply is asked for ([`CODE_FENCE`] for code, [`JSON_FENCE`] for
    /// JSON): an Anthropic reply is prefilled with it and stopped at the closing fence.
    pub fence: &'a str,
}

/// The opening of a code reply: Anthropic replies are prefilled with it and stopped at the
/// closing fence.
pub const CODE_FENCE: &str = "```rust\n";

/// The opening of a JSON reply.
pub const JSON_FENCE: &str = "```json\n";

/// A model's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The reply text (for a prefilled reply, with the prefill and the stop sequence put back).
    pub text: String,
    /// The model that answered (as the server names it).
    pub model: String,
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens in the reply.
    pub output_tokens: u64,
    /// The reply was cut off at the token cap.
    pub truncated: bool,
    /// Served from the reply cache: no HTTP call, nothing charged.
    #[serde(default)]
    pub cached: bool,
    /// SHA-256 of the request's full content (the cache key), hex.
    #[serde(default)]
    pub request_sha256: String,
}

/// Why a completion failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request could not be made or answered (network, timeout).
    #[error("cannot reach the model server: {0}")]
    Transport(String),
    /// The server answered with an error status after all retries.
    #[error("the model server answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's error message (never our key).
        message: String,
    },
    /// The reply is not what the API promises.
    #[error("the model server's reply is malformed: {0}")]
    Malformed(String),
}

/// A client of one provider.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    provider: Provider,
    settings: LlmSettings,
    cache: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
struct AnthropicReply {
    model: Option<String>,
    content: Vec<AnthropicBlock>,
    usage: Option<AnthropicUsage>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OpenAiReply {
    model: Option<String>,
    choices: Vec<OpenAiChoice>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct OpenAiChoice {
    message: OpenAiMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct OpenAiMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl LlmClient {
    /// A client.
    ///
    /// # Errors
    /// [`LlmError::Transport`] when the HTTP client cannot be built.
    pub fn new(provider: Provider, settings: LlmSettings) -> Result<LlmClient, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("stratagem/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        Ok(LlmClient {
            http,
            provider,
            settings,
            cache: None,
        })
    }

    /// Serves identical requests from replies stored in `dir` (one file per request, named by
    /// the SHA-256 of its full content), and stores every complete reply there.
    pub fn with_cache(mut self, dir: impl Into<std::path::PathBuf>) -> LlmClient {
        self.cache = Some(dir.into());
        self
    }

    /// The request's body, as sent.
    fn body(&self, request: &ModelRequest<'_>) -> serde_json::Value {
        let s = &self.settings;
        match &self.provider {
            Provider::Anthropic { .. } => serde_json::json!({
                "model": s.model,
                "max_tokens": request.max_tokens,
                "temperature": s.temperature,
                "system": request.system,
                "messages": [
                    {"role": "user", "content": request.user},
                    {"role": "assistant", "content": request.fence.trim_end()},
                ],
                "stop_sequences": ["```"],
            }),
            Provider::OpenAiCompatible { .. } => serde_json::json!({
                "model": s.model,
                "max_tokens": request.max_tokens,
                "temperature": s.temperature,
                "seed": s.seed,
                "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
            }),
        }
    }

    fn cache_file(&self, key: &str) -> Option<std::path::PathBuf> {
        self.cache.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    fn cached(&self, key: &str) -> Option<Completion> {
        let bytes = std::fs::read(self.cache_file(key)?).ok()?;
        let mut c: Completion = serde_json::from_slice(&bytes).ok()?;
        (c.request_sha256 == key && !c.truncated).then(|| {
            c.cached = true;
            c
        })
    }

    fn store(&self, c: &Completion) {
        let Some(path) = self.cache_file(&c.request_sha256) else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(c).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot store a model reply in the cache");
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// Asks the model once (with HTTP retries), or answers from the cache when the same
    /// request was answered before.
    ///
    /// Cancel safety: cancel-safe (nothing is recorded until it returns).
    ///
    /// # Errors
    /// [`LlmError`] after the retries are spent, or at once for a status that is not retried.
    pub async fn complete(&self, request: &ModelRequest<'_>) -> Result<Completion, LlmError> {
        let s = &self.settings;
        let fence = request.fence;
        let body = self.body(request);
        // The full content, and who answers it: another server is another model.
        let key = {
            let (kind, url) = match &self.provider {
                Provider::Anthropic { base_url, .. } => ("anthropic", base_url),
                Provider::OpenAiCompatible { base_url, .. } => ("openai", base_url),
            };
            super::sha256_hex(&format!("{kind}\n{url}\n{body}"))
        };
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let request = match &self.provider {
            Provider::Anthropic { base_url, api_key } => self
                .http
                .post(format!("{}/v1/messages", base_url.trim_end_matches('/')))
                .header("x-api-key", api_key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .json(&body),
            Provider::OpenAiCompatible { base_url, api_key } => {
                let mut r = self
                    .http
                    .post(format!(
                        "{}/chat/completions",
                        base_url.trim_end_matches('/')
                    ))
                    .json(&body);
                if let Some(key) = api_key {
                    r = r.bearer_auth(key.expose());
                }
                r
            }
        };
        let mut attempt = 1;
        loop {
            let Some(this) = request.try_clone() else {
                return Err(LlmError::Transport("the request cannot be retried".into()));
            };
            let outcome = this.send().await;
            let retry_after = match outcome {
                Err(e) if attempt < s.max_http_attempts && (e.is_timeout() || e.is_connect()) => {
                    None
                }
                Err(e) => return Err(LlmError::Transport(without_url(&e))),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = crate::http_policy::retry_after_header(response.headers());
                    let body = read_capped(response, s.max_body_bytes).await?;
                    if (200..300).contains(&status) {
                        let mut completion = self.parse(&body, fence)?;
                        completion.request_sha256 = key;
                        if !completion.truncated {
                            self.store(&completion);
                        }
                        return Ok(completion);
                    }
                    let retryable =
                        matches!(status, 408 | 409 | 429 | 529) || (500..600).contains(&status);
                    if !retryable || attempt >= s.max_http_attempts {
                        return Err(LlmError::Status {
                            status,
                            message: error_message(&body),
                        });
                    }
                    tracing::warn!(status, attempt, "model server asked us to retry");
                    retry_after
                }
            };
            let wait =
                crate::http_policy::wait(retry_after, s.initial_backoff, s.max_backoff, attempt);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn parse(&self, body: &[u8], fence: &str) -> Result<Completion, LlmError> {
        let malformed = |e: serde_json::Error| LlmError::Malformed(e.to_string());
        match &self.provider {
            Provider::Anthropic { .. } => {
                let reply: AnthropicReply = serde_json::from_slice(body).map_err(malformed)?;
                let text: String = reply
                    .content
                    .iter()
                    .filter(|b| b.kind == "text")
                    .filter_map(|b| b.text.as_deref())
                    .collect();
                if text.trim().is_empty() {
                    return Err(LlmError::Malformed("no text in the reply".into()));
                }
                let stop = reply.stop_reason.as_deref();
                // The reply continues our prefilled fence, up to the closing fence (the stop
                // sequence, not in the text). A server that ignored the prefill sent a fence.
                let text = if text.contains("```") {
                    text
                } else if stop == Some("max_tokens") {
                    format!("{fence}{text}")
                } else {
                    format!("{fence}{}\n```", text.trim_end())
                };
                let usage = reply.usage.unwrap_or(AnthropicUsage {
                    input_tokens: None,
                    output_tokens: None,
                });
                Ok(Completion {
                    text,
                    model: reply.model.unwrap_or_else(|| self.settings.model.clone()),
                    input_tokens: usage.input_tokens.unwrap_or(0),
                    output_tokens: usage.output_tokens.unwrap_or(0),
                    truncated: stop == Some("max_tokens"),
                    cached: false,
                    request_sha256: String::new(),
                })
            }
            Provider::OpenAiCompatible { .. } => {
                let reply: OpenAiReply = serde_json::from_slice(body).map_err(malformed)?;
                let choice = reply.choices.into_iter().next();
                let truncated =
                    choice.as_ref().and_then(|c| c.finish_reason.as_deref()) == Some("length");
                let text = choice.and_then(|c| c.message.content).unwrap_or_default();
                if text.is_empty() {
                    return Err(LlmError::Malformed(
                        "no message content in the reply".into(),
                    ));
                }
                let usage = reply.usage.unwrap_or(OpenAiUsage {
                    prompt_tokens: None,
                    completion_tokens: None,
                });
                Ok(Completion {
                    text,
                    model: reply.model.unwrap_or_else(|| self.settings.model.clone()),
                    input_tokens: usage.prompt_tokens.unwrap_or(0),
                    output_tokens: usage.completion_tokens.unwrap_or(0),
                    truncated,
                    cached: false,
                    request_sha256: String::new(),
                })
            }
        }
    }
}

/// reqwest's error text without the URL (which could carry a key in a query string).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the reply body could not be read"
    } else {
        "request failed"
    };
    kind.to_string()
}

async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Vec<u8>, LlmError> {
    use crate::http_policy::BodyError;
    crate::http_policy::read_capped(response, cap)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(cap) => {
                LlmError::Malformed(format!("the reply is larger than {cap} bytes"))
            }
            BodyError::Transport(why) => LlmError::Transport(why),
        })
}

/// The server's error message from an error body (both APIs nest it as `error.message`).
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("message")))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    message.chars().take(300).collect()
}

/// The code of a reply: the first fenced block (```rust or ```), else the whole reply.
pub fn extract_code(reply: &str) -> Option<String> {
    let mut rest = reply;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let info = after[..body_start].trim();
        let body = &after[body_start..];
        let Some(end) = body.find("```") else { break };
        if info.is_empty() || info == "rust" || info == "rs" {
            let code = body[..end].trim_matches('\n');
            return (!code.trim().is_empty()).then(|| format!("{code}\n"));
        }
        rest = &body[end + 3..];
    }
    let trimmed = reply.trim();
    (!trimmed.is_empty() && !trimmed.contains("```")).then(|| format!("{trimmed}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_first_rust_block() {
        let check = |reply: &str, expected: Option<&str>| {
            assert_eq!(extract_code(reply).as_deref(), expected, "{reply}")
        };
        check("Here:\n```rust\nfn a() {}\n```\nDone.", Some("fn a() {}\n"));
        check("```\nfn b() {}\n```", Some("fn b() {}\n"));
        check(
            "```toml\nx = 1\n```\n```rust\nfn c() {}\n```",
            Some("fn c() {}\n"),
        );
        check("fn d() {}", Some("fn d() {}\n"));
        check("```rust\n```", None);
        check("", None);
    }

    #[test]
    fn keys_never_show_in_debug() {
        let p = Provider::Anthropic {
            base_url: "http://x".into(),
            api_key: Secret::new("sk-ant-very-secret"),
        };
        assert!(!format!("{p:?}").contains("very-secret"));
    }
}
