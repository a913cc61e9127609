//! Discovery settings, from the seed's environment variables (`DISCOVERY_<SOURCE>_ENABLED`) and
//! ours (`DISCOVERY_<SOURCE>_INTERVAL_HOURS`, `…_BASE_URL`, lists, credentials). A bad value is
//! refused with its key named; secrets are redacted in `Debug`.

use crate::setting::SettingError;
use std::path::PathBuf;
use std::time::Duration;

use super::http::HttpPolicy;
use super::{arxiv, edgar, network, reddit, twitter, SourceName};
use crate::generator::llm::Secret;

/// Settings of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings {
    /// `DISCOVERY_<SOURCE>_ENABLED` (default on).
    pub enabled: bool,
    /// `DISCOVERY_<SOURCE>_INTERVAL_HOURS`, 1–24.
    pub interval: Duration,
    /// `DISCOVERY_<SOURCE>_BASE_URL`.
    pub base_url: String,
    /// The HTTP policy (shared settings, this source's rate limit).
    pub http: HttpPolicy,
}

/// Everything discovery needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    /// Per source, in [`SourceName::ALL`] order.
    pub sources: Vec<(SourceName, SourceSettings)>,
    /// arXiv categories (`DISCOVERY_ARXIV_CATEGORIES`, comma-separated).
    pub arxiv_categories: Vec<String>,
    /// Results per arXiv page (`DISCOVERY_ARXIV_PAGE_SIZE`, default 50).
    pub arxiv_page_size: u32,
    /// Pages per check for paged sources (`DISCOVERY_MAX_PAGES`, default 2).
    pub max_pages: u32,
    /// Subreddits (`DISCOVERY_REDDIT_SUBREDDITS`).
    pub subreddits: Vec<String>,
    /// OAuth host (`DISCOVERY_REDDIT_OAUTH_URL`, default `https://oauth.reddit.com`).
    pub reddit_oauth_url: String,
    /// `REDDIT_CLIENT_ID` and `REDDIT_CLIENT_SECRET`: app-only OAuth when both are set.
    pub reddit_credentials: Option<(String, Secret)>,
    /// `TWITTER_BEARER_TOKEN` (or `X_BEARER_TOKEN`).
    pub twitter_token: Option<Secret>,
    /// X search queries (`DISCOVERY_TWITTER_QUERIES`, separated by `;`).
    pub twitter_queries: Vec<String>,
    /// JSON-RPC URL for `eth_feeHistory` (`DISCOVERY_DEFILLAMA_RPC_URL`; empty = no gas).
    pub rpc_url: Option<String>,
    /// On the first check, protocols listed within this many days of the newest listing count
    /// as new (`DISCOVERY_DEFILLAMA_NEW_WINDOW_DAYS`, default 7).
    pub defillama_window_days: u32,
    /// Full-text search host (`DISCOVERY_EDGAR_SEARCH_URL`, default `https://efts.sec.gov`).
    pub edgar_search_url: String,
    /// Contact e-mail for the SEC's User-Agent (`DISCOVERY_EDGAR_CONTACT_EMAIL`): required.
    pub edgar_contact: Option<String>,
    /// Forms (`DISCOVERY_EDGAR_FORMS`).
    pub edgar_forms: Vec<String>,
    /// Full-text terms (`DISCOVERY_EDGAR_TERMS`, separated by `;`).
    pub edgar_terms: Vec<String>,
    /// Client repositories (`DISCOVERY_NETWORK_REPOS`).
    pub network_repos: Vec<String>,
    /// The inbox folder (`DISCOVERY_MANUAL_INBOX`; default `<data dir>/inbox`).
    pub inbox: Option<PathBuf>,
}

impl DiscoveryConfig {
    /// One source's settings.
    pub fn source(&self, name: SourceName) -> &SourceSettings {
        &self
            .sources
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every source has settings")
            .1
    }

    /// Reads the settings through `get` (the environment, or a map in tests).
    ///
    /// # Errors
    /// A message naming the key and what it should be.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<DiscoveryConfig, SettingError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |k: &str, default: u64, min: u64, max: u64| -> Result<u64, SettingError> {
            match var(k) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(x) if (min..=max).contains(&x) => Ok(x),
                    _ => Err(SettingError::new(
                        k,
                        format!("{k}={v:?} is not a whole number from {min} to {max}"),
                    )),
                },
            }
        };
        let flag = |k: &str| -> Result<bool, SettingError> {
            match var(k).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
                Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
                Some(v) => Err(SettingError::new(
                    k,
                    format!("{k}={v:?} is not 1/0 (or true/false)"),
                )),
            }
        };
        let url = |k: &str, default: &str| -> Result<String, SettingError> {
            let v = var(k).unwrap_or_else(|| default.to_string());
            match reqwest::Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    Ok(v.trim_end_matches('/').to_string())
                }
                _ => Err(SettingError::new(
                    k,
                    format!("{k}={v:?} is not an http(s) URL"),
                )),
            }
        };
        let list = |k: &str, sep: char, default: &[&str]| -> Vec<String> {
            match var(k) {
                None => default.iter().map(|s| s.to_string()).collect(),
                Some(v) => v
                    .split(sep)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            }
        };
        let edgar_contact = var("DISCOVERY_EDGAR_CONTACT_EMAIL");
        if let Some(c) = &edgar_contact {
            let ok = c
                .split_once('@')
                .is_some_and(|(a, d)| !a.is_empty() && d.contains('.'))
                && !c.contains(char::is_whitespace);
            if !ok {
                return Err(SettingError::new(
                    "DISCOVERY_EDGAR_CONTACT_EMAIL",
                    format!("DISCOVERY_EDGAR_CONTACT_EMAIL={c:?} is not an e-mail address"),
                ));
            }
        }
        let shared = HttpPolicy {
            timeout: Duration::from_millis(number(
                "DISCOVERY_HTTP_TIMEOUT_MS",
                30_000,
                100,
                600_000,
            )?),
            max_body_bytes: number(
                "DISCOVERY_HTTP_MAX_BODY_BYTES",
                8 * 1024 * 1024,
                1024,
                256 * 1024 * 1024,
            )? as usize,
            max_attempts: number("DISCOVERY_HTTP_MAX_ATTEMPTS", 3, 1, 10)? as u32,
            initial_backoff: Duration::from_millis(number(
                "DISCOVERY_HTTP_BACKOFF_MS",
                1_000,
                0,
                60_000,
            )?),
            max_wait: Duration::from_millis(number(
                "DISCOVERY_HTTP_MAX_WAIT_MS",
                60_000,
                0,
                3_600_000,
            )?),
            ..HttpPolicy::default()
        };
        let defaults: [(SourceName, u64, &str); 7] = [
            (SourceName::Arxiv, 6, "https://export.arxiv.org"),
            (SourceName::Reddit, 1, "https://www.reddit.com"),
            (SourceName::Twitter, 1, "https://api.x.com"),
            (SourceName::Defillama, 4, "https://api.llama.fi"),
            (SourceName::Edgar, 2, "https://www.sec.gov"),
            (SourceName::Network, 12, "https://github.com"),
            (SourceName::Manual, 1, "http://localhost"),
        ];
        let mut sources = Vec::new();
        for (name, hours, base) in defaults {
            let p = name.var_prefix();
            let mut http = shared.clone();
            match name {
                // arXiv's terms: no more than one request every three seconds.
                SourceName::Arxiv => {
                    http.min_interval = Duration::from_millis(number(
                        "DISCOVERY_ARXIV_MIN_INTERVAL_MS",
                        3_000,
                        3_000,
                        600_000,
                    )?)
                }
                // The SEC's fair-access policy: at most 10 requests a second, and a contact.
                SourceName::Edgar => {
                    http.min_interval = Duration::from_millis(100);
                    if let Some(c) = &edgar_contact {
                        http.user_agent = format!("stratagem/{} {c}", env!("CARGO_PKG_VERSION"));
                    }
                }
                _ => {}
            }
            sources.push((
                name,
                SourceSettings {
                    enabled: flag(name.enable_var())?,
                    interval: Duration::from_secs(
                        3600 * number(&format!("{p}INTERVAL_HOURS"), hours, 1, 24)?,
                    ),
                    base_url: url(&format!("{p}BASE_URL"), base)?,
                    http,
                },
            ));
        }
        let reddit_credentials = match (var("REDDIT_CLIENT_ID"), var("REDDIT_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some((id, Secret::new(secret))),
            (None, None) => None,
            _ => {
                return Err(SettingError::new(
                    "REDDIT_CLIENT_SECRET",
                    "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET must be set together",
                ))
            }
        };
        let subreddits = list(
            "DISCOVERY_REDDIT_SUBREDDITS",
            ',',
            &reddit::DEFAULT_SUBREDDITS,
        );
        if let Some(bad) = subreddits
            .iter()
            .find(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(SettingError::new(
                "DISCOVERY_REDDIT_SUBREDDITS",
                format!("DISCOVERY_REDDIT_SUBREDDITS: {bad:?} is not a subreddit name"),
            ));
        }
        let network_repos = list("DISCOVERY_NETWORK_REPOS", ',', &network::DEFAULT_REPOS);
        if let Some(bad) = network_repos.iter().find(|r| {
            let parts: Vec<&str> = r.split('/').collect();
            parts.len() != 2
                || parts.iter().any(|p| {
                    p.is_empty()
                        || !p
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
        }) {
            return Err(SettingError::new(
                "DISCOVERY_NETWORK_REPOS",
                format!("DISCOVERY_NETWORK_REPOS: {bad:?} is not owner/name"),
            ));
        }
        Ok(DiscoveryConfig {
            sources,
            arxiv_categories: list(
                "DISCOVERY_ARXIV_CATEGORIES",
                ',',
                &arxiv::DEFAULT_CATEGORIES,
            ),
            arxiv_page_size: number("DISCOVERY_ARXIV_PAGE_SIZE", 50, 1, 2_000)? as u32,
            max_pages: number("DISCOVERY_MAX_PAGES", 2, 1, 20)? as u32,
            subreddits,
            reddit_oauth_url: url("DISCOVERY_REDDIT_OAUTH_URL", "https://oauth.reddit.com")?,
            reddit_credentials,
            twitter_token: var("TWITTER_BEARER_TOKEN")
                .or_else(|| var("X_BEARER_TOKEN"))
                .map(Secret::new),
            twitter_queries: list("DISCOVERY_TWITTER_QUERIES", ';', &twitter::DEFAULT_QUERIES),
            rpc_url: match var("DISCOVERY_DEFILLAMA_RPC_URL") {
                None => Some("https://ethereum-rpc.publicnode.com".into()),
                Some(v) if v == "none" => None,
                Some(_) => Some(url("DISCOVERY_DEFILLAMA_RPC_URL", "")?),
            },
            defillama_window_days: number("DISCOVERY_DEFILLAMA_NEW_WINDOW_DAYS", 7, 1, 365)? as u32,
            edgar_search_url: url("DISCOVERY_EDGAR_SEARCH_URL", "https://efts.sec.gov")?,
            edgar_contact,
            edgar_forms: list("DISCOVERY_EDGAR_FORMS", ',', &edgar::DEFAULT_FORMS),
            edgar_terms: list("DISCOVERY_EDGAR_TERMS", ';', &edgar::DEFAULT_TERMS),
            network_repos,
            inbox: var("DISCOVERY_MANUAL_INBOX").map(PathBuf::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<DiscoveryConfig, SettingError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DiscoveryConfig::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_seeds() {
        let c = with(&[]).unwrap();
        assert!(SourceName::ALL.iter().all(|s| c.source(*s).enabled));
        assert_eq!(
            c.source(SourceName::Arxiv).http.min_interval,
            Duration::from_secs(3)
        );
        assert_eq!(c.arxiv_categories, ["q-fin.TR", "q-fin.CP", "stat.ML"]);
        assert_eq!(c.subreddits, ["algotrading", "quant"]);
        assert!(c.twitter_token.is_none() && c.edgar_contact.is_none());
    }

    #[test]
    fn bad_values_name_their_key() {
        let check = |pairs: &[(&str, &str)], key: &str| {
            let e = with(pairs).unwrap_err();
            assert!(e.contains(key), "{e}");
        };
        check(
            &[("DISCOVERY_ARXIV_ENABLED", "maybe")],
            "DISCOVERY_ARXIV_ENABLED",
        );
        check(
            &[("DISCOVERY_REDDIT_INTERVAL_HOURS", "25")],
            "DISCOVERY_REDDIT_INTERVAL_HOURS",
        );
        check(
            &[("DISCOVERY_REDDIT_INTERVAL_HOURS", "0")],
            "DISCOVERY_REDDIT_INTERVAL_HOURS",
        );
        check(
            &[("DISCOVERY_ARXIV_BASE_URL", "ftp://x")],
            "DISCOVERY_ARXIV_BASE_URL",
        );
        check(
            &[("DISCOVERY_ARXIV_MIN_INTERVAL_MS", "100")],
            "DISCOVERY_ARXIV_MIN_INTERVAL_MS",
        );
        check(
            &[("DISCOVERY_EDGAR_CONTACT_EMAIL", "nobody")],
            "DISCOVERY_EDGAR_CONTACT_EMAIL",
        );
        check(&[("REDDIT_CLIENT_ID", "x")], "REDDIT_CLIENT_SECRET");
        check(
            &[("DISCOVERY_NETWORK_REPOS", "geth")],
            "DISCOVERY_NETWORK_REPOS",
        );
        check(
            &[("DISCOVERY_REDDIT_SUBREDDITS", "a/b")],
            "DISCOVERY_REDDIT_SUBREDDITS",
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = with(&[
            ("TWITTER_BEARER_TOKEN", "AAAA-very-secret"),
            ("REDDIT_CLIENT_ID", "id"),
            ("REDDIT_CLIENT_SECRET", "shh-secret"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret") && !debug.contains("shh-secret"));
    }
}
