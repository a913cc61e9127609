//! Discovery sources: one module per source, each a parser of the source's real payloads (plain
//! functions, no I/O) and the requests one check makes.
//!
//! | source | what | payloads |
//! | --- | --- | --- |
//! | `arxiv` | arXiv API, q-fin.TR / q-fin.CP / stat.ML, newest first, paged, ≤ 1 request per 3 s | Atom (both the pre-2025 and the current layout), rss.arxiv.org RSS |
//! | `reddit` | new posts of subreddits; OAuth app-only with credentials, else the public listing | Listing JSON |
//! | `twitter` | X API v2 recent search with a bearer token | JSON with `meta.next_token` |
//! | `defillama` | protocols newly listed (`listedAt`), gas from `eth_feeHistory` | JSON, JSON-RPC |
//! | `edgar` | latest filings Atom and full-text search; contact e-mail required | Atom (ISO-8859-1), Elasticsearch JSON |
//! | `network` | client releases (`releases.atom` of GitHub repositories) | Atom |
//! | `manual` | `stratagem submit`, and an inbox folder of JSON or Markdown ideas | files |
//!
//! [`check::check_source`] runs one check of a source, online or from recorded responses
//! (`--offline DIR` reads `DIR/<source>/`), and returns the items it found.

pub mod arxiv;
pub mod check;
pub mod config;
pub mod defillama;
pub mod edgar;
pub mod http;
pub mod manual;
pub mod network;
pub mod reddit;
pub mod twitter;
pub mod xml;

use serde::Serialize;

/// A discovery source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceName {
    /// arXiv papers.
    Arxiv,
    /// Reddit posts.
    Reddit,
    /// X (Twitter) posts.
    Twitter,
    /// DefiLlama protocol listings and Ethereum gas (the seed's defunct DeFi Pulse).
    Defillama,
    /// SEC EDGAR filings.
    Edgar,
    /// Network upgrades (client releases).
    Network,
    /// Ideas submitted by people.
    Manual,
}

impl SourceName {
    /// Every source, in check order.
    pub const ALL: [SourceName; 7] = [
        SourceName::Arxiv,
        SourceName::Reddit,
        SourceName::Twitter,
        SourceName::Defillama,
        SourceName::Edgar,
        SourceName::Network,
        SourceName::Manual,
    ];

    /// The name on the command line, in events and as the offline folder.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceName::Arxiv => "arxiv",
            SourceName::Reddit => "reddit",
            SourceName::Twitter => "twitter",
            SourceName::Defillama => "defillama",
            SourceName::Edgar => "edgar",
            SourceName::Network => "network",
            SourceName::Manual => "manual",
        }
    }

    /// By name (`defi_pulse` and `sec_edgar`, the seed's names, are accepted too).
    pub fn parse(name: &str) -> Option<SourceName> {
        let name = name.trim().to_ascii_lowercase();
        SourceName::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .or(match name.as_str() {
                "defi_pulse" | "defipulse" => Some(SourceName::Defillama),
                "sec_edgar" | "sec" => Some(SourceName::Edgar),
                "x" => Some(SourceName::Twitter),
                _ => None,
            })
    }

    /// The seed's enable switch.
    pub fn enable_var(self) -> &'static str {
        match self {
            SourceName::Arxiv => "DISCOVERY_ARXIV_ENABLED",
            SourceName::Reddit => "DISCOVERY_REDDIT_ENABLED",
            SourceName::Twitter => "DISCOVERY_TWITTER_ENABLED",
            SourceName::Defillama => "DISCOVERY_DEFI_PULSE_ENABLED",
            SourceName::Edgar => "DISCOVERY_SEC_EDGAR_ENABLED",
            SourceName::Network => "DISCOVERY_NETWORK_ENABLED",
            SourceName::Manual => "DISCOVERY_MANUAL_ENABLED",
        }
    }

    /// The prefix of this source's other settings (`DISCOVERY_ARXIV_`…).
    pub fn var_prefix(self) -> &'static str {
        match self {
            SourceName::Arxiv => "DISCOVERY_ARXIV_",
            SourceName::Reddit => "DISCOVERY_REDDIT_",
            SourceName::Twitter => "DISCOVERY_TWITTER_",
            SourceName::Defillama => "DISCOVERY_DEFILLAMA_",
            SourceName::Edgar => "DISCOVERY_EDGAR_",
            SourceName::Network => "DISCOVERY_NETWORK_",
            SourceName::Manual => "DISCOVERY_MANUAL_",
        }
    }
}

impl std::fmt::Display for SourceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a source published: a paper, a post, a filing, a release, a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Where it came from.
    pub source: SourceName,
    /// The source's own id (arXiv id without version, post fullname, accession number, …):
    /// the de-duplication key, with the source.
    pub external_id: String,
    /// Title (whitespace collapsed).
    pub title: String,
    /// The text: abstract, post body, description, release notes (plain text).
    pub text: String,
    /// A link for people.
    pub url: Option<String>,
    /// When it was published, as the source says (RFC 3339 where the source gives it).
    pub published: Option<String>,
    /// Source-specific fields kept verbatim (`arxiv:primary_category`, `form`, `subreddit`, …).
    pub fields: Vec<(String, String)>,
}

impl Item {
    /// A field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Ethereum gas conditions from `eth_feeHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GasConditions {
    /// First block of the window.
    pub oldest_block: u64,
    /// Blocks in the window.
    pub blocks: u32,
    /// Base fee of the next block, in gwei.
    pub next_base_fee_gwei: f64,
    /// Mean base fee over the window, in gwei.
    pub mean_base_fee_gwei: f64,
    /// Mean share of the gas limit used.
    pub mean_gas_used_ratio: f64,
}

/// What one response held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The items, in the source's order, without repeats of one external id.
    pub items: Vec<Item>,
    /// Cursor of the next page (Reddit `after`, X `next_token`), when there is one.
    pub next: Option<String>,
    /// Total results the source reports (arXiv `opensearch:totalResults`).
    pub total: Option<u64>,
    /// Gas conditions, for an `eth_feeHistory` reply.
    pub gas: Option<GasConditions>,
}

impl Page {
    /// Adds an item unless one with its external id is already on the page (EDGAR lists a
    /// filing once per filer).
    pub(crate) fn push(&mut self, item: Item) {
        if !self.items.iter().any(|i| i.external_id == item.external_id) {
            self.items.push(item);
        }
    }
}

/// A response that cannot be read as the source's format, or that is the source's own error
/// reply. Never a panic, whatever the bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Not the expected format.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which format (`arXiv Atom feed`, `Reddit listing`, …).
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The service answered with its error format.
    #[error("{service} error: {message}")]
    Service {
        /// Which service.
        service: &'static str,
        /// Its message.
        message: String,
    },
}

pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> ParseError {
    ParseError::Malformed {
        what,
        detail: detail.to_string(),
    }
}

/// The whole text of a string, collapsed, cut at `max` characters on a word boundary.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = xml::collapse_whitespace(text);
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

/// A JSON string field, or a number rendered as text (X and DefiLlama mix both for ids).
pub(crate) fn json_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds to RFC 3339, when in range.
pub(crate) fn unix_to_rfc3339(secs: f64) -> Option<String> {
    if !secs.is_finite() {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}
