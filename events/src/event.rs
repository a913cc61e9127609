//! The event vocabulary of the whole pipeline: the persisted schema.
//!
//! Every payload type here is a compatibility promise. A stored event is its [`EventKind`] name
//! (in the envelope) plus the bincode-2 encoding of that kind's payload struct, tagged with the
//! [`SCHEMA_VERSION`] it was written with. Changing a payload struct means adding a version and an
//! upcaster in [`Event::decode`]; events already stored are never edited.
//!
//! Payload structs avoid serde attributes that a non-self-describing format cannot carry
//! (`flatten`, `tag`, `untagged`, `skip_serializing_if`): they are encoded with bincode.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DecodeError, EncodeError};
use crate::text::Untrusted;

/// The schema version this build writes. Events of a later version are refused with
/// [`DecodeError::UnknownSchemaVersion`]; earlier versions are upcast on read.
pub const SCHEMA_VERSION: u16 = 1;

/// Upper bound on a decoded payload, so a corrupted length prefix cannot make the decoder
/// allocate gigabytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_BYTES>()
}

/// A promotion stage of a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Backtest on the most recent days of bars.
    Cold,
    /// Paper trading beside the baseline.
    Warm,
    /// A small share of capital.
    Limited,
    /// Full capital, monitored.
    Full,
}

impl Stage {
    /// All stages in promotion order.
    pub const ALL: [Stage; 4] = [Stage::Cold, Stage::Warm, Stage::Limited, Stage::Full];

    /// The lower-case name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Cold => "cold",
            Stage::Warm => "warm",
            Stage::Limited => "limited",
            Stage::Full => "full",
        }
    }
}

/// How a strategy's source was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationMode {
    /// Parameter substitution into a template.
    Template,
    /// Written by a language model.
    Llm,
    /// A template's structure with model-written signal logic.
    Hybrid,
}

/// The outcome of one check of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceOutcome {
    /// The source answered with content.
    Ok,
    /// A conditional GET answered 304: nothing new.
    NotModified,
    /// The check failed; the message says why (never a secret).
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// The validator's verdict on a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every layer clean: approved for COLD.
    Approved,
    /// At least one error.
    Rejected,
    /// Warnings only: a person decides.
    ManualReview,
}

/// A named numeric parameter (a look-back, a threshold, a variant of a clone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// Parameter name, as the template knows it.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// One sub-score of the opportunity scorer, with the reason for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubScore {
    /// In [0, 1].
    pub value: f64,
    /// One line saying why.
    pub reason: String,
}

/// One error or warning of a validation layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable machine-readable code, e.g. `security.unsafe`.
    pub code: String,
    /// Our own description (never raw compiler output).
    pub message: String,
    /// 1-based line in the strategy file, when known.
    pub line: Option<u32>,
}

/// Performance of a strategy over one stage run. Ratios are plain fractions (0.1 = 10 %).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StageMetrics {
    /// Bars the run covered.
    pub bars: u64,
    /// Final equity / initial equity - 1.
    pub total_return: f64,
    /// Annualised Sharpe ratio of per-bar returns.
    pub sharpe: f64,
    /// Annualised Sortino ratio.
    pub sortino: f64,
    /// Largest peak-to-trough fall of equity, as a positive fraction.
    pub max_drawdown: f64,
    /// Annualised return / max drawdown.
    pub calmar: f64,
    /// Winning trades / closed trades.
    pub win_rate: f64,
    /// Gross profit / gross loss.
    pub profit_factor: f64,
    /// Closed trades.
    pub trades: u64,
    /// Share of bars with a position.
    pub exposure: f64,
    /// Traded notional / average equity.
    pub turnover: f64,
    /// Probabilistic Sharpe ratio, when computed.
    pub probabilistic_sharpe: Option<f64>,
    /// Deflated Sharpe ratio, when computed.
    pub deflated_sharpe: Option<f64>,
    /// Sharpe of the baseline over the same bars, for WARM and LIMITED.
    pub baseline_sharpe: Option<f64>,
}

/// The switch of the discovery loop (the seed's `strategy_discovery_active`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryToggled {
    /// Whether discovery is now running.
    pub active: bool,
    /// Why it changed.
    pub reason: String,
}

/// A source was polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceChecked {
    /// Source name (`arxiv`, `reddit`, …).
    pub source: String,
    /// What happened.
    pub outcome: SourceOutcome,
    /// Items in the response.
    pub fetched: u32,
    /// Items not seen before.
    pub new_items: u32,
    /// How long the check took.
    pub duration_ms: u64,
}

/// A new idea entered the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityDiscovered {
    /// Our id for it.
    pub opportunity_id: Uuid,
    /// Source name; `manual` for submissions, `clone` for variants of a winner.
    pub source: String,
    /// The source's own id (arXiv id, post id, accession number), for de-duplication.
    pub external_id: Option<String>,
    /// Title, as the source gave it: text from outside, shown only through its `Display`.
    pub title: Untrusted,
    /// The alpha hypothesis in plain words, as the source gave it (untrusted, as the title).
    pub hypothesis: Untrusted,
    /// Where it came from.
    pub url: Option<String>,
    /// Strategy family, when known (`momentum`, `mean_reversion`, …).
    pub family: Option<String>,
    /// Asset class, when known.
    pub asset_class: Option<String>,
    /// Time-frame hint, when stated.
    pub timeframe: Option<String>,
    /// Parameters the text states.
    pub parameters: Vec<Parameter>,
    /// A Sharpe ratio the text claims.
    pub stated_sharpe: Option<f64>,
    /// The template that fits, if any.
    pub template: Option<String>,
    /// For clones: the strategy this is a variant of.
    pub parent_strategy_id: Option<Uuid>,
}

/// What an idea needs to be tested as stated, as an extractor read it: the legs it trades, the
/// data kinds it reads, its signal rule, the order types and the rules and numbers it states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdeaNeeds {
    /// Strategy family (`momentum`, `statistical_arbitrage`, …).
    pub family: String,
    /// The instruments it trades, one per leg (`BTC-USDT`, `ETH-USDT`, `BTC-USDT-PERP`); empty
    /// when the text names none (one leg of the default series).
    pub legs: Vec<String>,
    /// How many legs it trades (at least the instruments named; two for a pair even when
    /// the text names neither).
    pub leg_count: u32,
    /// Data kinds it reads: `ohlcv`, `funding_rate`, `order_book`, `text`, `on_chain`,
    /// `options`, `fundamentals`.
    pub data: Vec<String>,
    /// Bar time frame, when stated (`hourly`, `daily`, …).
    pub timeframe: Option<String>,
    /// Order types it uses beyond market orders (`limit`, `stop`).
    pub orders: Vec<String>,
    /// Its signal rule, when the text states one (`sma_crossover`, `rsi`, `spread_zscore`, …).
    pub signal: Option<String>,
    /// The rules it states, each with the phrase that said it.
    pub rules: Vec<StatedRule>,
    /// Its numbers, named as the templates know them.
    pub parameters: Vec<Parameter>,
}

/// One rule an idea states: a stop-loss of 2 %, a holding period of 12 hours, long only, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatedRule {
    /// The rule (`stop_loss`, `take_profit`, `holding_period`, `long_only`, `no_leverage`,
    /// `volatility_filter`, `rebalance`, `hedge`, …).
    pub rule: String,
    /// Its number, when it states one (a fraction for percentages, bars for periods).
    pub value: Option<f64>,
    /// The words it was read from.
    pub phrase: String,
}

/// The one template-fit decision over an idea's needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdeaFit {
    /// The template that covers every need, if one does.
    pub template: Option<String>,
    /// Where the idea goes: `template`, `model` (a model writes it) or `held` (nothing can
    /// express it; held with the reason).
    pub route: String,
    /// Why: `the ma_crossover template covers …`, or `no template fits: needs …`.
    pub reason: String,
    /// Which of the idea's stated rules the strategy implements and which it does not.
    pub fidelity: Vec<FidelityNote>,
}

/// Whether one stated rule of an idea is in its strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidelityNote {
    /// The rule (as [`StatedRule::rule`], or `signal`, `legs`, `data`).
    pub rule: String,
    /// Whether the strategy implements it.
    pub implemented: bool,
    /// How, or why not.
    pub note: String,
}

/// An extractor read an opportunity: what it needs, and which template (if any) covers it.
/// Recorded with the discovery (or the first scoring of a submission), so a replay needs no
/// extractor call; a model's reading carries its reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityRead {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// `rules`, or `model` when a language model read it.
    pub extractor: String,
    /// The model, when one read it.
    pub model: Option<String>,
    /// What the idea needs.
    pub needs: IdeaNeeds,
    /// The fit decision.
    pub fit: IdeaFit,
    /// The model's reply (its JSON), untrusted text.
    pub reply: Option<Untrusted>,
    /// Tokens the reading cost (0 for the rules).
    pub tokens_used: u64,
}

/// An opportunity was scored (again, for held ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityScored {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// Novelty (weight 25 % by default).
    pub novelty: SubScore,
    /// Fit to the current regime (25 %).
    pub market_fit: SubScore,
    /// Implementation complexity, higher = simpler (15 %).
    pub complexity: SubScore,
    /// Capital efficiency (15 %).
    pub capital_efficiency: SubScore,
    /// Risk profile (20 %).
    pub risk: SubScore,
    /// Weighted composite in [0, 1].
    pub composite: f64,
    /// Regime the market fit was judged against (`bull`, `bear`, `sideways`).
    pub regime: String,
}

/// Scored below the threshold: held for the next cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityHeld {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// Its composite.
    pub composite: f64,
    /// The threshold it missed.
    pub threshold: f64,
}

/// Scored at or above the threshold: submitted to code generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunitySubmitted {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// Its composite.
    pub composite: f64,
}

/// A near-duplicate of an earlier idea: never submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityRejectedDuplicate {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// The earlier one it duplicates, when it is an opportunity we know.
    pub duplicate_of: Option<Uuid>,
    /// Similarity in [0, 1].
    pub similarity: f64,
}

/// An opportunity rejected with a reason, for good: a clone whose parent's evidence does not
/// carry it (it is never held to be re-scored without end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityRejected {
    /// Which opportunity.
    pub opportunity_id: Uuid,
    /// Its composite score.
    pub composite: f64,
    /// Why, in words.
    pub reason: String,
}

/// Strategy source was produced. Carries everything needed to audit it without calling a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyGenerated {
    /// Our id for the strategy.
    pub strategy_id: Uuid,
    /// The opportunity it implements.
    pub opportunity_id: Uuid,
    /// File stem, `<name>_<hash8>`.
    pub name: String,
    /// Where the file was written, relative to the data directory.
    pub path: String,
    /// SHA-256 of the source, hex.
    pub sha256: String,
    /// The source itself.
    pub source_code: String,
    /// How it was produced.
    pub mode: GenerationMode,
    /// Template used, if any.
    pub template: Option<String>,
    /// Parameters substituted.
    pub parameters: Vec<Parameter>,
    /// Model name, for LLM and hybrid modes.
    pub model: Option<String>,
    /// Prompt sent (never a key).
    pub prompt: Option<String>,
    /// Reply received: text from outside (a model's), kept as it came, shown only through its
    /// `Display`.
    pub reply: Option<Untrusted>,
    /// Tokens charged to the daily budget.
    pub tokens_used: u64,
}

/// One request to a language model and what became of its reply: every attempt of a model
/// generation, repairs, truncated replies, cache hits and failed requests included. The day's
/// token budget is the sum of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationAttempted {
    /// The generation run (one `generate` of one opportunity) it belongs to.
    pub run_id: Uuid,
    /// The opportunity.
    pub opportunity_id: Uuid,
    /// 1-based, within the run.
    pub attempt: u32,
    /// `llm` or `hybrid`.
    pub mode: GenerationMode,
    /// The template of a hybrid run.
    pub template: Option<String>,
    /// Version of our prompt wording.
    pub prompt_version: u32,
    /// SHA-256 of the system prompt, hex (its text is the same for every attempt of a version).
    pub system_sha256: String,
    /// The user prompt sent.
    pub prompt: String,
    /// SHA-256 of the request's full content (the reply cache's key), hex; empty when no
    /// request was made.
    pub request_sha256: String,
    /// The model asked for.
    pub requested_model: String,
    /// The model that answered, if one did.
    pub model: Option<String>,
    /// Temperature asked for.
    pub temperature: f64,
    /// Reply cap asked for, tokens.
    pub max_tokens: u32,
    /// The reply, as it came (text from outside).
    pub reply: Option<Untrusted>,
    /// `approved`, `manual_review`, `rejected`, `refused` (a hybrid reply outside its region),
    /// `no_code`, `truncated` or `failed` (no reply: the error says why).
    pub outcome: String,
    /// Why, in one line (the refusal, the error, or the validator's reason).
    pub reason: String,
    /// The findings the repair prompt was given (errors and warnings of layers 1–6).
    pub findings: Vec<Finding>,
    /// SHA-256 of the code the reply gave (spliced, in hybrid), hex.
    pub source_sha256: Option<String>,
    /// Prompt tokens the server reported.
    pub input_tokens: u64,
    /// Reply tokens the server reported.
    pub output_tokens: u64,
    /// Served from the reply cache: no request, nothing charged.
    pub cached: bool,
}

impl GenerationAttempted {
    /// Tokens charged to the daily budget (none for a cache hit).
    pub fn tokens_charged(&self) -> u64 {
        if self.cached {
            0
        } else {
            self.input_tokens + self.output_tokens
        }
    }
}

/// A backtest run on demand (`stratagem backtest`): a trial, counted for the deflated Sharpe
/// ratio of its family, as every stage run is. Nothing else depends on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestTrial {
    /// The strategy, when it is one of the log's.
    pub strategy_id: Option<Uuid>,
    /// SHA-256 of its source, hex.
    pub sha256: String,
    /// The family its trials are counted in: the opportunity's family or the template of a
    /// strategy of the log, `file:<type>` for a file.
    pub family: String,
    /// What it ran on (`coinbase-1h`, a file name).
    pub data: String,
    /// Bars run.
    pub bars: u64,
    /// Its annualised Sharpe ratio.
    pub sharpe: f64,
}

/// Validation of a strategy began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationStarted {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Hash of the source being validated.
    pub sha256: String,
}

/// One validator layer finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationLayerFinished {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// 1 to 6.
    pub layer: u8,
    /// `syntax`, `security`, `conventions`, `integration`, `coverage`, `sandbox`.
    pub layer_name: String,
    /// No errors.
    pub passed: bool,
    /// Errors (reject).
    pub errors: Vec<Finding>,
    /// Warnings (manual review when alone).
    pub warnings: Vec<Finding>,
    /// How long the layer took.
    pub duration_us: u64,
}

/// The validator decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationDecided {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The verdict.
    pub decision: Decision,
    /// Layers that passed.
    pub layers_passed: u8,
    /// One line: why.
    pub reason: String,
}

/// A person approved a strategy waiting for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewApproved {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Who.
    pub reviewer: String,
    /// The checkpoint approved (`None` = the validator's manual review).
    pub before_stage: Option<Stage>,
    /// Free text.
    pub note: String,
}

/// A person rejected a strategy waiting for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRejected {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Who.
    pub reviewer: String,
    /// The checkpoint rejected (`None` = the validator's manual review).
    pub before_stage: Option<Stage>,
    /// Why.
    pub reason: String,
}

/// A person let a retired or rejected strategy back into the pipeline: it waits for validation
/// again. Retired and rejected are terminal otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewReopened {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Who.
    pub reviewer: String,
    /// Why.
    pub reason: String,
}

/// A stage run began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStarted {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// Id of this run, so a resumed run is recognised.
    pub run_id: Uuid,
    /// The baseline it is measured against (`buy_and_hold` or a strategy id).
    pub baseline: Option<String>,
    /// Share of capital allotted.
    pub capital_fraction: f64,
    /// First bar of the window (unix seconds), when known.
    pub window_start: Option<i64>,
    /// Last bar of the window (unix seconds), when known.
    pub window_end: Option<i64>,
}

/// What trading may do: the account's risk state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskState {
    /// Orders as the strategies place them.
    #[default]
    Active,
    /// Exits only: an order may reduce a position or close it, never open or grow one.
    ReduceOnly,
    /// No new orders (positions are held, or closed when the halt says flatten).
    Halted,
}

impl RiskState {
    /// `active`, `reduce_only`, `halted`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskState::Active => "active",
            RiskState::ReduceOnly => "reduce_only",
            RiskState::Halted => "halted",
        }
    }
}

/// The account's risk state changed (`stratagem halt`, `reduce-only`, `resume`, or the daily
/// loss limit). Every runner honours it from the first bar it had not consumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskStateChanged {
    /// The new state.
    pub state: RiskState,
    /// Why.
    pub reason: String,
    /// Who: a person's name, or `daily loss limit`.
    pub by: String,
    /// A halt that also closes every position.
    pub flatten: bool,
}

/// A stage run could not begin: the capital it would be allotted is held by other runs (the
/// account is never overcommitted). It begins once enough is free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageWaiting {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The stage it waits to run.
    pub stage: Stage,
    /// Why, with the figures.
    pub reason: String,
}

/// One fill of a stage on the real clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageFill {
    /// The bar it filled in (its open time, unix seconds).
    pub at: i64,
    /// Units bought (+) or sold (−).
    pub quantity: f64,
    /// Price after slippage.
    pub price: f64,
    /// Fee paid.
    pub fee: f64,
}

/// What a difference between a stage's trades and the backtest of its bars is put down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParityCause {
    /// The stage filled later than the backtest, at the market's price then.
    Latency,
    /// The paper venue's slippage differs from the backtest's.
    Slippage,
    /// The venue's price differs from the open of the bar it filled in (within the bar's range).
    FillPrice,
    /// The fee charged differs from the backtest's.
    Fees,
    /// The quantity filled differs (the venue's lot size, a partial fill).
    Quantity,
    /// The backtest traded where the stage did not.
    MissedSignal,
    /// The stage traded where the backtest did not.
    ExtraSignal,
    /// The bar the stage filled on is not the bar the store holds now.
    Data,
}

impl ParityCause {
    /// `latency`, `slippage`, `fill_price`, `fees`, `quantity`, `missed_signal`,
    /// `extra_signal`, `data`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParityCause::Latency => "latency",
            ParityCause::Slippage => "slippage",
            ParityCause::FillPrice => "fill_price",
            ParityCause::Fees => "fees",
            ParityCause::Quantity => "quantity",
            ParityCause::MissedSignal => "missed_signal",
            ParityCause::ExtraSignal => "extra_signal",
            ParityCause::Data => "data",
        }
    }
}

/// One part of a difference, with what it cost the stage against the backtest (quote currency;
/// negative: the stage did better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityAttribution {
    /// What it is put down to.
    pub cause: ParityCause,
    /// What it cost.
    pub amount: f64,
    /// The figures, e.g. `filled 2 bars (120 s) later: 43 210.00 against 43 198.50`.
    pub note: String,
}

/// A trade of the backtest beside the stage's trade it is paired with (either may be missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityRow {
    /// The backtest's fill.
    pub backtest: Option<StageFill>,
    /// The stage's fill.
    pub stage: Option<StageFill>,
    /// Every difference between them, attributed (none: the same trade).
    pub attributions: Vec<ParityAttribution>,
    /// Set when a difference cannot be attributed: why.
    pub unexplained: Option<String>,
}

/// A parity ledger: a WARM or LIMITED window's trades against the backtest engine's over the
/// same bars, trade by trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityLedger {
    /// Where the stage's trades were made: `paper`, or the exchange (`binance`).
    pub venue: String,
    /// Fills of the backtest.
    pub backtest_trades: u64,
    /// Fills of the stage.
    pub stage_trades: u64,
    /// Trade by trade, in order.
    pub rows: Vec<ParityRow>,
    /// Rows with a difference that could not be attributed.
    pub unexplained: u64,
    /// The backtest's equity at the window's end.
    pub backtest_equity: f64,
    /// The stage's.
    pub stage_equity: f64,
}

/// The parity ledger of a WARM or LIMITED run, recorded with its completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageParity {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// The run.
    pub run_id: Uuid,
    /// The ledger.
    pub ledger: ParityLedger,
}

/// A point of a stage run's curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Bars of the run consumed.
    pub bars: u64,
    /// The strategy's equity at that bar's close.
    pub equity: f64,
    /// The baseline's equity at the same close.
    pub baseline_equity: f64,
}

/// A stage run's equity beside its baseline's over the run (at most 200 points, evenly
/// thinned, first and last kept), recorded with its completion when the run was judged in one
/// pass (a run on the real clock marks its equity as it goes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCurve {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// The run.
    pub run_id: Uuid,
    /// What the baseline line is (`buy_and_hold`, or the champion's name).
    pub baseline: String,
    /// The points.
    pub points: Vec<CurvePoint>,
}

/// An order a stage run sends to its execution venue, recorded before it is sent (write-ahead,
/// in the batch of the mark that decided it). Its client order id derives from that decision,
/// so sending it again after a lost reply or a crash finds it instead of placing a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSubmitted {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The run that decided it.
    pub run_id: Uuid,
    /// Its stage.
    pub stage: Stage,
    /// The venue, e.g. `binance`.
    pub venue: String,
    /// The venue's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// The symbol's base asset (`BTC`).
    pub base_asset: String,
    /// Its quote asset (`USDT`).
    pub quote_asset: String,
    /// The client order id (`sg-…`).
    pub client_order_id: String,
    /// Units to buy (+) or sell (−).
    pub quantity: f64,
    /// The bar the paper model fills it in (open time, unix seconds).
    pub decided_at: i64,
    /// The paper model's price for it.
    pub model_price: f64,
}

/// The venue acknowledged an order: what it filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderAcknowledged {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The client order id.
    pub client_order_id: String,
    /// The venue's order id.
    pub venue_order_id: u64,
    /// The venue's status (`FILLED`, `PARTIALLY_FILLED`, `NEW`, …).
    pub status: String,
    /// Units filled, bought (+) or sold (−).
    pub executed_quantity: f64,
    /// Their average price.
    pub average_price: f64,
    /// Fees charged.
    pub fee: f64,
    /// The asset they were charged in.
    pub fee_asset: String,
    /// When the venue executed it (unix milliseconds).
    pub transact_time_ms: i64,
    /// Found by asking the venue for its id (the reply was lost, or the program stopped before
    /// recording it), not placed by this request.
    pub found: bool,
}

/// An order was not placed: the venue refused it, or it could not be made valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The client order id.
    pub client_order_id: String,
    /// Why.
    pub reason: String,
}

/// One asset's balance on a venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueBalance {
    /// The asset.
    pub asset: String,
    /// Free.
    pub free: f64,
    /// Locked in open orders.
    pub locked: f64,
}

/// The venue's account compared with the log at start: its balances, and every difference
/// (an order it holds that the log does not know, an acknowledgement recorded only now, a
/// balance that moved other than by the log's fills).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueReconciled {
    /// The venue.
    pub venue: String,
    /// Its balances now.
    pub balances: Vec<VenueBalance>,
    /// The differences, in words with their figures (none: the log and the venue agree).
    pub differences: Vec<String>,
}

/// A stage run on the real clock consumed closed bars of its series (a batch: the bars closed
/// since its last mark). Its window is fixed by its first mark (`bars` 0, before any bar is
/// consumed); a run resumed after a crash goes on at the bar after `through`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMarked {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// The run.
    pub run_id: Uuid,
    /// The series, `venue/SYMBOL/interval`.
    pub series: String,
    /// Open time of the window's first bar (unix seconds).
    pub window_start: i64,
    /// Bars the window has (an inconclusive window grows, so a later mark may say more).
    pub window_bars: u64,
    /// Bars of the window consumed, this batch included.
    pub bars: u64,
    /// Open time of the last bar consumed (unix seconds; before the window when none).
    pub through: i64,
    /// The candidate's fills in this batch.
    pub fills: Vec<StageFill>,
    /// The candidate's equity at the close of `through`.
    pub equity: f64,
    /// The baseline's equity at the same close.
    pub baseline_equity: f64,
}

/// A stage run finished, with its metrics and gate outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCompleted {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// The run.
    pub run_id: Uuid,
    /// What was measured.
    pub metrics: StageMetrics,
    /// Whether the gate passed.
    pub passed: bool,
    /// The gate as text, e.g. `sharpe 0.71 >= 0.50 and trades 12 >= 5`.
    pub gate: String,
}

/// A strategy moved up a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePromoted {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// From (None = freshly approved, entering COLD).
    pub from: Option<Stage>,
    /// To.
    pub to: Stage,
}

/// A strategy failed a stage gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRejected {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The stage it failed.
    pub stage: Stage,
    /// Why.
    pub reason: String,
}

/// The monitor moved a strategy back a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRolledBack {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// From.
    pub from: Stage,
    /// To.
    pub to: Stage,
    /// Why.
    pub reason: String,
    /// A previous champion put back, if any.
    pub reinstated: Option<Uuid>,
}

/// A strategy's next stage waits for a person: its last run's figures are too good to believe
/// (a look-ahead to rule out), so it does not run on until `review approve … ` for that stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageHeld {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The stage that waits for the approval.
    pub stage: Stage,
    /// Why, e.g. `implausible: check for look-ahead (Sharpe 36.1 over 168 bars)`.
    pub reason: String,
}

/// A strategy was taken out of the pipeline for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRetired {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// Its stage when retired, if it had one.
    pub stage: Option<Stage>,
    /// Why.
    pub reason: String,
}

/// A winner's parameter variant became a new opportunity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneSpawned {
    /// The winner.
    pub parent_strategy_id: Uuid,
    /// The new opportunity.
    pub opportunity_id: Uuid,
    /// The varied parameters.
    pub variant: Vec<Parameter>,
}

/// The monitor's reading of a strategy in LIMITED or FULL over its latest rolling window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorObserved {
    /// Which strategy.
    pub strategy_id: Uuid,
    /// The stage it is in.
    pub stage: Stage,
    /// The stage run whose completion began this stay (a stay's readings are numbered anew).
    pub run_id: Uuid,
    /// 1, 2, …: the readings of this stay.
    pub observation: u32,
    /// First bar of the rolling window (unix seconds).
    pub window_start: i64,
    /// Last bar of the rolling window (unix seconds).
    pub window_end: i64,
    /// Profit since the stay began, in quote currency, net of costs.
    pub pnl: f64,
    /// Return since the stay began.
    pub total_return: f64,
    /// Annualised Sharpe over the rolling window.
    pub rolling_sharpe: f64,
    /// The baseline's over the same window.
    pub baseline_sharpe: f64,
    /// Equity below its peak since the stay began, a positive fraction.
    pub drawdown: f64,
    /// Hours in a row the rolling Sharpe has been below the baseline's.
    pub below_baseline_hours: u32,
    /// `healthy`, `winner` or `degraded: <why>`.
    pub verdict: String,
}

/// A message a decision calls for, put in the outbox (the decision is already on the log); the
/// notifier delivers it in its own time, and its outcome is a `notification.sent` (out of the
/// outbox), a `notification.failed` (an attempt; it stays) or a `notification.dropped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationQueued {
    /// This message.
    pub notification_id: Uuid,
    /// `slack`, …
    pub channel: String,
    /// Which message (`opportunity_discovered`, `validation_passed`, …).
    pub message_kind: String,
    /// What it is about.
    pub subject_id: Option<Uuid>,
    /// The text, as the channel shows it.
    pub text: String,
}

/// A message taken out of the outbox undelivered (the outbox is bounded: the oldest go first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDropped {
    /// The message.
    pub notification_id: Uuid,
    /// Why.
    pub reason: String,
}

/// A notification was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSent {
    /// `slack`, …
    pub channel: String,
    /// Which message (`opportunity_discovered`, `validation_passed`, …).
    pub message_kind: String,
    /// What it is about.
    pub subject_id: Option<Uuid>,
}

/// A notification could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationFailed {
    /// `slack`, …
    pub channel: String,
    /// Which message.
    pub message_kind: String,
    /// What it is about.
    pub subject_id: Option<Uuid>,
    /// Why (never the webhook URL).
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
}

/// An actor started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorStarted {
    /// Actor name.
    pub actor: String,
}

/// A supervisor restarted a failed actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRestarted {
    /// Actor name.
    pub actor: String,
    /// Restarts within the current intensity window.
    pub attempt: u32,
    /// Why it failed.
    pub reason: String,
    /// Wait before the restart.
    pub backoff_ms: u64,
}

/// A supervisor stopped restarting an actor (intensity limit) and escalated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorGaveUp {
    /// Actor name.
    pub actor: String,
    /// Restarts within the window.
    pub restarts: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// The last failure.
    pub reason: String,
}

macro_rules! vocabulary {
    ($( $variant:ident ( $payload:ident ) = $name:literal ),+ $(,)?) => {
        /// Every event of the pipeline.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Event {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($payload),
            )+
        }

        /// The kind of an event: its stable name in the envelope.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )+
        }

        impl EventKind {
            /// Every kind.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),+];

            /// The stable name stored in the envelope.
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name),+ }
            }

            /// The kind with that stored name.
            pub fn from_name(name: &str) -> Option<EventKind> {
                match name { $($name => Some(EventKind::$variant),)+ _ => None }
            }
        }

        impl Event {
            /// This event's kind.
            pub fn kind(&self) -> EventKind {
                match self { $(Event::$variant(_) => EventKind::$variant),+ }
            }

            /// The bincode-2 payload of this event (without its kind).
            ///
            /// # Errors
            /// [`EncodeError::TooLarge`] when the payload exceeds [`MAX_PAYLOAD_BYTES`] (a huge
            /// model reply or strategy source, say): such an event is refused, never stored.
            pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
                let encoded = match self {
                    $(Event::$variant(p) => bincode::serde::encode_to_vec(p, bincode::config::standard())),+
                };
                let bytes = encoded.map_err(|e| EncodeError::Failed { kind: self.kind().as_str(), message: e.to_string() })?;
                if bytes.len() > MAX_PAYLOAD_BYTES {
                    return Err(EncodeError::TooLarge { kind: self.kind().as_str(), bytes: bytes.len(), limit: MAX_PAYLOAD_BYTES });
                }
                Ok(bytes)
            }

            fn decode_current(kind: EventKind, payload: &[u8]) -> Result<Event, DecodeError> {
                match kind {
                    $(EventKind::$variant => decode_exact::<$payload>(payload).map(Event::$variant)),+
                }
            }
        }

        $(
            impl From<$payload> for Event {
                fn from(p: $payload) -> Event { Event::$variant(p) }
            }
        )+
    };
}

vocabulary! {
    DiscoveryToggled(DiscoveryToggled) = "discovery.toggled",
    SourceChecked(SourceChecked) = "source.checked",
    OpportunityDiscovered(OpportunityDiscovered) = "opportunity.discovered",
    OpportunityRead(OpportunityRead) = "opportunity.read",
    OpportunityScored(OpportunityScored) = "opportunity.scored",
    OpportunityHeld(OpportunityHeld) = "opportunity.held",
    OpportunitySubmitted(OpportunitySubmitted) = "opportunity.submitted",
    OpportunityRejectedDuplicate(OpportunityRejectedDuplicate) = "opportunity.rejected_duplicate",
    OpportunityRejected(OpportunityRejected) = "opportunity.rejected",
    StrategyGenerated(StrategyGenerated) = "strategy.generated",
    GenerationAttempted(GenerationAttempted) = "generation.attempted",
    BacktestTrial(BacktestTrial) = "backtest.trial",
    ValidationStarted(ValidationStarted) = "validation.started",
    ValidationLayerFinished(ValidationLayerFinished) = "validation.layer_finished",
    ValidationDecided(ValidationDecided) = "validation.decided",
    ReviewApproved(ReviewApproved) = "review.approved",
    ReviewRejected(ReviewRejected) = "review.rejected",
    ReviewReopened(ReviewReopened) = "review.reopened",
    StageStarted(StageStarted) = "stage.started",
    StageMarked(StageMarked) = "stage.marked",
    RiskStateChanged(RiskStateChanged) = "risk.state_changed",
    StageWaiting(StageWaiting) = "stage.waiting",
    StageParity(StageParity) = "stage.parity",
    StageCurve(StageCurve) = "stage.curve",
    OrderSubmitted(OrderSubmitted) = "order.submitted",
    OrderAcknowledged(OrderAcknowledged) = "order.acknowledged",
    OrderRejected(OrderRejected) = "order.rejected",
    VenueReconciled(VenueReconciled) = "venue.reconciled",
    StageCompleted(StageCompleted) = "stage.completed",
    StagePromoted(StagePromoted) = "stage.promoted",
    StageRejected(StageRejected) = "stage.rejected",
    StageRolledBack(StageRolledBack) = "stage.rolled_back",
    StageHeld(StageHeld) = "stage.held",
    StrategyRetired(StrategyRetired) = "strategy.retired",
    CloneSpawned(CloneSpawned) = "clone.spawned",
    MonitorObserved(MonitorObserved) = "monitor.observed",
    NotificationQueued(NotificationQueued) = "notification.queued",
    NotificationDropped(NotificationDropped) = "notification.dropped",
    NotificationSent(NotificationSent) = "notification.sent",
    NotificationFailed(NotificationFailed) = "notification.failed",
    ActorStarted(ActorStarted) = "actor.started",
    ActorRestarted(ActorRestarted) = "actor.restarted",
    ActorGaveUp(ActorGaveUp) = "actor.gave_up",
}

impl Event {
    /// Decodes a stored payload of `kind` written with `schema_version`, upcasting older
    /// versions to the current types.
    ///
    /// # Errors
    /// [`DecodeError::UnknownSchemaVersion`] for a version newer than this build knows (the log
    /// was written by a newer stratagem), [`DecodeError::Payload`] when the bytes do not decode.
    pub fn decode(
        kind: EventKind,
        schema_version: u16,
        payload: &[u8],
    ) -> Result<Event, DecodeError> {
        match schema_version {
            // Upcasters go here: `0 => upcast_v0(kind, payload)`, each returning current types.
            SCHEMA_VERSION => Event::decode_current(kind, payload),
            v => Err(DecodeError::UnknownSchemaVersion {
                version: v,
                supported: SCHEMA_VERSION,
            }),
        }
    }
}

fn decode_exact<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(payload, bincode_config())
        .map_err(|e| DecodeError::Payload(e.to_string()))?;
    if read != payload.len() {
        return Err(DecodeError::Payload(format!(
            "{} trailing bytes after the payload",
            payload.len() - read
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_name_round_trips_and_is_unique() {
        let mut names = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(
                names.insert(kind.as_str()),
                "duplicate name {}",
                kind.as_str()
            );
            assert_eq!(EventKind::from_name(kind.as_str()), Some(*kind));
        }
        assert_eq!(EventKind::from_name("no.such"), None);
    }

    #[test]
    fn payload_round_trips_and_rejects_trailing_bytes() {
        let event = Event::from(StageCompleted {
            strategy_id: Uuid::now_v7(),
            stage: Stage::Warm,
            run_id: Uuid::now_v7(),
            metrics: StageMetrics {
                sharpe: 1.25,
                deflated_sharpe: Some(0.4),
                ..StageMetrics::default()
            },
            passed: true,
            gate: "sharpe 1.25 >= 1.1 x baseline".into(),
        });
        let bytes = event.encode_payload().unwrap();
        let back = Event::decode(event.kind(), SCHEMA_VERSION, &bytes).unwrap();
        assert_eq!(back, event);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Event::decode(event.kind(), SCHEMA_VERSION, &longer),
            Err(DecodeError::Payload(_))
        ));
    }

    #[test]
    fn an_oversized_payload_is_refused_not_truncated() {
        let event = Event::from(ActorStarted {
            actor: "x".repeat(MAX_PAYLOAD_BYTES + 1),
        });
        let err = event.encode_payload().unwrap_err();
        assert!(
            err.to_string().contains("over the limit of 16777216"),
            "{err}"
        );
    }

    #[test]
    fn future_schema_version_is_refused() {
        let event = Event::from(ActorStarted {
            actor: "scorer".into(),
        });
        let err = Event::decode(
            event.kind(),
            SCHEMA_VERSION + 1,
            &event.encode_payload().unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnknownSchemaVersion {
                version: SCHEMA_VERSION + 1,
                supported: SCHEMA_VERSION
            }
        );
    }
}
