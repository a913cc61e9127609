//! One check of one source: the requests (or the recorded responses of `--offline DIR`), the
//! parsing, and the filtering down to items the log has not seen. The caller records the result
//! (one `source.checked` event and the opportunities) in one atomic batch.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use stratagem_events::SourceOutcome;

use super::config::DiscoveryConfig;
use super::http::{FetchError, Fetched, HttpClient, Response, Validators};
use super::{arxiv, defillama, edgar, manual, network, reddit, twitter};
use super::{GasConditions, Item, Page, ParseError, SourceName};

/// Where responses come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The network.
    Online,
    /// Recorded responses in `DIR/<source>/` (a file each; `NAME.headers.json` beside one holds
    /// its status and headers in the fixtures' format, else it is a 200).
    Offline(PathBuf),
}

/// What the check needs from the log.
pub struct Known<'a> {
    /// Whether this source's external id is already recorded.
    pub seen: &'a (dyn Fn(&str) -> bool + Sync),
    /// Unix time of this source's last successful check, if any.
    pub last_success_unix: Option<i64>,
}

/// The result of one check.
#[derive(Debug, Clone)]
pub struct SourceCheck {
    /// Which source.
    pub source: SourceName,
    /// Ok, not modified, or failed with the reasons.
    pub outcome: SourceOutcome,
    /// Items in the responses.
    pub fetched: u32,
    /// Items the log has not seen, in the source's order.
    pub items: Vec<Item>,
    /// Items skipped because the log (or an earlier page) already has them.
    pub already_seen: u32,
    /// Gas conditions, for DefiLlama with an RPC URL.
    pub gas: Option<GasConditions>,
    /// How long it took.
    pub duration: Duration,
}

/// Why a source was not checked at all (disabled, or missing what it needs to be polite).
pub fn not_ready(source: SourceName, config: &DiscoveryConfig, mode: &Mode) -> Option<String> {
    if !config.source(source).enabled {
        return Some(format!("disabled ({}=0)", source.enable_var()));
    }
    if *mode != Mode::Online {
        return None;
    }
    match source {
        SourceName::Twitter if config.twitter_token.is_none() => {
            Some("disabled: no bearer token (set TWITTER_BEARER_TOKEN)".into())
        }
        SourceName::Edgar if config.edgar_contact.is_none() => Some(
            "refused: the SEC requires a contact e-mail in the User-Agent (set DISCOVERY_EDGAR_CONTACT_EMAIL)".into(),
        ),
        _ => None,
    }
}

struct Collector<'a> {
    known: &'a Known<'a>,
    fetched: u32,
    seen: u32,
    items: Vec<Item>,
    errors: Vec<String>,
    bodies: u32,
    not_modified: u32,
    gas: Option<GasConditions>,
    listings: Vec<Item>,
}

impl Collector<'_> {
    /// Takes a page; returns how many of its items were new.
    fn take(&mut self, page: Page) -> usize {
        self.bodies += 1;
        self.fetched += page.items.len() as u32;
        if page.gas.is_some() {
            self.gas = page.gas;
        }
        let mut new = 0;
        for item in page.items {
            if (self.known.seen)(&item.external_id)
                || self
                    .items
                    .iter()
                    .chain(&self.listings)
                    .any(|i| i.external_id == item.external_id)
            {
                self.seen += 1;
                continue;
            }
            new += 1;
            if item.source == SourceName::Defillama {
                self.listings.push(item);
            } else {
                self.items.push(item);
            }
        }
        new
    }

    fn fail(&mut self, context: &str, e: impl std::fmt::Display) {
        self.errors.push(if context.is_empty() {
            e.to_string()
        } else {
            format!("{context}: {e}")
        });
    }
}

/// Runs one check.
pub async fn check_source(
    source: SourceName,
    config: &DiscoveryConfig,
    mode: &Mode,
    validators: &mut Validators,
    known: &Known<'_>,
) -> SourceCheck {
    let started = Instant::now();
    let mut c = Collector {
        known,
        fetched: 0,
        seen: 0,
        items: Vec::new(),
        errors: Vec::new(),
        bodies: 0,
        not_modified: 0,
        gas: None,
        listings: Vec::new(),
    };
    match mode {
        Mode::Offline(dir) => offline(source, &dir.join(source.as_str()), config, &mut c),
        Mode::Online => {
            if source == SourceName::Manual {
                match &config.inbox {
                    Some(inbox) => offline(source, inbox, config, &mut c),
                    None => c.fail("", "no inbox folder configured"),
                }
            } else {
                match HttpClient::new(config.source(source).http.clone()) {
                    Ok(mut http) => online(source, config, &mut http, validators, &mut c).await,
                    Err(e) => c.fail("", e),
                }
            }
        }
    }
    // DefiLlama lists every protocol ever: only the newly listed ones are ideas.
    let listings = std::mem::take(&mut c.listings);
    c.items.extend(newly_listed(
        listings,
        known.last_success_unix,
        config.defillama_window_days,
    ));
    let outcome = if !c.errors.is_empty() {
        let mut error = c.errors.join("; ");
        if error.len() > 1_000 {
            error = super::clip(&error, 1_000);
        }
        SourceOutcome::Failed { error }
    } else if c.bodies == 0 && c.not_modified > 0 {
        SourceOutcome::NotModified
    } else {
        SourceOutcome::Ok
    };
    SourceCheck {
        source,
        outcome,
        fetched: c.fetched,
        items: c.items,
        already_seen: c.seen,
        gas: c.gas,
        duration: started.elapsed(),
    }
}

/// Protocols listed after the last successful check; on the first check, those listed within
/// `window_days` of the newest listing in the reply (so a first run does not turn thousands of
/// old protocols into ideas).
fn newly_listed(
    listings: Vec<Item>,
    last_success_unix: Option<i64>,
    window_days: u32,
) -> Vec<Item> {
    let listed = |i: &Item| i.field("listed_at").and_then(|v| v.parse::<i64>().ok());
    let cutoff = match last_success_unix {
        Some(t) => t,
        None => match listings.iter().filter_map(listed).max() {
            Some(newest) => newest - i64::from(window_days) * 86_400,
            None => return Vec::new(),
        },
    };
    listings
        .into_iter()
        .filter(|i| listed(i).is_some_and(|t| t >= cutoff))
        .collect()
}

fn parse(source: SourceName, name: &str, body: &[u8]) -> Result<Page, ParseError> {
    match source {
        SourceName::Arxiv => arxiv::parse(body),
        SourceName::Reddit => reddit::parse(body),
        SourceName::Twitter => twitter::parse(body),
        SourceName::Defillama => defillama::parse(body),
        SourceName::Edgar => edgar::parse(body),
        SourceName::Network => network::parse(body),
        SourceName::Manual => manual::parse(name, body),
    }
}

/// Reads recorded responses (or the inbox) from a folder.
fn offline(source: SourceName, dir: &Path, config: &DiscoveryConfig, c: &mut Collector<'_>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && source == SourceName::Manual => {
            return
        }
        Err(e) => return c.fail("", format!("cannot read {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && !name.ends_with(".headers.json")
                && !name.eq_ignore_ascii_case("README.md")
        })
        .collect();
    files.sort();
    let cap = config.source(source).http.max_body_bytes;
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let body = match std::fs::metadata(&path) {
            Ok(m) if m.len() > cap as u64 => {
                c.fail(&name, FetchError::TooLarge { limit: cap });
                continue;
            }
            _ => match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    c.fail(&name, format!("cannot read: {e}"));
                    continue;
                }
            },
        };
        let status = recorded_status(&path);
        match parse(source, &name, &body) {
            Err(e) => c.fail(&name, e),
            Ok(_) if !(200..300).contains(&status) => {
                c.fail(&name, format!("recorded HTTP {status}"))
            }
            Ok(page) => {
                c.take(page);
            }
        }
    }
}

/// The status in a recorded response's `.headers.json` (200 when there is none).
fn recorded_status(path: &Path) -> u16 {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let sidecar = path.with_file_name(format!("{stem}.headers.json"));
    std::fs::read(sidecar)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.pointer("/status/code").and_then(Value::as_u64))
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200)
}

/// A response to a parsed page; error statuses are failures whose message is the service's own
/// when the body is its error format.
fn read_body(
    source: SourceName,
    fetched: Result<Fetched, FetchError>,
    c: &mut Collector<'_>,
    context: &str,
) -> Option<Page> {
    match fetched {
        Ok(Fetched::NotModified) => {
            c.not_modified += 1;
            None
        }
        Ok(Fetched::Body(response)) => match parse(source, "", &response.body) {
            Ok(page) => Some(page),
            Err(e) => {
                c.fail(context, e);
                None
            }
        },
        Err(FetchError::Status {
            status,
            attempts,
            message,
        }) => {
            // arXiv answers a bad query with HTTP 400 and an Atom error feed: say what it says.
            c.fail(
                context,
                FetchError::Status {
                    status,
                    attempts,
                    message,
                },
            );
            None
        }
        Err(e) => {
            c.fail(context, e);
            None
        }
    }
}

async fn online(
    source: SourceName,
    config: &DiscoveryConfig,
    http: &mut HttpClient,
    validators: &mut Validators,
    c: &mut Collector<'_>,
) {
    let base = config.source(source).base_url.clone();
    match source {
        SourceName::Arxiv => {
            let per_page = config.arxiv_page_size;
            for page_no in 0..config.max_pages {
                let url = match arxiv::query_url(
                    &base,
                    &config.arxiv_categories,
                    u64::from(page_no) * u64::from(per_page),
                    per_page,
                ) {
                    Ok(u) => u,
                    Err(e) => return c.fail("", e),
                };
                let fetched = http.get(&url, &[], validators).await;
                let Some(page) = read_body(source, fetched, c, &format!("page {}", page_no + 1))
                else {
                    return;
                };
                let returned = page.items.len();
                let new = c.take(page);
                // Newest first: a page with nothing new, or a short page, is the end.
                if new == 0 || returned < per_page as usize {
                    return;
                }
            }
        }
        SourceName::Reddit => {
            let token = match &config.reddit_credentials {
                None => None,
                Some((id, secret)) => {
                    let request = http
                        .builder()
                        .post(format!("{base}/api/v1/access_token"))
                        .basic_auth(id, Some(secret.expose()))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("grant_type=client_credentials");
                    match http.send(request).await {
                        Ok(r) => match access_token(&r) {
                            Some(t) => Some(t),
                            None => return c.fail("OAuth", "the token reply has no access_token"),
                        },
                        Err(e) => return c.fail("OAuth", e),
                    }
                }
            };
            for sub in &config.subreddits {
                let (url, headers) = match &token {
                    Some(t) => (
                        format!(
                            "{}/r/{sub}/new?limit=100&raw_json=1",
                            config.reddit_oauth_url
                        ),
                        vec![("authorization", format!("Bearer {t}"))],
                    ),
                    None => (
                        format!("{base}/r/{sub}/new.json?limit=100&raw_json=1"),
                        Vec::new(),
                    ),
                };
                let fetched = http.get(&url, &headers, validators).await;
                if let Some(page) = read_body(source, fetched, c, &format!("r/{sub}")) {
                    c.take(page);
                }
            }
        }
        SourceName::Twitter => {
            let Some(token) = &config.twitter_token else {
                return;
            };
            let auth = vec![("authorization", format!("Bearer {}", token.expose()))];
            for (qi, query) in config.twitter_queries.iter().enumerate() {
                let mut next: Option<String> = None;
                for _ in 0..config.max_pages {
                    let Ok(mut url) =
                        reqwest::Url::parse(&format!("{base}/2/tweets/search/recent"))
                    else {
                        return c.fail("", "bad base URL");
                    };
                    url.query_pairs_mut()
                        .append_pair("query", query)
                        .append_pair("max_results", "100")
                        .append_pair("tweet.fields", "created_at,author_id");
                    if let Some(t) = &next {
                        url.query_pairs_mut().append_pair("next_token", t);
                    }
                    let fetched = http.get(url.as_str(), &auth, validators).await;
                    let Some(page) = read_body(source, fetched, c, &format!("query {}", qi + 1))
                    else {
                        break;
                    };
                    next = page.next.clone();
                    let new = c.take(page);
                    if next.is_none() || new == 0 {
                        break;
                    }
                }
            }
        }
        SourceName::Defillama => {
            let fetched = http
                .get(&format!("{base}/protocols"), &[], validators)
                .await;
            if let Some(page) = read_body(source, fetched, c, "protocols") {
                c.take(page);
            }
            if let Some(rpc) = &config.rpc_url {
                match http.post_json(rpc, &defillama::fee_history_request()).await {
                    Ok(r) => match defillama::parse(&r.body) {
                        Ok(page) => {
                            c.take(page);
                        }
                        Err(e) => c.fail("eth_feeHistory", e),
                    },
                    Err(e) => c.fail("eth_feeHistory", e),
                }
            }
        }
        SourceName::Edgar => {
            for form in &config.edgar_forms {
                let Ok(mut url) = reqwest::Url::parse(&format!("{base}/cgi-bin/browse-edgar"))
                else {
                    return c.fail("", "bad base URL");
                };
                url.query_pairs_mut()
                    .append_pair("action", "getcurrent")
                    .append_pair("type", form)
                    .append_pair("count", "40")
                    .append_pair("output", "atom");
                let fetched = http.get(url.as_str(), &[], validators).await;
                if let Some(page) = read_body(source, fetched, c, &format!("latest {form}")) {
                    c.take(page);
                }
            }
            for term in &config.edgar_terms {
                let Ok(mut url) = reqwest::Url::parse(&format!(
                    "{}/LATEST/search-index",
                    config.edgar_search_url
                )) else {
                    return c.fail("", "bad search URL");
                };
                url.query_pairs_mut()
                    .append_pair("q", &format!("\"{term}\""))
                    .append_pair("forms", &config.edgar_forms.join(","));
                let fetched = http.get(url.as_str(), &[], validators).await;
                if let Some(page) = read_body(source, fetched, c, &format!("search {term:?}")) {
                    c.take(page);
                }
            }
        }
        SourceName::Network => {
            for repo in &config.network_repos {
                let fetched = http
                    .get(&format!("{base}/{repo}/releases.atom"), &[], validators)
                    .await;
                if let Some(page) = read_body(source, fetched, c, repo) {
                    c.take(page);
                }
            }
        }
        SourceName::Manual => {}
    }
}

fn access_token(r: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    v.get("access_token")?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}
