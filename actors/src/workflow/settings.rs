//! The settings every workflow reads, from one [`Settings`] value: a lookup of the settings by
//! their environment-variable names, which the binary builds from the configuration file and
//! the environment (never by writing the environment). Each reader checks its values and
//! refuses a bad one with its key named ([`SettingError`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stratagem_events::GenerationMode;

use crate::generator::llm::{LlmSettings, Provider, Secret};
use crate::market;
use crate::notify::SlackSettings;
use crate::pipeline::Concurrency;
use crate::scorer::ScorerConfig;
use crate::setting::SettingError;
use crate::sources::config::DiscoveryConfig;
use crate::stages::monitor::MonitorSettings;
use crate::stages::runner::StageSettings;
use crate::validator::integration::IntegrationRules;
use crate::validator::sandbox::compile::CompileLimits;
use crate::validator::sandbox::runtime::{RiskLimits, SandboxLimits};
use crate::validator::sandbox::SandboxLayer;
use crate::validator::Validator;

use super::Result;

/// Bars layer 6 runs a strategy over: the most recent of the embedded hourly file.
pub const VALIDATION_BARS: usize = 1000;

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The settings, by key (`COLD_MIN_SHARPE`, …): cheap to clone, shared by every workflow.
#[derive(Clone)]
pub struct Settings {
    lookup: Arc<Lookup>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settings { .. }")
    }
}

impl Default for Settings {
    /// Every setting at its default.
    fn default() -> Settings {
        Settings::new(|_| None)
    }
}

impl Settings {
    /// Settings answered by `lookup` (a key's value, or `None` when it is not set).
    pub fn new(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Settings {
        Settings {
            lookup: Arc::new(lookup),
        }
    }

    /// Settings from `(key, value)` pairs (tests, tools).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Settings {
        let map: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Settings::new(move |k| map.get(k).cloned())
    }

    /// A setting's text, trimmed; `None` when unset or empty.
    pub fn text(&self, key: &str) -> Option<String> {
        (self.lookup)(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The lookup as the library's older readers take it (`from_lookup`).
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| self.text(k)
    }

    /// A parsed setting: `default` when unset, else its value if it parses and `ok` holds.
    ///
    /// # Errors
    /// A value that does not parse or is out of range, naming the key and `what` it should be.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        ok: impl Fn(&T) -> bool,
        what: &str,
    ) -> Result<T, SettingError> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => match v.parse::<T>() {
                Ok(x) if ok(&x) => Ok(x),
                _ => Err(SettingError::new(key, format!("{key}={v:?} is not {what}"))),
            },
        }
    }

    /// A boolean setting (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; unset is false).
    ///
    /// # Errors
    /// Any other value, naming the key.
    pub fn flag(&self, key: &str) -> Result<bool, SettingError> {
        match self.text(key).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("0" | "false" | "no" | "off") => Ok(false),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some(other) => Err(SettingError::new(
                key,
                format!("{key}={other:?} is not a boolean (use 1 or 0)"),
            )),
        }
    }

    /// Where the stages take their bars: `STAGE_MARKET`, else the first series of `MARKETS`,
    /// else the embedded recording; always the recording when `offline` (`run --offline`).
    ///
    /// # Errors
    /// A bad series, venue address or poll interval, named.
    pub fn stage_market(
        &self,
        offline: bool,
    ) -> Result<crate::stages::realclock::StageMarket, SettingError> {
        use crate::stages::realclock::StageMarket;
        if offline {
            return Ok(StageMarket::Recorded);
        }
        let mut markets = Vec::new();
        let configured = self.text("MARKETS").unwrap_or_default();
        for spec in configured
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            markets
                .push(crate::bars::Series::parse(spec).map_err(|e| {
                    SettingError::new("MARKETS", format!("MARKETS: {spec:?}: {e}"))
                })?);
        }
        let series = match self.text("STAGE_MARKET") {
            Some(v) if v.eq_ignore_ascii_case("recorded") => return Ok(StageMarket::Recorded),
            Some(v) => crate::bars::Series::parse(&v).map_err(|e| {
                SettingError::new("STAGE_MARKET", format!("STAGE_MARKET: {v:?}: {e}"))
            })?,
            None => match markets.first() {
                Some(s) => s.clone(),
                None => return Ok(StageMarket::Recorded),
            },
        };
        if !markets.contains(&series) {
            markets.insert(0, series.clone());
        }
        let poll: f64 = self.parsed(
            "STAGE_POLL_SECONDS",
            10.0,
            |s| (0.01..=3600.0).contains(s),
            "a number of seconds between 0.01 and 3600",
        )?;
        Ok(StageMarket::Store {
            series,
            markets,
            urls: crate::bars::venues::VenueUrls::from_settings(self)?,
            poll: Duration::from_secs_f64(poll),
        })
    }

    /// `VALIDATOR_SANDBOX_TIMEOUT_SECONDS`, default 30, between 1 and 3600.
    ///
    /// # Errors
    /// A bad value, named.
    pub fn sandbox_timeout(&self) -> Result<Duration, SettingError> {
        let default = SandboxLimits::default().timeout.as_secs();
        self.parsed(
            "VALIDATOR_SANDBOX_TIMEOUT_SECONDS",
            default,
            |s| (1..=3600).contains(s),
            "a number of seconds between 1 and 3600",
        )
        .map(Duration::from_secs)
    }

    /// `VALIDATOR_COMPILE_TIMEOUT_SECONDS` (default 60, between 1 and 3600: the budget of one
    /// compile's rustc runs together) and `VALIDATOR_ALLOW_UNJAILED`.
    ///
    /// # Errors
    /// A bad value, named.
    pub fn compile_limits(&self) -> Result<CompileLimits, SettingError> {
        let default = CompileLimits::default();
        let timeout = self.parsed(
            "VALIDATOR_COMPILE_TIMEOUT_SECONDS",
            default.timeout.as_secs(),
            |s| (1..=3600).contains(s),
            "a number of seconds between 1 and 3600",
        )?;
        Ok(CompileLimits {
            timeout: Duration::from_secs(timeout),
            allow_unjailed: self.flag("VALIDATOR_ALLOW_UNJAILED")?,
            ..default
        })
    }

    /// The six-layer validator with the seed's settings; its compiled modules are cached in
    /// `DATA_DIR/cache`.
    ///
    /// # Errors
    /// A bad setting, named; a sandbox that cannot be built.
    pub fn validator(&self, data_dir: &Path) -> Result<Validator> {
        let rules = IntegrationRules {
            require_error_handling: self.flag("VALIDATOR_REQUIRE_ERROR_HANDLING")?,
            require_logging: self.flag("VALIDATOR_REQUIRE_LOGGING")?,
        };
        let limits = SandboxLimits {
            timeout: self.sandbox_timeout()?,
            ..SandboxLimits::default()
        };
        let sandbox = SandboxLayer::new(
            data_dir.join("cache"),
            self.compile_limits()?,
            limits,
            RiskLimits::default(),
        )?;
        let all = market::embedded_hourly();
        let bars = all[all.len().saturating_sub(VALIDATION_BARS)..].to_vec();
        Ok(Validator {
            rules,
            sandbox,
            bars,
        })
    }

    /// The discovery and scorer settings, with the inbox defaulting to `DATA_DIR/inbox`.
    ///
    /// # Errors
    /// A bad setting, named.
    pub fn discovery(&self, root: &Path) -> Result<(DiscoveryConfig, ScorerConfig)> {
        let get = self.lookup();
        let mut config = DiscoveryConfig::from_lookup(&get)
            .map_err(|e| SettingError::new(e.key.clone(), format!("bad discovery setting: {e}")))?;
        if config.inbox.is_none() {
            config.inbox = Some(root.join("inbox"));
        }
        let mut scorer = ScorerConfig::from_lookup(&get)
            .map_err(|e| SettingError::new(e.key.clone(), format!("bad scorer setting: {e}")))?;
        scorer.model = self.codegen()?.provider.is_some();
        Ok((config, scorer))
    }

    /// The language model that reads the ideas no template fits (the code-generation model,
    /// its reply cache and its daily token budget), when one is configured.
    ///
    /// # Errors
    /// A bad code-generation setting, named.
    pub fn model_reader(
        &self,
        root: &Path,
    ) -> Result<Option<std::sync::Arc<crate::model_reader::ModelReader>>, SettingError> {
        let codegen = self.codegen()?;
        let Some(provider) = codegen.provider.clone() else {
            return Ok(None);
        };
        let mut client = crate::generator::llm::LlmClient::new(provider, codegen.llm.clone())
            .map_err(|e| {
                SettingError::new(
                    "CODEGEN_MODEL",
                    format!("cannot set up the model client: {e}"),
                )
            })?;
        if codegen.cache {
            client = client.with_cache(root.join(super::generate::MODEL_CACHE_DIR));
        }
        Ok(Some(std::sync::Arc::new(
            crate::model_reader::ModelReader::new(client, codegen.daily_token_budget),
        )))
    }

    /// The Slack channel, when `SLACK_WEBHOOK_URL` is set.
    ///
    /// # Errors
    /// A bad Slack setting, named.
    pub fn slack(&self) -> Result<Option<SlackSettings>, SettingError> {
        SlackSettings::from_lookup(&self.lookup())
    }

    /// Resolves every part's settings — discovery, scorer, code generation, stages, monitor,
    /// pools, validator, Slack, daemon — so a bad value anywhere is refused at start, named,
    /// before any command acts.
    ///
    /// # Errors
    /// The first bad setting, named.
    pub fn check(&self, root: &Path) -> Result<()> {
        self.discovery(root)?;
        self.codegen()?;
        self.stages()?;
        self.monitor()?;
        self.concurrency()?;
        self.flag("VALIDATOR_REQUIRE_ERROR_HANDLING")?;
        self.flag("VALIDATOR_REQUIRE_LOGGING")?;
        self.sandbox_timeout()?;
        self.compile_limits()?;
        self.slack()?;
        self.daemon()?;
        self.store_replicas(1)?;
        self.leader_lease_seconds()?;
        self.remote_wait_seconds()?;
        self.job_ack_seconds()?;
        self.flag("REMOTE_WORKERS")?;
        Ok(())
    }

    /// Seconds the daemon waits for a worker's result (`REMOTE_WAIT_SECONDS`).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn remote_wait_seconds(&self) -> Result<u64, SettingError> {
        self.parsed(
            "REMOTE_WAIT_SECONDS",
            600,
            |n| (5..=3600).contains(n),
            "a number of seconds from 5 to 3600",
        )
    }

    /// Seconds a job stays with a worker that does not say it is still at it (`JOB_ACK_SECONDS`).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn job_ack_seconds(&self) -> Result<u64, SettingError> {
        self.parsed(
            "JOB_ACK_SECONDS",
            30,
            |n| (1..=600).contains(n),
            "a number of seconds from 1 to 600",
        )
    }

    /// Seconds a leader lease on a shared log lasts unless renewed (`LEADER_LEASE_SECONDS`).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn leader_lease_seconds(&self) -> Result<u64, SettingError> {
        self.parsed(
            "LEADER_LEASE_SECONDS",
            15,
            |n| (2..=600).contains(n),
            "a number of seconds from 2 to 600",
        )
    }

    /// Copies of the event stream on NATS (`NATS_STREAM_REPLICAS`): by default 3 when
    /// `servers` (those the store's address names) are three or more, else 1.
    ///
    /// # Errors
    /// A bad value, named.
    pub fn store_replicas(&self, servers: usize) -> Result<usize, SettingError> {
        let default = if servers >= 3 { 3 } else { 1 };
        self.parsed(
            "NATS_STREAM_REPLICAS",
            default,
            |n| (1..=5).contains(n),
            "a number of copies from 1 to 5",
        )
    }

    /// The daemon's own settings (`RUN_*`, `METRICS_ADDR`).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn daemon(&self) -> Result<DaemonSettings, SettingError> {
        let whole = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            self.parsed(
                key,
                default,
                |x| range.contains(x),
                &format!("a whole number from {} to {}", range.start(), range.end()),
            )
        };
        let simulated_hours = whole("RUN_SIMULATED_HOURS_PER_CYCLE", 0, 0..=24)?;
        let tick = whole(
            "RUN_TICK_SECONDS",
            60,
            if simulated_hours > 0 {
                0..=3600
            } else {
                1..=3600
            },
        )?;
        let metrics_addr = self
            .text("METRICS_ADDR")
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        if metrics_addr != "off" && metrics_addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(SettingError::new(
                "METRICS_ADDR",
                format!("METRICS_ADDR={metrics_addr:?} is not an address and port (127.0.0.1:9464) or off"),
            ));
        }
        Ok(DaemonSettings {
            simulated_hours,
            tick: Duration::from_secs(tick),
            max_cycles: whole("RUN_CYCLES", 0, 0..=1_000_000)?,
            metrics_addr,
        })
    }
}

/// Every setting of stratagem, documented here once: its key (the environment variable; in the
/// configuration file `[section] key` stands for `SECTION_KEY`) and what it does, default
/// first. `stratagem config show` prints this list; a file naming any other key is refused.
/// The per-source `DISCOVERY_<SOURCE>_BASE_URL` and `_INTERVAL_HOURS` are in [`known_keys`].
pub const KEYS: &[(&str, &str)] = &[
    (
        "STRATAGEM_LOG",
        "log level on stderr: error, warn (default), info, debug, or a tracing filter",
    ),
    (
        "STRATAGEM_LOG_FORMAT",
        "log form: human (default) or json, one object a line",
    ),
    ("DISCOVERY_ARXIV_ENABLED", "check arXiv (default 1)"),
    (
        "DISCOVERY_TWITTER_ENABLED",
        "check X/Twitter (default 1; needs a bearer token online)",
    ),
    ("DISCOVERY_REDDIT_ENABLED", "check Reddit (default 1)"),
    (
        "DISCOVERY_DEFI_PULSE_ENABLED",
        "check DefiLlama, DeFi Pulse's successor (default 1)",
    ),
    (
        "DISCOVERY_SEC_EDGAR_ENABLED",
        "check SEC EDGAR (default 1; needs a contact e-mail online)",
    ),
    (
        "DISCOVERY_NETWORK_ENABLED",
        "check client releases of the networks (default 1)",
    ),
    (
        "DISCOVERY_MANUAL_ENABLED",
        "read the manual inbox folder (default 1)",
    ),
    (
        "DISCOVERY_ARXIV_CATEGORIES",
        "arXiv categories, comma-separated (default q-fin.TR,q-fin.CP,stat.ML)",
    ),
    (
        "DISCOVERY_ARXIV_PAGE_SIZE",
        "results per arXiv page (default 50)",
    ),
    (
        "DISCOVERY_ARXIV_MIN_INTERVAL_MS",
        "least time between two arXiv requests (default 3000, its terms' minimum)",
    ),
    (
        "DISCOVERY_MAX_PAGES",
        "pages per check of a paged source (default 2)",
    ),
    ("DISCOVERY_REDDIT_SUBREDDITS", "subreddits, comma-separated"),
    (
        "DISCOVERY_REDDIT_OAUTH_URL",
        "Reddit's OAuth host (default https://oauth.reddit.com)",
    ),
    (
        "REDDIT_CLIENT_ID",
        "Reddit app id: app-only OAuth with REDDIT_CLIENT_SECRET",
    ),
    ("REDDIT_CLIENT_SECRET", "Reddit app secret (a secret)"),
    ("TWITTER_BEARER_TOKEN", "X API bearer token (a secret)"),
    ("X_BEARER_TOKEN", "the same, under X's name"),
    (
        "DISCOVERY_TWITTER_QUERIES",
        "X search queries, separated by `;`",
    ),
    (
        "DISCOVERY_DEFILLAMA_RPC_URL",
        "JSON-RPC URL for eth_feeHistory, the gas reading (empty: no gas)",
    ),
    (
        "DISCOVERY_DEFILLAMA_NEW_WINDOW_DAYS",
        "on a first check, protocols listed within this many days count as new (default 7)",
    ),
    (
        "DISCOVERY_EDGAR_CONTACT_EMAIL",
        "contact e-mail for the SEC's User-Agent (required online)",
    ),
    (
        "DISCOVERY_EDGAR_SEARCH_URL",
        "EDGAR full-text search host (default https://efts.sec.gov)",
    ),
    ("DISCOVERY_EDGAR_FORMS", "EDGAR forms, comma-separated"),
    (
        "DISCOVERY_EDGAR_TERMS",
        "EDGAR full-text terms, separated by `;`",
    ),
    (
        "DISCOVERY_NETWORK_REPOS",
        "client repositories whose releases are read, comma-separated",
    ),
    (
        "DISCOVERY_MANUAL_INBOX",
        "the manual inbox folder (default DATA_DIR/inbox)",
    ),
    (
        "DISCOVERY_HTTP_TIMEOUT_MS",
        "timeout of one source request (default 30000)",
    ),
    (
        "DISCOVERY_HTTP_MAX_BODY_BYTES",
        "largest source response read (default 8 MiB)",
    ),
    (
        "DISCOVERY_HTTP_MAX_ATTEMPTS",
        "attempts per source request (default 3)",
    ),
    (
        "DISCOVERY_HTTP_BACKOFF_MS",
        "first retry backoff, doubled per retry, with jitter (default 1000)",
    ),
    (
        "DISCOVERY_HTTP_MAX_WAIT_MS",
        "longest rate-limit wait before a check gives up (default 60000)",
    ),
    (
        "OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION",
        "composite score at which an idea is submitted (default 0.65)",
    ),
    (
        "OPPORTUNITY_NOVELTY_WEIGHT",
        "weight of novelty (default 0.25; the five weights sum to 1)",
    ),
    (
        "OPPORTUNITY_MARKET_FIT_WEIGHT",
        "weight of market fit (default 0.25)",
    ),
    (
        "OPPORTUNITY_COMPLEXITY_WEIGHT",
        "weight of implementation complexity, lower is better (default 0.15)",
    ),
    (
        "OPPORTUNITY_CAPITAL_EFFICIENCY_WEIGHT",
        "weight of capital efficiency (default 0.15)",
    ),
    (
        "OPPORTUNITY_RISK_WEIGHT",
        "weight of the risk profile (default 0.20)",
    ),
    (
        "OPPORTUNITY_DUPLICATE_SIMILARITY",
        "similarity at or above which an idea is a near-duplicate (default 0.8)",
    ),
    (
        "VALIDATOR_SANDBOX_TIMEOUT_SECONDS",
        "wall-clock limit of a validation's two sandbox runs together (default 30)",
    ),
    (
        "VALIDATOR_COMPILE_TIMEOUT_SECONDS",
        "wall-clock budget of one compile's rustc runs (default 60)",
    ),
    (
        "VALIDATOR_ALLOW_UNJAILED",
        "compile code a model or a person wrote without the rustc jail (default 0)",
    ),
    (
        "VALIDATOR_REQUIRE_ERROR_HANDLING",
        "layer 4 requires error handling (default 0)",
    ),
    (
        "VALIDATOR_REQUIRE_LOGGING",
        "layer 4 requires logging (default 0)",
    ),
    (
        "VALIDATOR_CONCURRENCY",
        "strategies validated at once (default: the cores; 1-64)",
    ),
    (
        "CONSOLE_ADDR",
        "where the console serves its pages, in `stratagem run` and `stratagem console` (default 127.0.0.1:8420; `off`: the daemon serves none; off loopback only with CONSOLE_TOKEN)",
    ),
    (
        "CONSOLE_TOKEN",
        "the bearer token every console request must carry; required to bind off loopback (a secret)",
    ),
    (
        "KPI_WINDOW_DAYS",
        "days of the rolling window the seed's success criteria are measured over, in `status` and on /metrics (default 7; 1-90)",
    ),
    (
        "STAGE_CONCURRENCY",
        "strategies running each stage at once (default: the cores; 1-64)",
    ),
    (
        "CODEGEN_DEFAULT_MODE",
        "template, llm or hybrid (default hybrid with a model, else template)",
    ),
    (
        "CODEGEN_CLAUDE_TEMPERATURE",
        "the model's temperature (default 0.3)",
    ),
    (
        "CODEGEN_CLAUDE_MAX_TOKENS",
        "the model's reply cap in tokens (default 2000)",
    ),
    (
        "CODEGEN_LLM_PROVIDER",
        "anthropic or openai (default: whichever key or URL is set)",
    ),
    (
        "CODEGEN_MODEL",
        "the model (default claude-opus-4-6, or gpt-4o-mini for OpenAI-compatible)",
    ),
    (
        "CODEGEN_MAX_ATTEMPTS",
        "generations per strategy, repairs included (default 3; 1-10)",
    ),
    (
        "CODEGEN_DAILY_TOKEN_BUDGET",
        "tokens per UTC day (default 200000)",
    ),
    (
        "CODEGEN_CACHE",
        "1 (default): an identical model request is answered from DATA_DIR/cache/model; 0: always ask",
    ),
    (
        "CODEGEN_MAX_TOKENS_CAP",
        "a truncated reply is asked again with twice the cap, up to this (default 8000)",
    ),
    (
        "CODEGEN_SEED",
        "seed sent to OpenAI-compatible servers (default 7)",
    ),
    (
        "CODEGEN_RETRY_BACKOFF_MS",
        "first retry backoff of the model client (default 500)",
    ),
    (
        "CODEGEN_ANTHROPIC_BASE_URL",
        "the Anthropic API's address (default https://api.anthropic.com)",
    ),
    (
        "CODEGEN_OPENAI_BASE_URL",
        "an OpenAI-compatible server's address",
    ),
    ("ANTHROPIC_API_KEY", "Anthropic API key (a secret)"),
    (
        "OPENAI_API_KEY",
        "key of the OpenAI-compatible server, if it needs one (a secret)",
    ),
    ("COLD_DAYS", "COLD's backtest window in days (default 7)"),
    ("COLD_MIN_SHARPE", "COLD's minimum Sharpe (default 0.5)"),
    ("COLD_MIN_TRADES", "COLD's minimum trades (default 2)"),
    ("WARM_HOURS", "WARM's paper window in hours (default 4)"),
    (
        "WARM_MIN_IMPROVEMENT",
        "WARM's Sharpe improvement over the baseline (default 0.10)",
    ),
    ("LIMITED_HOURS", "LIMITED's window in hours (default 24)"),
    (
        "PAPER_MIN_FILLS",
        "filled orders a WARM or LIMITED session needs for a verdict (default 1; fewer: inconclusive)",
    ),
    (
        "PAPER_MAX_EXTENSIONS",
        "times an inconclusive WARM or LIMITED session runs again over twice the window (default 5)",
    ),
    (
        "PAPER_GATE_CONFIDENCE",
        "one-sided confidence at which WARM's and LIMITED's test of the Sharpe difference with the baseline decides (default 0.70; between pass and fail: inconclusive)",
    ),
    (
        "LIMITED_CAPITAL_FRACTION",
        "LIMITED's share of capital (default 0.10)",
    ),
    (
        "LIMITED_MIN_IMPROVEMENT",
        "LIMITED's Sharpe improvement over the baseline (default 0.15)",
    ),
    (
        "LIVE_DAYS",
        "FULL's stay the monitor watches, in days (default 28)",
    ),
    ("STAGE_CAPITAL", "the capital stages trade (default 100000)"),
    (
        "STAGE_WARMUP_BARS",
        "bars a strategy sees before a stage's window (default 500)",
    ),
    (
        "REQUIRE_APPROVAL_BEFORE",
        "limited, full or none (default): a person approves before that stage",
    ),
    (
        "MODEL_REQUIRE_APPROVAL_BEFORE",
        "the same for code a model wrote (llm, hybrid): limited (default), full or none",
    ),
    (
        "MONITOR_STEP_HOURS",
        "hours between two readings of a stay (default 6)",
    ),
    (
        "MONITOR_WINDOW_HOURS",
        "rolling window of a reading (default 72)",
    ),
    (
        "MONITOR_MAX_DRAWDOWN",
        "drawdown that rolls a strategy back (default 0.10)",
    ),
    (
        "MONITOR_UNDERPERFORM_HOURS",
        "hours below the baseline that roll it back (default 48)",
    ),
    (
        "MONITOR_RETIRE_AFTER_ROLLBACKS",
        "rollbacks after which it is retired (default 2)",
    ),
    ("MONITOR_RETIRE_LOSS", "loss that retires it (default 0.20)"),
    (
        "MONITOR_CLONE_MIN_SHARPE",
        "rolling Sharpe at which a winner is cloned (default 1.5)",
    ),
    ("MONITOR_CLONE_VARIANTS", "clones of a winner (default 2)"),
    (
        "MONITOR_CLONE_STEP",
        "parameter step of a clone (default 0.25)",
    ),
    (
        "MONITOR_CLONE_MAX_DEPTH",
        "generations of clones (default 2)",
    ),
    (
        "RUN_TICK_SECONDS",
        "the daemon's time between cycles (default 60)",
    ),
    (
        "METRICS_ADDR",
        "where the daemon serves /metrics, /livez, /readyz (default 127.0.0.1:9464; off)",
    ),
    (
        "RUN_CYCLES",
        "the daemon stops after this many cycles (default 0: until a signal)",
    ),
    (
        "RUN_SIMULATED_HOURS_PER_CYCLE",
        "a simulated clock advanced this many hours a cycle (default 0: the real clock)",
    ),
    (
        "SLACK_WEBHOOK_URL",
        "Slack incoming webhook; notifications are off without it (a secret)",
    ),
    (
        "SLACK_MIN_INTERVAL_MS",
        "least time between two Slack messages (default 1000)",
    ),
    (
        "SLACK_MAX_ATTEMPTS",
        "attempts per Slack message (default 3)",
    ),
    (
        "BINANCE_REST_URL",
        "Binance spot REST base URL of `data download` (default https://api.binance.com)",
    ),
    (
        "BINANCE_FUTURES_URL",
        "Binance USD-M futures REST base URL: the perpetuals' klines (`binance-futures` series) and funding rates (`data funding`, a perpetual leg's stages) (default https://fapi.binance.com)",
    ),
    (
        "COINBASE_REST_URL",
        "Coinbase Exchange REST base URL of `data download` (default https://api.exchange.coinbase.com)",
    ),
    (
        "MARKETS",
        "the series `data update` keeps current, comma-separated venue/SYMBOL/interval (e.g. binance/BTCUSDT/1h)",
    ),
    (
        "MARKET_HISTORY_DAYS",
        "days of history `data update` downloads for a series not in the store yet (default 30)",
    ),
    (
        "BINANCE_WS_URL",
        "Binance kline streams' base URL of `data follow` (default wss://stream.binance.com:9443/ws)",
    ),
    (
        "BINANCE_WEIGHT_LIMIT",
        "request weight a minute past which a Binance download waits for the next minute (default 1000)",
    ),
    (
        "STAGE_MARKET",
        "the series the stages run on, venue/SYMBOL/interval, on the venue's clock; `recorded`: the embedded recording on a simulated clock (default: the first of `MARKETS`, else recorded; `run --offline` always recorded)",
    ),
    (
        "EXECUTION_VENUE",
        "where LIMITED and FULL orders go: paper (default) or binance (Binance spot, signed REST; needs LIVE_TRADING=1 and both keys)",
    ),
    (
        "LIVE_TRADING",
        "1: the opt-in to trade real money with EXECUTION_VENUE=binance (default 0)",
    ),
    (
        "BINANCE_API_KEY",
        "the Binance API key of EXECUTION_VENUE=binance (a secret: never printed)",
    ),
    (
        "BINANCE_API_SECRET",
        "the Binance API secret that signs its requests (a secret: never printed)",
    ),
    (
        "BINANCE_TRADE_URL",
        "Binance spot trading REST base URL (default https://api.binance.com; the testnet is https://testnet.binance.vision)",
    ),
    (
        "MAX_ORDER_NOTIONAL",
        "an order's largest notional on the venue; larger ones are refused before they are sent (default 0: no cap)",
    ),
    (
        "FULL_CAPITAL_FRACTION",
        "the share of the account a FULL run is allotted on the real clock (default 1); a LIMITED or FULL run that the capital free cannot cover waits (`stage.waiting`)",
    ),
    (
        "DAILY_LOSS_LIMIT",
        "the account's loss in a day, as a fraction of `STAGE_CAPITAL`, at which trading halts by itself (the LIMITED runs on the real clock; default 0: no limit)",
    ),
    (
        "PAPER_FEE_BPS",
        "the paper venue's fee of WARM and LIMITED, bps of notional (default 10, the backtests'); the parity ledger puts a difference down to fees",
    ),
    (
        "PAPER_SLIPPAGE_BPS",
        "the paper venue's slippage against the open, bps (default 5, the backtests')",
    ),
    (
        "PAPER_FILL_DELAY_BARS",
        "bars after the next open that the paper venue fills an order (default 0: at the next open, as the backtest); the parity ledger puts the difference down to latency",
    ),
    (
        "REMOTE_WORKERS",
        "1: validations and stage runs (COLD's backtest, each step of a paper stage) go to `stratagem worker` processes through the job queue beside the log's stream (needs `--store nats://…`); the results they store are recorded by the daemon",
    ),
    (
        "REMOTE_WAIT_SECONDS",
        "how long the daemon waits for a worker's result of a validation or a stage run before trying again next cycle, 5 to 3600 (default 600)",
    ),
    (
        "JOB_ACK_SECONDS",
        "a worker that has not said it is still at a job for this long (it died) loses it to another worker, 1 to 600 (default 30)",
    ),
    (
        "LEADER_LEASE_SECONDS",
        "how long a daemon's leader lease on a shared log (`--store nats://…`) lasts unless renewed: a standby takes over within it after the leader dies, 2 to 600 (default 15)",
    ),
    (
        "NATS_STREAM_REPLICAS",
        "copies of the event stream on a NATS JetStream cluster (`--store nats://…`), 1 to 5 (default 3 when three or more servers are named, else 1)",
    ),
    (
        "STAGE_POLL_SECONDS",
        "seconds `stage` waits between two steps of a paper stage on the real clock (default 10)",
    ),
];

/// The variable-name stems of the sources' own keys.
const SOURCE_STEMS: [&str; 7] = [
    "ARXIV",
    "REDDIT",
    "TWITTER",
    "DEFILLAMA",
    "EDGAR",
    "NETWORK",
    "MANUAL",
];

/// Every setting with its documentation, in a fixed order: [`KEYS`], then each source's base
/// URL and interval.
pub fn known_keys() -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = KEYS
        .iter()
        .map(|(k, doc)| (k.to_string(), doc.to_string()))
        .collect();
    for s in SOURCE_STEMS {
        let name = s.to_ascii_lowercase();
        keys.push((
            format!("DISCOVERY_{s}_BASE_URL"),
            format!("the {name} source's address (a loopback server in tests)"),
        ));
        keys.push((
            format!("DISCOVERY_{s}_INTERVAL_HOURS"),
            format!("hours between two checks of {name} (1-24)"),
        ));
    }
    keys
}

/// Whether a setting's value is a secret (never printed).
pub fn is_secret(key: &str) -> bool {
    ["API_KEY", "TOKEN", "SECRET", "WEBHOOK", "PASSWORD"]
        .iter()
        .any(|s| key.contains(s))
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    /// `RUN_SIMULATED_HOURS_PER_CYCLE`: a simulated clock (for soaks) advanced this many hours
    /// a cycle, by which sources fall due; 0 = the real clock.
    pub simulated_hours: u64,
    /// `RUN_TICK_SECONDS`: time between cycles (default 60 s).
    pub tick: Duration,
    /// `RUN_CYCLES`: stop after this many cycles (0 = until a signal).
    pub max_cycles: u64,
    /// `METRICS_ADDR`: where `/metrics` is served (`off`: nowhere).
    pub metrics_addr: String,
}

/// Code-generation settings.
#[derive(Debug, Clone)]
pub struct CodegenSettings {
    /// `CODEGEN_DEFAULT_MODE`; default hybrid when a model is configured, template otherwise.
    pub default_mode: GenerationMode,
    /// The configured model server, if any.
    pub provider: Option<Provider>,
    /// Model, temperature, token cap, retries.
    pub llm: LlmSettings,
    /// `CODEGEN_MAX_ATTEMPTS`: generations per strategy, repairs included (default 3).
    pub max_attempts: u32,
    /// `CODEGEN_DAILY_TOKEN_BUDGET`: tokens per UTC day (default 200,000).
    pub daily_token_budget: u64,
    /// `CODEGEN_CACHE`: serve identical requests from `DATA_DIR/cache/model/` (default 1).
    pub cache: bool,
}

impl CodegenSettings {
    /// Reads the settings.
    ///
    /// # Errors
    /// A bad value, or a provider chosen without what it needs, named.
    pub fn from_settings(settings: &Settings) -> Result<CodegenSettings, SettingError> {
        let var = |k: &str| -> Result<Option<String>, SettingError> { Ok(settings.text(k)) };
        let anthropic_key = var("ANTHROPIC_API_KEY")?;
        let openai_base = var("CODEGEN_OPENAI_BASE_URL")?;
        let openai_key = var("OPENAI_API_KEY")?;
        let choice = var("CODEGEN_LLM_PROVIDER")?;
        let anthropic = || -> Result<Provider, SettingError> {
            let Some(key) = anthropic_key.clone() else {
                return Err(SettingError::new(
                    "CODEGEN_LLM_PROVIDER",
                    "CODEGEN_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY",
                ));
            };
            let base_url = var("CODEGEN_ANTHROPIC_BASE_URL")?
                .unwrap_or_else(|| "https://api.anthropic.com".into());
            Ok(Provider::Anthropic {
                base_url: check_url("CODEGEN_ANTHROPIC_BASE_URL", base_url)?,
                api_key: Secret::new(key),
            })
        };
        let openai = || -> Result<Provider, SettingError> {
            let base_url = match (openai_base.clone(), &openai_key) {
                (Some(url), _) => url,
                (None, Some(_)) => "https://api.openai.com/v1".into(),
                (None, None) => return Err(SettingError::new(
                    "CODEGEN_LLM_PROVIDER",
                    "CODEGEN_LLM_PROVIDER=openai needs CODEGEN_OPENAI_BASE_URL or OPENAI_API_KEY",
                )),
            };
            Ok(Provider::OpenAiCompatible {
                base_url: check_url("CODEGEN_OPENAI_BASE_URL", base_url)?,
                api_key: openai_key.clone().map(Secret::new),
            })
        };
        let provider = match choice.as_deref() {
            Some("anthropic") => Some(anthropic()?),
            Some("openai") => Some(openai()?),
            Some(other) => {
                return Err(SettingError::new(
                    "CODEGEN_LLM_PROVIDER",
                    format!("CODEGEN_LLM_PROVIDER={other:?} is not anthropic or openai"),
                ))
            }
            None if anthropic_key.is_some() => Some(anthropic()?),
            None if openai_base.is_some() || openai_key.is_some() => Some(openai()?),
            None => None,
        };
        let default_model = match provider {
            Some(Provider::OpenAiCompatible { .. }) => "gpt-4o-mini",
            _ => "claude-opus-4-6",
        };
        let defaults = LlmSettings::default();
        let llm = LlmSettings {
            model: var("CODEGEN_MODEL")?.unwrap_or_else(|| default_model.into()),
            temperature: settings.parsed(
                "CODEGEN_CLAUDE_TEMPERATURE",
                defaults.temperature,
                |t: &f64| (0.0..=2.0).contains(t),
                "a temperature between 0 and 2",
            )?,
            max_tokens: settings.parsed(
                "CODEGEN_CLAUDE_MAX_TOKENS",
                defaults.max_tokens,
                |t: &u32| (1..=200_000).contains(t),
                "a token count between 1 and 200000",
            )?,
            initial_backoff: Duration::from_millis(settings.parsed(
                "CODEGEN_RETRY_BACKOFF_MS",
                500u64,
                |_| true,
                "a number of milliseconds",
            )?),
            max_tokens_cap: settings.parsed(
                "CODEGEN_MAX_TOKENS_CAP",
                defaults.max_tokens_cap,
                |t: &u32| (1..=200_000).contains(t),
                "a token count between 1 and 200000",
            )?,
            seed: settings.parsed("CODEGEN_SEED", defaults.seed, |_| true, "a whole number")?,
            ..defaults
        };
        let default_mode = match var("CODEGEN_DEFAULT_MODE")?.as_deref() {
            None if provider.is_some() => GenerationMode::Hybrid,
            None | Some("template") => GenerationMode::Template,
            Some("llm" | "claude") => GenerationMode::Llm,
            Some("hybrid") => GenerationMode::Hybrid,
            Some(other) => {
                return Err(SettingError::new(
                    "CODEGEN_DEFAULT_MODE",
                    format!("CODEGEN_DEFAULT_MODE={other:?} is not template, llm or hybrid"),
                ))
            }
        };
        Ok(CodegenSettings {
            default_mode,
            provider,
            llm,
            max_attempts: settings.parsed(
                "CODEGEN_MAX_ATTEMPTS",
                3u32,
                |n| (1..=10).contains(n),
                "a number of attempts between 1 and 10",
            )?,
            daily_token_budget: settings.parsed(
                "CODEGEN_DAILY_TOKEN_BUDGET",
                200_000u64,
                |_| true,
                "a number of tokens",
            )?,
            cache: settings.parsed("CODEGEN_CACHE", 1u8, |v| *v <= 1, "0 or 1")? == 1,
        })
    }
}

fn check_url(key: &str, url: String) -> Result<String, SettingError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace);
    if !ok {
        return Err(SettingError::new(
            key,
            format!("{key}={url:?} is not an http(s) URL"),
        ));
    }
    Ok(url)
}

impl Settings {
    /// Code-generation settings.
    ///
    /// # Errors
    /// A bad value, or a provider chosen without what it needs, named.
    pub fn codegen(&self) -> Result<CodegenSettings, SettingError> {
        CodegenSettings::from_settings(self)
    }

    /// The stage settings (`COLD_MIN_SHARPE`, `WARM_HOURS`, …).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn stages(&self) -> Result<StageSettings, SettingError> {
        let d = StageSettings::default();
        let var = |k: &str| -> Result<Option<String>, SettingError> { Ok(self.text(k)) };
        let fraction = |x: &f64| (0.0..=1.0).contains(x);
        let checkpoint = |key: &str, default: Option<stratagem_events::Stage>| match var(key)?
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(default),
            Some("none") => Ok(None),
            Some("limited") => Ok(Some(stratagem_events::Stage::Limited)),
            Some("full") => Ok(Some(stratagem_events::Stage::Full)),
            Some(other) => Err(SettingError::new(
                key,
                format!("{key}={other:?} is not limited, full or none"),
            )),
        };
        Ok(StageSettings {
            cold_days: self.parsed(
                "COLD_DAYS",
                d.cold_days,
                |n| (1..=365).contains(n),
                "a number of days between 1 and 365",
            )?,
            cold_min_sharpe: self.parsed(
                "COLD_MIN_SHARPE",
                d.cold_min_sharpe,
                |x: &f64| x.is_finite(),
                "a Sharpe ratio",
            )?,
            cold_min_trades: self.parsed(
                "COLD_MIN_TRADES",
                d.cold_min_trades,
                |_| true,
                "a number of trades",
            )?,
            warm_hours: self.parsed(
                "WARM_HOURS",
                d.warm_hours,
                |n| (1..=24 * 90).contains(n),
                "a number of hours",
            )?,
            warm_min_improvement: self.parsed(
                "WARM_MIN_IMPROVEMENT",
                d.warm_min_improvement,
                fraction,
                "a fraction between 0 and 1",
            )?,
            limited_hours: self.parsed(
                "LIMITED_HOURS",
                d.limited_hours,
                |n| (1..=24 * 90).contains(n),
                "a number of hours",
            )?,
            limited_capital_fraction: self.parsed(
                "LIMITED_CAPITAL_FRACTION",
                d.limited_capital_fraction,
                |x: &f64| *x > 0.0 && *x <= 1.0,
                "a fraction above 0 and at most 1",
            )?,
            limited_min_improvement: self.parsed(
                "LIMITED_MIN_IMPROVEMENT",
                d.limited_min_improvement,
                fraction,
                "a fraction between 0 and 1",
            )?,
            paper_min_fills: self.parsed(
                "PAPER_MIN_FILLS",
                d.paper_min_fills,
                |n| *n <= 10_000,
                "a number of orders up to 10000",
            )?,
            paper_max_extensions: self.parsed(
                "PAPER_MAX_EXTENSIONS",
                d.paper_max_extensions,
                |n| *n <= 6,
                "a number of extensions up to 6",
            )?,
            paper_gate_confidence: self.parsed(
                "PAPER_GATE_CONFIDENCE",
                d.paper_gate_confidence,
                |x: &f64| (0.5..1.0).contains(x),
                "a confidence of at least 0.5 and below 1",
            )?,
            live_days: self.parsed(
                "LIVE_DAYS",
                d.live_days,
                |n| (1..=365).contains(n),
                "a number of days between 1 and 365",
            )?,
            capital: self.parsed(
                "STAGE_CAPITAL",
                d.capital,
                |x: &f64| x.is_finite() && *x > 0.0,
                "a positive amount",
            )?,
            warmup_bars: self.parsed(
                "STAGE_WARMUP_BARS",
                d.warmup_bars,
                |n| *n <= 100_000,
                "a number of bars up to 100000",
            )?,
            costs: d.costs,
            paper_costs: crate::stages::backtest::CostModel {
                fee_bps: self.parsed(
                    "PAPER_FEE_BPS",
                    d.costs.fee_bps,
                    |x: &f64| x.is_finite() && (0.0..=1000.0).contains(x),
                    "basis points between 0 and 1000",
                )?,
                slippage_bps: self.parsed(
                    "PAPER_SLIPPAGE_BPS",
                    d.costs.slippage_bps,
                    |x: &f64| x.is_finite() && (0.0..=1000.0).contains(x),
                    "basis points between 0 and 1000",
                )?,
                ..d.costs
            },
            paper_fill_delay_bars: self.parsed(
                "PAPER_FILL_DELAY_BARS",
                d.paper_fill_delay_bars,
                |n| *n <= 1_000,
                "a number of bars up to 1000",
            )?,
            require_approval_before: checkpoint("REQUIRE_APPROVAL_BEFORE", None)?,
            model_require_approval_before: checkpoint(
                "MODEL_REQUIRE_APPROVAL_BEFORE",
                d.model_require_approval_before,
            )?,
            full_capital_fraction: self.parsed(
                "FULL_CAPITAL_FRACTION",
                d.full_capital_fraction,
                |x: &f64| *x > 0.0 && *x <= 1.0,
                "a fraction above 0 and at most 1",
            )?,
            daily_loss_limit: self.parsed(
                "DAILY_LOSS_LIMIT",
                d.daily_loss_limit,
                fraction,
                "a fraction between 0 and 1",
            )?,
        })
    }

    /// The monitor's thresholds (`MONITOR_MAX_DRAWDOWN`, …).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn monitor(&self) -> Result<MonitorSettings, SettingError> {
        let d = MonitorSettings::default();
        let hours = |n: &u32| (1..=24 * 90).contains(n);
        let fraction = |x: &f64| *x > 0.0 && *x <= 1.0;
        Ok(MonitorSettings {
            step_hours: self.parsed(
                "MONITOR_STEP_HOURS",
                d.step_hours,
                hours,
                "a number of hours",
            )?,
            window_hours: self.parsed(
                "MONITOR_WINDOW_HOURS",
                d.window_hours,
                hours,
                "a number of hours",
            )?,
            max_drawdown: self.parsed(
                "MONITOR_MAX_DRAWDOWN",
                d.max_drawdown,
                fraction,
                "a fraction above 0 and at most 1",
            )?,
            underperform_hours: self.parsed(
                "MONITOR_UNDERPERFORM_HOURS",
                d.underperform_hours,
                hours,
                "a number of hours",
            )?,
            retire_after_rollbacks: self.parsed(
                "MONITOR_RETIRE_AFTER_ROLLBACKS",
                d.retire_after_rollbacks,
                |n| (1..=100).contains(n),
                "a number of rollbacks from 1 to 100",
            )?,
            retire_loss: self.parsed(
                "MONITOR_RETIRE_LOSS",
                d.retire_loss,
                fraction,
                "a fraction above 0 and at most 1",
            )?,
            clone_min_sharpe: self.parsed(
                "MONITOR_CLONE_MIN_SHARPE",
                d.clone_min_sharpe,
                |x: &f64| x.is_finite(),
                "a Sharpe ratio",
            )?,
            clone_variants: self.parsed(
                "MONITOR_CLONE_VARIANTS",
                d.clone_variants,
                |n| *n <= 10,
                "a number of variants from 0 to 10",
            )?,
            clone_step: self.parsed(
                "MONITOR_CLONE_STEP",
                d.clone_step,
                |x: &f64| *x > 0.0 && *x < 1.0,
                "a fraction between 0 and 1",
            )?,
            clone_max_depth: self.parsed(
                "MONITOR_CLONE_MAX_DEPTH",
                d.clone_max_depth,
                |n| *n <= 10,
                "a number of generations from 0 to 10",
            )?,
        })
    }

    /// The console's settings: `CONSOLE_ADDR` (or `flag`), `CONSOLE_TOKEN`, `KPI_WINDOW_DAYS`.
    ///
    /// # Errors
    /// A bad value, named.
    pub fn console(
        &self,
        flag: Option<&str>,
    ) -> Result<super::console::ConsoleSettings, SettingError> {
        let text = flag
            .map(String::from)
            .or_else(|| self.text("CONSOLE_ADDR"))
            .unwrap_or_else(|| "127.0.0.1:8420".into());
        if text.trim() == "off" {
            return Err(SettingError::new(
                "CONSOLE_ADDR",
                "CONSOLE_ADDR=off turns the daemon's console off; `stratagem console` needs an address and port (--addr 127.0.0.1:8420)".to_string(),
            ));
        }
        let addr = text.parse().map_err(|_| {
            SettingError::new(
                "CONSOLE_ADDR",
                format!("CONSOLE_ADDR={text:?} is not an address and port (127.0.0.1:8420)"),
            )
        })?;
        Ok(super::console::ConsoleSettings {
            addr,
            token: self.text("CONSOLE_TOKEN").filter(|t| !t.is_empty()),
            kpi_window_days: self.kpi_window_days()?,
        })
    }

    /// The console `stratagem run` serves beside its cycles: as [`Settings::console`], or none
    /// with `CONSOLE_ADDR=off`.
    ///
    /// # Errors
    /// A bad value, named.
    pub fn daemon_console(&self) -> Result<Option<super::console::ConsoleSettings>, SettingError> {
        if self.text("CONSOLE_ADDR").is_some_and(|t| t.trim() == "off") {
            return Ok(None);
        }
        self.console(None).map(Some)
    }

    /// `KPI_WINDOW_DAYS`: the rolling window the seed's success criteria are measured over
    /// (default 7, 1 to 90).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn kpi_window_days(&self) -> Result<u32, SettingError> {
        self.parsed(
            "KPI_WINDOW_DAYS",
            stratagem_events::projection::kpi::DEFAULT_WINDOW_DAYS,
            |n| (1..=stratagem_events::projection::kpi::MAX_WINDOW_DAYS).contains(n),
            "a number of days between 1 and 90",
        )
    }

    /// `VALIDATOR_CONCURRENCY` and `STAGE_CONCURRENCY`: how many strategies validate, and how many
    /// run each stage, at once (default: this machine's cores; 1 to 64).
    ///
    /// # Errors
    /// A bad value, named.
    pub fn concurrency(&self) -> Result<Concurrency, SettingError> {
        let cores = Concurrency::of_cores();
        let workers = |key: &str, default: usize| {
            self.parsed(
                key,
                default,
                |n| (1..=64).contains(n),
                "a number of workers from 1 to 64",
            )
        };
        Ok(Concurrency {
            validators: workers("VALIDATOR_CONCURRENCY", cores.validators)?,
            stages: workers("STAGE_CONCURRENCY", cores.stages)?,
        })
    }
}
