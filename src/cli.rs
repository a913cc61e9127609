//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Autonomous strategy discovery: sources → scorer → generator → validator → COLD → WARM →
/// LIMITED → FULL, with every decision on one tamper-evident event log.
#[derive(Debug, Parser)]
#[command(name = "stratagem", version, about)]
pub struct Cli {
    /// Where the event log and the projections live.
    #[arg(
        long,
        global = true,
        env = "STRATAGEM_DATA_DIR",
        default_value = "stratagem-data"
    )]
    pub data_dir: PathBuf,

    /// A TOML configuration file (default: DATA_DIR/stratagem.toml when it exists). The
    /// environment overrides it; flags override both.
    #[arg(long, global = true, env = "STRATAGEM_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where the event log is: `sled:DIR` (a sled store in DIR; the default is
    /// `sled:DATA_DIR/events`) or `nats://HOST:PORT[,HOST:PORT…]/STREAM` (a NATS JetStream
    /// stream; `NATS_STREAM_REPLICAS` copies). The data directory still holds the projections
    /// and the audit files.
    #[arg(long, global = true, env = "STRATAGEM_STORE")]
    pub store: Option<String>,

    /// Create the data directory if it does not exist (`run`, `submit` and `discover` always
    /// may; any other command refuses a missing one, so a mistyped path is not a new empty log).
    #[arg(long, global = true)]
    pub create: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// Whether `--json` was asked for (the envelope of `output`).
    pub fn json(&self) -> bool {
        match self {
            Command::Status(f) | Command::Templates(f) | Command::Monitor(f) => f.json,
            Command::Submit(a) => a.json,
            Command::Halt(a) | Command::ReduceOnly(a) | Command::Resume(a) => a.json,
            Command::Backtest(a) => a.json,
            Command::Sweep(a) => a.json,
            Command::Generate { json, .. }
            | Command::Validate { json, .. }
            | Command::Stage { json, .. }
            | Command::Scan { json, .. }
            | Command::Discover { json, .. }
            | Command::Run { json, .. }
            | Command::Opportunities { json, .. }
            | Command::Trace { json, .. } => *json,
            Command::Review(
                ReviewCommand::List(JsonFlag { json })
                | ReviewCommand::Approve { json, .. }
                | ReviewCommand::Reject { json, .. }
                | ReviewCommand::Reopen { json, .. },
            ) => *json,
            Command::Config(ConfigCommand::Show(f)) => f.json,
            Command::Audit(
                AuditCommand::Verify(JsonFlag { json })
                | AuditCommand::Export { json, .. }
                | AuditCommand::Replay { json, .. },
            ) => *json,
            Command::Data(
                DataCommand::Download { json, .. }
                | DataCommand::Funding { json, .. }
                | DataCommand::Follow { json, .. }
                | DataCommand::List(JsonFlag { json })
                | DataCommand::Update(JsonFlag { json }),
            ) => *json,
            Command::Data(DataCommand::Export { .. }) => false,
            Command::Store(StoreCommand::Copy { json, .. }) => *json,
            Command::Worker { .. } | Command::Console { .. } => false,
            Command::Debug(_) => false,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the autonomy state (the seed's counters and strategies per stage).
    Status(JsonFlag),
    /// Submit an idea by hand (the manual source).
    Submit(SubmitArgs),
    /// List the strategy templates with their parameters.
    Templates(JsonFlag),
    /// Generate a strategy for an opportunity; prints the file, its hash and the strategy id.
    Generate {
        /// The opportunity (its id, from `submit` or `opportunities`).
        #[arg(long)]
        opportunity: String,
        /// The template (default: the one the opportunity names, else the one of its family).
        #[arg(long)]
        template: Option<String>,
        /// Generation mode (default `CODEGEN_DEFAULT_MODE`, else hybrid when a model is
        /// configured, else template).
        #[arg(long, value_enum)]
        mode: Option<GenerationModeArg>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run all six validator layers on a strategy file (exit 0 approved, 1 rejected, 2 manual
    /// review).
    Validate {
        /// The strategy source file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Backtest a strategy (a file, or a generated strategy's id) on bars, in the sandbox.
    Backtest(BacktestArgs),
    /// Backtest a template over a grid of its parameters: every point a trial of its family,
    /// deflated over the whole sweep; `--walk-forward K` chooses on each fold's past and
    /// measures on its next block.
    Sweep(SweepArgs),
    /// Run a stage of a strategy now, offline on the recorded bars: cold (7-day backtest),
    /// warm (4 h paper beside the baseline), limited (10 % capital, 24 h) or full. Prints the
    /// gate and the verdict and records every step.
    Stage {
        /// The strategy id.
        strategy: String,
        /// The stage.
        #[arg(value_enum)]
        stage: StageArg,
        /// Replay speed of the paper stages on recorded bars (simulated seconds per real
        /// second; default: as fast as possible).
        #[arg(long)]
        speed: Option<f64>,
        /// Paper-trade on a live exchange feed instead (a Binance kline stream URL,
        /// e.g. wss://stream.binance.com:9443/ws/btcusdt@kline_1h); warm and limited only.
        #[arg(long)]
        feed: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the security layer alone on a strategy file (exit 0 clean, 1 findings).
    Scan {
        /// The strategy source file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one discovery cycle: check each enabled source, score what is new, record it all.
    /// Prints per source: fetched, new, duplicates, submitted, held, errors.
    Discover {
        /// Only this source (arxiv, reddit, twitter, defillama, edgar, network, manual).
        #[arg(long)]
        source: Option<String>,
        /// Read recorded responses from DIR/<source>/ instead of the network (the shipped ones
        /// are in data/sources).
        #[arg(long, value_name = "DIR")]
        offline: Option<PathBuf>,
        /// Keep going: each source as a supervised actor on its own interval
        /// (DISCOVERY_<SOURCE>_INTERVAL_HOURS), until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// With --watch: stop after this many seconds.
        #[arg(long = "for", value_name = "SECONDS", requires = "watch")]
        for_secs: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the pipeline: discovery → generation → validation → COLD → WARM → LIMITED → FULL,
    /// resuming whatever the log shows in flight, then print the funnel.
    Run {
        /// One whole cycle, then stop (without it: the daemon, a cycle every RUN_TICK_SECONDS).
        #[arg(long)]
        once: bool,
        /// Read recorded source responses from DIR/<source>/ instead of the network
        /// (the shipped ones are in data/sources).
        #[arg(long, value_name = "DIR")]
        offline: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The operator's console: web pages over a data directory no process holds (the funnel,
    /// the success criteria, opportunities, each strategy's provenance), on `CONSOLE_ADDR`.
    Console {
        /// Where to listen (default `CONSOLE_ADDR`, else 127.0.0.1:8420).
        #[arg(long)]
        addr: Option<String>,
    },
    /// A strategy's provenance: the source item its idea came from, its scores, generation,
    /// every validation layer, every stage run with its gate, the monitor's readings, rollbacks
    /// and clones, each with its event's sequence number.
    Trace {
        /// The strategy id.
        strategy: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List opportunities ranked by composite score, with the five sub-scores and reasons.
    Opportunities {
        /// How many to show (default 20).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Skip this many first (the `next` of a `--json` page).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Only this status: discovered, held, submitted, duplicate, generated.
        #[arg(long)]
        status: Option<String>,
        /// Every opportunity, duplicates included, without a limit.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The human checkpoint: strategies waiting for a person (the validator's manual review, or
    /// `REQUIRE_APPROVAL_BEFORE=limited|full`), and the decision.
    #[command(subcommand)]
    Review(ReviewCommand),
    /// Halt trading: no runner places a new order from the next bar on (`--flatten` closes
    /// every position), and no stage run begins, until `resume`. An event, kept across restarts.
    Halt(RiskArgs),
    /// Exits only: orders may close or reduce positions, never open or grow one, until
    /// `resume`. An event, kept across restarts.
    ReduceOnly(RiskArgs),
    /// Back to active trading after `halt` or `reduce-only`. An event.
    Resume(RiskArgs),
    /// One pass of the monitor over every strategy trading in LIMITED or FULL: rolling P&L,
    /// Sharpe and drawdown on the recorded bars of its stay; rollback to the previous stage on
    /// degradation, clones of winners, retirement of losers (settings `MONITOR_*`).
    Monitor(JsonFlag),
    /// The configuration: `config show` prints every setting, where it came from, and the
    /// settings as resolved (secrets never shown); a bad value is refused, naming its key.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Verify, export or replay the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The bar store (`DATA_DIR/market`): download exchange bars, list and export them.
    #[command(subcommand)]
    Data(DataCommand),
    /// The event store itself: copy a log between stores (sled and NATS JetStream).
    #[command(subcommand)]
    Store(StoreCommand),
    /// A worker for a daemon on a shared log (`--store nats://…`, `REMOTE_WORKERS=1`): takes
    /// validations and stage runs from the job queue beside the stream, runs them in its own
    /// sandbox (the data directory holds its compile caches) and stores their results, until
    /// SIGINT or SIGTERM.
    Worker {
        /// Stop after this many jobs (default: never).
        #[arg(long)]
        jobs: Option<u64>,
    },
    /// Tools for tests; not for everyday use.
    #[command(subcommand, hide = true)]
    Debug(DebugCommand),
}

/// One series of the bar store.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// The venue: `binance` (spot), `binance-futures` (USD-M perpetuals) or `coinbase`
    /// (Coinbase Exchange).
    #[arg(long)]
    pub venue: String,
    /// The venue's symbol: `BTCUSDT` (Binance), `BTC-USD` (Coinbase).
    #[arg(long)]
    pub symbol: String,
    /// The bar interval: 1m, 5m, 15m, 1h, 4h (Binance), 6h (Coinbase), 1d.
    #[arg(long)]
    pub interval: String,
}

/// `data`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Downloads the closed bars of a series that the store does not hold yet, page by page
    /// (a rerun asks only for what is new).
    Download {
        /// The series.
        #[command(flatten)]
        series: SeriesArgs,
        /// First bar: a date (`2024-01-01`), RFC 3339, or unix seconds.
        #[arg(long)]
        since: String,
        /// End (exclusive; default: the bar forming now).
        #[arg(long)]
        until: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Downloads a perpetual's funding-rate history (Binance USD-M futures,
    /// `BINANCE_FUTURES_URL`) into the store (`market/binance/SYMBOL/funding.csv`), beside what
    /// it holds; `backtest --funding store:binance/SYMBOL` reads it.
    Funding {
        /// The venue (`binance`).
        #[arg(long, default_value = "binance")]
        venue: String,
        /// The perpetual's symbol (`BTCUSDT`).
        #[arg(long)]
        symbol: String,
        /// First funding time: a date (`2024-01-01`), RFC 3339, or unix seconds.
        #[arg(long)]
        since: String,
        /// End (exclusive; default: now).
        #[arg(long)]
        until: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every configured series (`MARKETS`) brought up to the bar forming now; a series not in
    /// the store yet from `MARKET_HISTORY_DAYS` ago.
    Update(JsonFlag),
    /// Follows a Binance series live: each closed bar is stored as it closes (the bars since
    /// the store's end are downloaded first; a dropped stream is backfilled).
    Follow {
        /// The series (Binance).
        #[command(flatten)]
        series: SeriesArgs,
        /// Stop after storing this many bars (default: follow until the stream ends).
        #[arg(long)]
        bars: Option<usize>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every series in the store: coverage, bars, the venue's gaps, the last bar.
    List(JsonFlag),
    /// Writes a series (inside its coverage) to a file that `backtest --data` reads.
    Export {
        /// The series.
        #[command(flatten)]
        series: SeriesArgs,
        /// `csv` (`timestamp,open,high,low,close,volume`, the bar's open time in RFC 3339) or
        /// `parquet` (the same columns; `timestamp` a UTC `TIMESTAMP(MILLIS)`, the prices
        /// `DOUBLE`; uncompressed, one row group).
        #[arg(long, default_value = "csv")]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `generate --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerationModeArg {
    /// Parameter substitution into a template.
    Template,
    /// A language model writes the whole strategy.
    Llm,
    /// A template's structure, with the model writing the signal logic.
    Hybrid,
}

/// The bars a backtest or a sweep runs on, and its costs and sizing.
#[derive(Debug, Clone, Args)]
pub struct MarketArgs {
    /// Bars: `coinbase-1h` (embedded hourly, the default), `ftx-1m` (embedded 1-minute),
    /// `store:VENUE/SYMBOL/INTERVAL` (a series of the bar store, `data download`), or a CSV file
    /// (columns `timestamp,open,high,low,close[,volume]` by header name, any order).
    #[arg(long, default_value = "coinbase-1h")]
    pub data: String,
    /// The market's calendar: `crypto` (24/7), `equity` (weekday sessions, 252 a year) or `fx`
    /// (24/5); default: inferred from the bars. Gaps where it was closed are accepted.
    #[arg(long)]
    pub calendar: Option<String>,
    /// Bars a year for annualised figures (default: from the calendar and the bar interval).
    #[arg(long)]
    pub bars_per_year: Option<f64>,
    /// Only the most recent N days of the bars.
    #[arg(long)]
    pub days: Option<u32>,
    /// Fee per side of a fill that takes liquidity (market and stop orders, stop-losses),
    /// basis points (default 10).
    #[arg(long, default_value_t = 10.0)]
    pub fee_bps: f64,
    /// Fee of a fill that rests in the book (limit orders, take-profits), basis points
    /// (default: the `--fee-bps`).
    #[arg(long)]
    pub maker_fee_bps: Option<f64>,
    /// A fixed fee per fill, in quote currency (default 0).
    #[arg(long, default_value_t = 0.0)]
    pub fixed_fee: f64,
    /// Borrow (or funding) cost of a short position, basis points of its notional per year
    /// (default 0).
    #[arg(long, default_value_t = 0.0)]
    pub borrow_bps_per_year: f64,
    /// Slippage against the open, basis points (default 5).
    #[arg(long, default_value_t = 5.0)]
    pub slippage_bps: f64,
    /// Starting capital (default 100,000).
    #[arg(long, default_value_t = 100_000.0)]
    pub capital: f64,
    /// Position sizing: `equity` (the order's share of capital, of the equity at the fill:
    /// compounds; the default), `fixed` (of the starting capital) or `units` (the host's
    /// quantities as they are).
    #[arg(long, default_value = "equity")]
    pub sizing: String,
    /// Largest exposure as a multiple of equity (default 1: no leverage).
    #[arg(long, default_value_t = 1.0)]
    pub max_leverage: f64,
}

/// `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The template (`stratagem templates` lists them with their parameters and ranges).
    pub template: String,
    /// A parameter's values: `NAME=V1,V2,…`, or `NAME=range:N` for N values evenly across its
    /// documented range (repeat for each parameter; the others stay at their defaults).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// The bars and the costs.
    #[command(flatten)]
    pub market: MarketArgs,
    /// Walk-forward folds: the bars cut into K + 1 blocks; fold k chooses the point with the
    /// best Sharpe on the blocks before block k and is measured on block k.
    #[arg(long)]
    pub walk_forward: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// A strategy file, or the id of a generated strategy (its source is taken from the log).
    pub strategy: String,
    /// The bars and the costs.
    #[command(flatten)]
    pub market: MarketArgs,
    /// A strategy over several series (`Strategy::LEGS`): the bars of each leg, in its order,
    /// comma-separated (each as `--data` takes it). The series are aligned by time (a time
    /// one of them has no bar for is no step) and each leg trades its share of the capital;
    /// `--trades-out` then writes every leg's fills. Replaces `--data`.
    #[arg(long, value_name = "DATA,DATA")]
    pub legs: Option<String>,
    /// With `--legs`: the funding rates of the first leg, a perpetual: `store:binance/SYMBOL`
    /// (`data funding`), or a file (Binance's funding-rate history as JSON, its monthly archive
    /// CSV `calc_time,funding_interval_hours,last_funding_rate`, or `timestamp,funding_rate`): its book pays `position × close × rate` at each funding
    /// time, in its equity and its round trips.
    #[arg(long)]
    pub funding: Option<String>,
    /// Write the equity curve (`timestamp,equity`) to this CSV.
    #[arg(long)]
    pub equity_out: Option<PathBuf>,
    /// Write the closed trades to this CSV (with `--legs`: every leg's fills).
    #[arg(long)]
    pub trades_out: Option<PathBuf>,
    /// Write a tear sheet to this HTML file: equity against buy and hold, the underwater
    /// curve, monthly returns, the trades and every metric, self-contained (inline SVG).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Walk-forward folds: the bars cut into K + 1 blocks; fold k gives the figures on the
    /// blocks before block k (in sample) and on block k (out of sample).
    #[arg(long)]
    pub walk_forward: Option<usize>,
    /// Also say where the time went: from the process's start to the first bar, the run, bars
    /// a second (off by default, so the same inputs print the same output).
    #[arg(long)]
    pub timings: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A stage on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StageArg {
    /// Backtest.
    Cold,
    /// Paper trading beside the baseline.
    Warm,
    /// A share of capital.
    Limited,
    /// Full capital.
    Full,
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// A short title.
    #[arg(long)]
    pub title: String,
    /// The alpha hypothesis, in plain words.
    #[arg(long)]
    pub hypothesis: String,
    /// Where the idea comes from (http or https).
    #[arg(long)]
    pub url: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `review …`.
/// `halt`, `reduce-only`, `resume`.
#[derive(Debug, clap::Args)]
pub struct RiskArgs {
    /// Why (kept on the log).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Close every position as well (`halt` only).
    #[arg(long)]
    pub flatten: bool,
    /// Who decides (default $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Strategies waiting for a person.
    List(JsonFlag),
    /// Approve a waiting strategy (for COLD after a manual review, or into the gated stage).
    Approve {
        /// The strategy id.
        strategy: String,
        /// A note for the record.
        #[arg(long)]
        note: Option<String>,
        /// Who decides (default $USER).
        #[arg(long)]
        reviewer: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject a waiting strategy; it leaves the pipeline.
    Reject {
        /// The strategy id.
        strategy: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides (default $USER).
        #[arg(long)]
        reviewer: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Let a retired or rejected strategy back in: it waits for validation again.
    Reopen {
        /// The strategy id.
        strategy: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides (default $USER).
        #[arg(long)]
        reviewer: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every setting with its value and origin, then the settings as resolved and checked.
    Show(JsonFlag),
}

/// `audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; name the first broken event and exit 1 if there is one.
    Verify(JsonFlag),
    /// Write the JSONL audit trail and autonomy_state.json, rebuilt from the log, to a folder.
    Export {
        /// Destination folder (default: DATA_DIR/audit-export).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `jsonl`: the audit trail and autonomy_state.json; `sqlite`: the seed's
        /// `strategy_opportunities.db` (with strategies, validations and stage runs).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild every projection from the log in a fresh folder and compare the live ones with it
    /// as they are, listing every difference (file, line, expected, found); exit 1 on one.
    /// Nothing is changed unless `--repair`.
    Replay {
        /// After reporting, rebuild the live projections from the log.
        #[arg(long)]
        repair: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What `audit export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The JSONL audit files and autonomy_state.json.
    Jsonl,
    /// One SQLite database.
    Sqlite,
}

/// `debug …` (hidden).
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Append synthetic batches, printing `ack BATCH FIRST LAST` after each durable append.
    /// Used by the kill -9 crash test.
    AppendLoad {
        /// Number of batches.
        #[arg(long, default_value_t = 1000)]
        batches: u64,
        /// Largest batch; batch sizes cycle from 1 to this.
        #[arg(long, default_value_t = 8)]
        max_batch: u64,
    },
}

/// `stratagem store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copies every event of one store to another, byte for byte with its hash and the
    /// idempotency keys of its batches (`sled:DIR` or `nats://HOST:PORT/STREAM`, either way).
    /// A target that holds the start of the same log (a copy cut short) is continued; one that
    /// holds another log is refused. `audit verify` then prints the same head hash on both.
    Copy {
        /// The store to read: `sled:DIR` or `nats://HOST:PORT/STREAM`.
        #[arg(long)]
        from: String,
        /// The store to write: `sled:DIR` or `nats://HOST:PORT/STREAM`.
        #[arg(long)]
        to: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}
