//! Running a compiled strategy in wasmtime: no WASI, no imports but the SDK's four host
//! functions, fuel as the deterministic budget, an epoch deadline as the wall-clock backstop,
//! a memory cap and a wasm stack limit. Market data reaches the strategy one bar at a time, so
//! it cannot look ahead; the host sizes, gates and clamps every order itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::stages::backtest::{Book, CostModel};
use serde::Serialize;
use wasmtime::{
    AsContextMut, Caller, Config, Engine, ExternType, InstancePre, Linker, Module, Store,
    StoreLimits, StoreLimitsBuilder, Trap, ValType,
};

/// The module name of the host imports.
pub const HOST_MODULE: &str = "stratagem";

/// Limits of one sandbox run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SandboxLimits {
    /// Wall-clock limit of a whole run (`VALIDATOR_SANDBOX_TIMEOUT_SECONDS`, default 30 s; the
    /// validator gives its two runs one such deadline together).
    pub timeout: Duration,
    /// Fuel for `stratagem_init`.
    pub init_fuel: u64,
    /// Fuel for each bar.
    pub fuel_per_bar: u64,
    /// Linear memory cap, bytes (default 64 MiB; the module's own stack needs > 1 MiB).
    pub memory_bytes: usize,
    /// Largest log line kept, bytes; longer lines are cut.
    pub max_log_line: usize,
    /// Most log lines kept per run.
    pub max_log_lines: usize,
    /// Most host calls (gate, size, order, log) in one bar, or in `stratagem_init`.
    pub max_host_calls_per_bar: u32,
    /// Most orders in one bar.
    pub max_orders_per_bar: u32,
    /// Most log calls in one bar.
    pub max_log_calls_per_bar: u32,
    /// Most log bytes asked for in one bar (before a line is cut).
    pub max_log_bytes_per_bar: u64,
    /// Most log bytes asked for in a whole run.
    pub max_log_bytes_per_run: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            timeout: Duration::from_secs(30),
            init_fuel: 50_000_000,
            fuel_per_bar: 5_000_000,
            memory_bytes: 64 << 20,
            max_log_line: 1024,
            max_log_lines: 1000,
            max_host_calls_per_bar: 1_000,
            max_orders_per_bar: 8,
            max_log_calls_per_bar: 32,
            max_log_bytes_per_bar: 16 << 10,
            max_log_bytes_per_run: 4 << 20,
        }
    }
}

impl SandboxLimits {
    /// A backtest's limits: the defaults with a whole run of 10 minutes (the bars are many,
    /// and fuel still bounds each bar).
    pub fn backtest() -> SandboxLimits {
        SandboxLimits {
            timeout: Duration::from_secs(600),
            ..SandboxLimits::default()
        }
    }
}

impl RiskLimits {
    /// The default limits with this capital.
    pub fn with_capital(capital: f64) -> RiskLimits {
        RiskLimits {
            capital,
            ..RiskLimits::default()
        }
    }

    /// The default limits with this capital, in an account with these costs.
    pub fn with_account(capital: f64, costs: CostModel) -> RiskLimits {
        RiskLimits {
            capital,
            costs,
            ..RiskLimits::default()
        }
    }
}

/// The host's risk limits, applied to every gate, size and order whatever the strategy asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskLimits {
    /// Capital allotted, in quote currency.
    pub capital: f64,
    /// Largest position, as a share of capital.
    pub max_position_fraction: f64,
    /// Lowest confidence the gate lets through.
    pub min_confidence: f64,
    /// Fees, slippage and sizing of the account a strategy reads (`account`): those of the
    /// backtest or stage it runs in.
    pub costs: CostModel,
    /// Series the strategy trades (its legs), their bars interleaved by the caller: bar `i` is
    /// of leg `i % legs`, and every leg's bar of a time comes before any bar of the next time
    /// ([`crate::stages::legs`]). `capital` is each leg's.
    pub legs: usize,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            capital: 100_000.0,
            max_position_fraction: 1.0,
            min_confidence: 0.5,
            costs: CostModel::default(),
            legs: 1,
        }
    }
}

/// A bar given to the strategy.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SandboxBar {
    /// Close time, unix seconds.
    pub timestamp: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

/// How an order executes (the SDK's `OrderKind`; its code is the host ABI's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// At the next bar's open (code 0).
    #[default]
    Market,
    /// Works until the price reaches its price or better (code 1).
    Limit,
    /// Works until the price trades through its price, then fills as a market order (code 2).
    Stop,
    /// Cancels the working order (code 3).
    Cancel,
}

impl OrderKind {
    /// The kind of an ABI code.
    pub fn from_code(code: i32) -> Option<OrderKind> {
        match code {
            0 => Some(OrderKind::Market),
            1 => Some(OrderKind::Limit),
            2 => Some(OrderKind::Stop),
            3 => Some(OrderKind::Cancel),
            _ => None,
        }
    }
}

/// An order as the host accepted it (after clamping).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HostOrder {
    /// Index of the bar during which it was placed.
    pub bar: usize,
    /// -1 short, 0 flat, 1 long.
    pub direction: i32,
    /// Target quantity after the host's clamp.
    pub quantity: f64,
    /// Whether the host reduced the requested quantity.
    pub clamped: bool,
    /// Market, limit, stop or cancel.
    pub kind: OrderKind,
    /// The limit or stop price (0 for market orders and cancels).
    pub price: f64,
    /// The stop-loss of the position it opens, if any.
    pub stop_loss: Option<f64>,
    /// The take-profit of the position it opens, if any.
    pub take_profit: Option<f64>,
    /// The leg (series) it trades: 0 for a strategy over one.
    pub leg: usize,
}

impl HostOrder {
    /// A market order for a target position, placed during `bar`.
    pub fn market(bar: usize, direction: i32, quantity: f64) -> HostOrder {
        HostOrder {
            bar,
            direction,
            quantity,
            clamped: false,
            kind: OrderKind::Market,
            price: 0.0,
            stop_loss: None,
            take_profit: None,
            leg: 0,
        }
    }
}

/// Why a run stopped early, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SandboxTrap {
    /// The fuel budget ran out (an endless or too costly loop).
    #[error("out of fuel (endless or too costly computation)")]
    OutOfFuel,
    /// The wall-clock deadline passed.
    #[error("wall-clock timeout")]
    Timeout,
    /// The linear memory cap was hit.
    #[error("memory limit exceeded")]
    MemoryLimit,
    /// The wasm stack overflowed (unbounded recursion).
    #[error("stack overflow (unbounded recursion?)")]
    StackOverflow,
    /// The strategy panicked or aborted.
    #[error("panic: {0}")]
    Panic(String),
    /// A host limit per bar or per run was passed (orders, log calls or bytes, host calls).
    #[error("host limit: {0}")]
    HostLimit(HostLimit),
    /// Any other trap.
    #[error("trap: {0}")]
    Other(String),
}

/// A host resource cap that a strategy went over: the run traps with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum HostLimit {
    /// More host calls in one bar than allowed.
    #[error("more than {0} host calls in one bar")]
    HostCalls(u32),
    /// More orders in one bar than allowed.
    #[error("more than {0} orders in one bar")]
    Orders(u32),
    /// More log calls in one bar than allowed.
    #[error("more than {0} log calls in one bar")]
    LogCalls(u32),
    /// More log bytes in one bar than allowed.
    #[error("more than {0} log bytes in one bar")]
    LogBytesPerBar(u64),
    /// More log bytes in the run than allowed.
    #[error("more than {0} log bytes in one run")]
    LogBytesPerRun(u64),
}

impl SandboxTrap {
    /// A stable code for the trap (`out_of_fuel`, `host_limit.orders`, …).
    pub fn code(&self) -> &'static str {
        match self {
            SandboxTrap::OutOfFuel => "out_of_fuel",
            SandboxTrap::Timeout => "timeout",
            SandboxTrap::MemoryLimit => "memory_limit",
            SandboxTrap::StackOverflow => "stack_overflow",
            SandboxTrap::Panic(_) => "panic",
            SandboxTrap::HostLimit(HostLimit::HostCalls(_)) => "host_limit.host_calls",
            SandboxTrap::HostLimit(HostLimit::Orders(_)) => "host_limit.orders",
            SandboxTrap::HostLimit(HostLimit::LogCalls(_)) => "host_limit.log_calls",
            SandboxTrap::HostLimit(HostLimit::LogBytesPerBar(_)) => "host_limit.log_bytes_per_bar",
            SandboxTrap::HostLimit(HostLimit::LogBytesPerRun(_)) => "host_limit.log_bytes_per_run",
            SandboxTrap::Other(_) => "other",
        }
    }
}

/// Why a module cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// wasmtime could not be set up.
    #[error("cannot set up the sandbox: {0}")]
    Setup(String),
    /// The module is not valid wasm.
    #[error("the module is not valid WebAssembly: {0}")]
    InvalidModule(String),
    /// An import other than the SDK's host functions.
    #[error("the module imports `{module}::{name}`, which is not a host function of the SDK")]
    ForbiddenImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A required export is missing or of the wrong type.
    #[error("the module does not export `{0}` as the sandbox ABI needs")]
    MissingExport(&'static str),
    /// Instantiation or init trapped.
    #[error("the strategy failed to start: {0}")]
    Start(SandboxTrap),
    /// The strategy trades another number of series than it was given.
    #[error("the strategy trades {strategy} series (Strategy::LEGS) but {given} were given: give one bar file a leg (`backtest --legs A,B`)")]
    Legs {
        /// Its `LEGS`.
        strategy: usize,
        /// Series given.
        given: usize,
    },
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutput {
    /// Bars fed before the run ended.
    pub bars: usize,
    /// Orders the host accepted, in order.
    pub orders: Vec<HostOrder>,
    /// Orders the host refused (not a number, negative, unknown direction).
    pub refused_orders: usize,
    /// Orders the host refused because their confidence was below its gate (or not in [0, 1]).
    pub gated_orders: usize,
    /// Bars on which the strategy returned an error.
    pub strategy_errors: usize,
    /// Log lines (`level: text`), capped.
    pub logs: Vec<String>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// The trap that ended the run early, if any.
    pub trap: Option<SandboxTrap>,
}

struct HostState {
    limits: StoreLimits,
    risk: RiskLimits,
    sandbox: SandboxLimits,
    bar: usize,
    price: f64,
    /// Each leg's latest close reached (orders for a leg are sized at its own price).
    leg_prices: Vec<f64>,
    /// The time of the newest bar reached.
    time: i64,
    /// Each leg's funding rates (a perpetual's), by time; empty for a leg without.
    funding: Vec<Vec<crate::bars::funding::FundingRate>>,
    orders: Vec<HostOrder>,
    refused_orders: usize,
    gated_orders: usize,
    logs: Vec<String>,
    panic_message: Option<String>,
    /// This bar's counts (reset before each bar).
    calls: u32,
    bar_orders: u32,
    bar_log_calls: u32,
    bar_log_bytes: u64,
    /// The run's log bytes.
    run_log_bytes: u64,
    /// Bars queued for the module to take, and the next one to hand out.
    queue: Vec<SandboxBar>,
    cursor: usize,
    /// Bars handed out in the run.
    fed: usize,
    /// The batch the module was last given: where it starts in `queue`, its length, how many
    /// of its bars the host has reached (their accounts closed and counts reset), and where in
    /// the module's memory the SDK counts the bars it handed to the strategy.
    batch_from: usize,
    batch_len: usize,
    reached: usize,
    handed_at: Option<usize>,
    /// Fuel given since it was last counted (the batch's, or the glue's own).
    fuel_given: u64,
    /// Bars whose `drive` reported a strategy error.
    strategy_errors: usize,
    /// Fuel spent by the bars closed so far.
    fuel_used: u64,
    /// Epoch ticks each bar gets when the deadline is per bar.
    per_bar_ticks: Option<u64>,
    /// The module's memory, where bars are written.
    memory: Option<wasmtime::Memory>,
    /// The account, for a strategy that reads it: stepped as each bar is handed out, with the
    /// orders placed during the bar before (from `book_from` in `orders`).
    book: Option<Book>,
    book_from: usize,
}

impl HostState {
    /// Reaches the batch's bars up to the `handed`-th: each bar in turn closes the one before
    /// (the account steps over it with the orders placed during it), becomes the newest the
    /// orders and sizes are at, and starts its own host-call counts.
    fn reach(&mut self, handed: usize) {
        let upto = handed.min(self.batch_len);
        while self.reached < upto {
            let bar = self.queue[self.batch_from + self.reached];
            self.reached += 1;
            if let Some(book) = self.book.as_mut() {
                book.step(&bar, &self.orders[self.book_from..]);
                self.book_from = self.orders.len();
            }
            self.bar = self.fed;
            let leg = self.fed % self.leg_prices.len().max(1);
            if let Some(p) = self.leg_prices.get_mut(leg) {
                *p = bar.close;
            }
            self.fed += 1;
            self.price = bar.close;
            self.time = bar.timestamp;
            self.new_bar();
        }
    }

    /// Counts one host call, trapping past the per-bar cap.
    fn call(&mut self) -> wasmtime::Result<()> {
        self.calls += 1;
        if self.calls > self.sandbox.max_host_calls_per_bar {
            return Err(wasmtime::Error::new(HostLimit::HostCalls(
                self.sandbox.max_host_calls_per_bar,
            )));
        }
        Ok(())
    }

    fn new_bar(&mut self) {
        self.calls = 0;
        self.bar_orders = 0;
        self.bar_log_calls = 0;
        self.bar_log_bytes = 0;
    }
}

const EPOCH_TICK: Duration = Duration::from_millis(50);

/// A wasmtime engine configured for strategies, with its epoch ticker.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    stop_ticker: Arc<AtomicBool>,
    /// Compiled modules by SHA-256 of their bytes: a module is compiled once however often it
    /// is loaded (validation runs it twice; stages run it again).
    modules: std::sync::Mutex<std::collections::HashMap<[u8; 32], Module>>,
}

/// Bars queued per call into the module in a batch run.
pub const BATCH_BARS: usize = 1024;

/// Most compiled modules kept; past it the cache starts afresh.
const MODULE_CACHE_ENTRIES: usize = 64;

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// A module checked and linked once, instantiated afresh for every run.
pub struct LoadedStrategy {
    pre: InstancePre<HostState>,
    /// Whether the strategy reads its account (imports `account`): the host then keeps the
    /// account bar by bar beside it.
    reads_account: bool,
    reads_funding: bool,
}

impl LoadedStrategy {
    /// Whether the strategy reads its account (the host keeps a book beside it only then).
    pub fn reads_account(&self) -> bool {
        self.reads_account
    }

    /// Whether it reads funding rates (`Market::funding_rate`).
    pub fn reads_funding(&self) -> bool {
        self.reads_funding
    }
}

impl Sandbox {
    /// A sandbox engine: fuel, epoch interruption, 512 KiB wasm stack, no WASI.
    ///
    /// # Errors
    /// [`SandboxError::Setup`] when wasmtime cannot be configured.
    pub fn new() -> Result<Sandbox, SandboxError> {
        Sandbox::build(None)
    }

    /// A sandbox engine whose compiled modules are also kept in `dir` (wasmtime's cache, keyed
    /// by the module's bytes, wasmtime's version and this engine's settings), so another
    /// process loads a module it ran before without compiling it: a second backtest of a file
    /// starts in milliseconds. The files there are machine code this process runs: `dir` is
    /// created private to this user (`DATA_DIR/cache/native`). When the cache cannot be set up,
    /// modules are compiled as by [`Sandbox::new`], with a warning.
    ///
    /// # Errors
    /// [`SandboxError::Setup`] when wasmtime cannot be configured.
    pub fn cached(dir: &std::path::Path) -> Result<Sandbox, SandboxError> {
        Sandbox::build(Some(dir))
    }

    fn build(cache: Option<&std::path::Path>) -> Result<Sandbox, SandboxError> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024);
        if let Some(dir) = cache {
            match native_cache(dir) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => {
                    tracing::warn!("compiled modules are not cached in {}: {e}", dir.display())
                }
            }
        }
        let engine = Engine::new(&config).map_err(|e| SandboxError::Setup(e.to_string()))?;
        let linker = host_linker(&engine)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("sandbox-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Setup(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Sandbox {
            engine,
            linker,
            stop_ticker,
            modules: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Compiles and checks a module: its imports must be the SDK's host functions with their
    /// exact types, and it must export the ABI.
    ///
    /// # Errors
    /// [`SandboxError::InvalidModule`], [`SandboxError::ForbiddenImport`] or
    /// [`SandboxError::MissingExport`].
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedStrategy, SandboxError> {
        let module = self.compiled(wasm)?;
        for import in module.imports() {
            let expected = match (import.module(), import.name()) {
                (HOST_MODULE, "gate") => Some((vec![ValType::F64], vec![ValType::I32])),
                (HOST_MODULE, "size") => {
                    Some((vec![ValType::F64, ValType::F64], vec![ValType::F64]))
                }
                (HOST_MODULE, "order") => Some((
                    vec![ValType::I32, ValType::I32, ValType::F64, ValType::F64],
                    vec![ValType::I32],
                )),
                (HOST_MODULE, "log") => Some((
                    vec![ValType::I32, ValType::I32, ValType::I32],
                    vec![ValType::I32],
                )),
                (HOST_MODULE, "bars") => Some((
                    vec![ValType::I32, ValType::I32, ValType::I32, ValType::I32],
                    vec![ValType::I32],
                )),
                (HOST_MODULE, "place") => Some((
                    vec![
                        ValType::I32,
                        ValType::I32,
                        ValType::I32,
                        ValType::F64,
                        ValType::F64,
                        ValType::F64,
                        ValType::F64,
                        ValType::F64,
                    ],
                    vec![ValType::I32],
                )),
                (HOST_MODULE, "account") => Some((vec![ValType::I32], vec![ValType::I32])),
                (HOST_MODULE, "funding") => Some((vec![ValType::I32], vec![ValType::F64])),
                _ => None,
            };
            let matches = match (expected, import.ty()) {
                (Some((params, results)), ExternType::Func(f)) => {
                    f.params()
                        .map(|p| p.to_string())
                        .eq(params.iter().map(|p| p.to_string()))
                        && f.results()
                            .map(|r| r.to_string())
                            .eq(results.iter().map(|r| r.to_string()))
                }
                _ => false,
            };
            if !matches {
                return Err(SandboxError::ForbiddenImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        let has = |name: &str, check: &dyn Fn(&ExternType) -> bool| {
            module.exports().any(|e| e.name() == name && check(&e.ty()))
        };
        if !has("memory", &|t| matches!(t, ExternType::Memory(_))) {
            return Err(SandboxError::MissingExport("memory"));
        }
        if !has("stratagem_init", &|t| matches!(t, ExternType::Func(_))) {
            return Err(SandboxError::MissingExport("stratagem_init"));
        }
        if !has("stratagem_run", &|t| matches!(t, ExternType::Func(_))) {
            return Err(SandboxError::MissingExport("stratagem_run"));
        }
        let reads_account = module
            .imports()
            .any(|i| (i.module(), i.name()) == (HOST_MODULE, "account"));
        let reads_funding = module
            .imports()
            .any(|i| (i.module(), i.name()) == (HOST_MODULE, "funding"));
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::InvalidModule(format!("{e:#}")))?;
        Ok(LoadedStrategy {
            pre,
            reads_account,
            reads_funding,
        })
    }

    /// The compiled module for these bytes, from the cache or compiled now.
    fn compiled(&self, wasm: &[u8]) -> Result<Module, SandboxError> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(wasm).into();
        let cached = self
            .modules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(module) = cached {
            return Ok(module);
        }
        // Compiled without the lock: concurrent validations compile their modules at once.
        let module = Module::new(&self.engine, wasm)
            .map_err(|e| SandboxError::InvalidModule(format!("{e:#}")))?;
        let mut cache = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MODULE_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, module.clone());
        Ok(module)
    }

    /// Modules in the compiled-module cache.
    pub fn cached_modules(&self) -> usize {
        self.modules.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs a fresh instance over `bars`, in batches of [`BATCH_BARS`] (one call into the module
    /// per batch; the module takes the batch's bars one at a time from the host, see
    /// [`LiveRun::feed`]). The wall-clock deadline covers the whole run.
    ///
    /// # Errors
    /// [`SandboxError`] when the module cannot start; a trap during the bars ends the run and
    /// is reported in [`RunOutput::trap`].
    pub fn run(
        &self,
        strategy: &LoadedStrategy,
        bars: &[SandboxBar],
        limits: &SandboxLimits,
        risk: &RiskLimits,
    ) -> Result<RunOutput, SandboxError> {
        self.run_with_funding(strategy, bars, limits, risk, Vec::new())
    }

    /// As [`Sandbox::run`], each leg given its funding rates ([`LiveRun::with_funding`]).
    ///
    /// # Errors
    /// As [`Sandbox::run`].
    pub fn run_with_funding(
        &self,
        strategy: &LoadedStrategy,
        bars: &[SandboxBar],
        limits: &SandboxLimits,
        risk: &RiskLimits,
        funding: Vec<Vec<crate::bars::funding::FundingRate>>,
    ) -> Result<RunOutput, SandboxError> {
        let mut live = self
            .start(strategy, limits, risk, Deadline::WholeRun)?
            .with_funding(funding);
        live.feed_all(bars);
        Ok(live.finish())
    }

    /// The series a strategy trades (its `Strategy::LEGS`; 1 for a module without the export),
    /// read from a fresh instance.
    ///
    /// # Errors
    /// [`SandboxError`] when the module cannot start.
    pub fn legs(&self, strategy: &LoadedStrategy) -> Result<usize, SandboxError> {
        let mut risk = RiskLimits::default();
        loop {
            match self.start(
                strategy,
                &SandboxLimits::default(),
                &risk,
                Deadline::WholeRun,
            ) {
                Ok(_) => return Ok(risk.legs),
                Err(SandboxError::Legs { strategy, .. })
                    if strategy >= 1 && strategy != risk.legs =>
                {
                    risk.legs = strategy;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a fresh instance (instantiated and initialised) to be fed one bar at a time.
    ///
    /// # Errors
    /// [`SandboxError`] when the module cannot start.
    pub fn start(
        &self,
        strategy: &LoadedStrategy,
        limits: &SandboxLimits,
        risk: &RiskLimits,
        deadline: Deadline,
    ) -> Result<LiveRun, SandboxError> {
        let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        let state = HostState {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(1)
                .memories(1)
                .tables(4)
                .trap_on_grow_failure(true)
                .build(),
            risk: *risk,
            sandbox: *limits,
            bar: 0,
            price: 0.0,
            leg_prices: vec![0.0; risk.legs.max(1)],
            time: i64::MIN,
            funding: Vec::new(),
            orders: Vec::new(),
            refused_orders: 0,
            gated_orders: 0,
            logs: Vec::new(),
            panic_message: None,
            calls: 0,
            bar_orders: 0,
            bar_log_calls: 0,
            bar_log_bytes: 0,
            run_log_bytes: 0,
            queue: Vec::new(),
            cursor: 0,
            fed: 0,
            batch_from: 0,
            batch_len: 0,
            reached: 0,
            handed_at: None,
            fuel_given: 0,
            strategy_errors: 0,
            fuel_used: 0,
            per_bar_ticks: (deadline == Deadline::PerBar).then_some(ticks),
            memory: None,
            // One book of one series: a strategy over several reads no account (yet).
            book: (strategy.reads_account && risk.legs <= 1)
                .then(|| Book::new(risk.capital, risk.costs)),
            book_from: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let setup = |e: wasmtime::Error| SandboxError::Setup(e.to_string());
        store.set_fuel(limits.init_fuel).map_err(setup)?;
        let start = |store: &mut Store<HostState>, e: wasmtime::Error| {
            SandboxError::Start(classify(&e, store.data().panic_message.clone()))
        };
        let instance = match strategy.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(start(&mut store, e)),
        };
        let init = instance
            .get_typed_func::<(), i32>(&mut store, "stratagem_init")
            .map_err(|_| SandboxError::MissingExport("stratagem_init"))?;
        let run = instance
            .get_typed_func::<(), i32>(&mut store, "stratagem_run")
            .map_err(|_| SandboxError::MissingExport("stratagem_run"))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or(SandboxError::MissingExport("memory"))?;
        store.data_mut().memory = Some(memory);
        if let Err(e) = init.call(&mut store, ()) {
            return Err(start(&mut store, e));
        }
        // The series it trades must be the series given (interleaved by the caller).
        let legs = match instance.get_typed_func::<(), i32>(&mut store, "stratagem_legs") {
            Ok(f) => match f.call(&mut store, ()) {
                Ok(n) => usize::try_from(n).unwrap_or(0),
                Err(e) => return Err(start(&mut store, e)),
            },
            Err(_) => 1,
        };
        if legs != risk.legs.max(1) {
            return Err(SandboxError::Legs {
                strategy: legs,
                given: risk.legs.max(1),
            });
        }
        store.data_mut().fuel_used = limits.init_fuel - store.get_fuel().unwrap_or(0);
        Ok(LiveRun {
            store,
            run,
            limits: *limits,
            trap: None,
        })
    }
}

/// wasmtime's module cache in `dir`, made private to this user first.
fn native_cache(dir: &std::path::Path) -> Result<wasmtime::Cache, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(dir);
    wasmtime::Cache::new(config).map_err(|e| format!("{e:#}"))
}

/// What the wall-clock deadline of a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The whole run (validation and backtests).
    WholeRun,
    /// Each bar's call (paper trading, which lasts hours of real time).
    PerBar,
}

/// An instance being fed bars.
pub struct LiveRun {
    store: Store<HostState>,
    run: wasmtime::TypedFunc<(), i32>,
    limits: SandboxLimits,
    trap: Option<SandboxTrap>,
}

impl LiveRun {
    /// Gives the strategy each leg's funding rates (`Market::funding_rate` in the SDK): at a
    /// bar, the latest rate whose funding time it has reached.
    pub fn with_funding(mut self, funding: Vec<Vec<crate::bars::funding::FundingRate>>) -> LiveRun {
        self.store.data_mut().funding = funding;
        self
    }

    /// Feeds one bar; returns the orders the host accepted during it.
    ///
    /// # Errors
    /// The trap that stopped the strategy; it stays stopped.
    pub fn step(&mut self, bar: &SandboxBar) -> Result<Vec<HostOrder>, SandboxTrap> {
        let before = self.store.data().orders.len();
        self.feed(std::slice::from_ref(bar))?;
        Ok(self.store.data().orders[before..].to_vec())
    }

    /// Feeds bars in one call into the module. The module asks the host for them in batches
    /// (`bars`: up to 256 written into its memory at once, not one host call per bar); its SDK
    /// hands them to the strategy one at a time and counts them where the host can read, so
    /// every host call (order, size, gate, account, log) is answered at the newest bar the
    /// strategy has seen, each bar's host-call counts start when the strategy reaches it, and
    /// the account steps bar by bar. A bar still in the buffer is one the strategy has not
    /// reached: the SDK shows none early, and taking one early only moves the strategy's orders
    /// to it. Each batch gets the fuel of its bars pooled (and, per-bar deadline, their
    /// wall-clock budget).
    ///
    /// # Errors
    /// The trap that stopped the strategy; it stays stopped.
    pub fn feed(&mut self, bars: &[SandboxBar]) -> Result<(), SandboxTrap> {
        if let Some(trap) = &self.trap {
            return Err(trap.clone());
        }
        {
            let s = self.store.data_mut();
            s.queue.clear();
            s.queue.extend_from_slice(bars);
            s.cursor = 0;
        }
        if let Some(ticks) = self.store.data().per_bar_ticks {
            self.store.set_epoch_deadline(ticks);
        }
        // The glue's own few instructions before the first bar and after the last.
        if let Err(e) = self.store.set_fuel(self.limits.fuel_per_bar) {
            let trap = SandboxTrap::Other(e.to_string());
            self.trap = Some(trap.clone());
            return Err(trap);
        }
        self.store.data_mut().fuel_given = self.limits.fuel_per_bar;
        let result = self.run.call(&mut self.store, ());
        let left = self.store.get_fuel().unwrap_or(0);
        // Where the strategy got to (a trap may stop it inside a batch): the bars it was
        // handed are reached, and the fuel spent since the last count is counted.
        let handed = match (self.store.data().handed_at, self.store.data().memory) {
            (Some(at), Some(memory)) => {
                let mut word = [0u8; 4];
                memory
                    .read(&self.store, at, &mut word)
                    .map(|()| u32::from_le_bytes(word) as usize)
                    .ok()
            }
            _ => None,
        };
        let s = self.store.data_mut();
        if let Some(handed) = handed {
            s.reach(handed);
        }
        s.fuel_used += s.fuel_given.saturating_sub(left);
        s.fuel_given = 0;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let trap = classify(&e, self.store.data().panic_message.clone());
                self.trap = Some(trap.clone());
                Err(trap)
            }
        }
    }

    /// Feeds `bars` in batches of [`BATCH_BARS`] until they end or the strategy traps (the
    /// trap is then in [`RunOutput::trap`]).
    pub fn feed_all(&mut self, bars: &[SandboxBar]) {
        for batch in bars.chunks(BATCH_BARS) {
            if self.feed(batch).is_err() {
                break;
            }
        }
    }

    /// Starts the account the strategy reads afresh (flat, with the capital) from the next bar:
    /// after a warm-up, the account is that of the window simulated, whose first order is the
    /// one placed during its first bar.
    pub fn open_account(&mut self) {
        let s = self.store.data_mut();
        if let Some(book) = s.book.as_mut() {
            *book = Book::new(s.risk.capital, s.risk.costs);
            s.book_from = s.orders.len();
        }
    }

    /// Bars fed so far.
    pub fn bars(&self) -> usize {
        self.store.data().fed
    }

    /// Ends the run.
    pub fn finish(self) -> RunOutput {
        let trap = self.trap;
        let state = self.store.into_data();
        RunOutput {
            bars: state.fed,
            orders: state.orders,
            refused_orders: state.refused_orders,
            gated_orders: state.gated_orders,
            strategy_errors: state.strategy_errors,
            logs: state.logs,
            fuel_used: state.fuel_used,
            trap,
        }
    }
}

fn classify(error: &wasmtime::Error, panic_message: Option<String>) -> SandboxTrap {
    if let Some(limit) = error.downcast_ref::<HostLimit>() {
        return SandboxTrap::HostLimit(*limit);
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => SandboxTrap::OutOfFuel,
            Trap::Interrupt => SandboxTrap::Timeout,
            Trap::StackOverflow => SandboxTrap::StackOverflow,
            // Rust on wasm32 keeps large frames on a shadow stack in linear memory, growing down
            // from 1 MiB. Safe code (strategies are compiled with `-F unsafe_code`) cannot
            // access memory out of bounds without panicking first, so this trap can only be that
            // shadow stack running past address 0.
            Trap::MemoryOutOfBounds => SandboxTrap::StackOverflow,
            Trap::UnreachableCodeReached => {
                SandboxTrap::Panic(panic_message.unwrap_or_else(|| "abort".into()))
            }
            other => SandboxTrap::Other(other.to_string()),
        };
    }
    let text = format!("{error:#}");
    if text.contains("forcing trap when growing memory") {
        SandboxTrap::MemoryLimit
    } else {
        SandboxTrap::Other(text.chars().take(200).collect())
    }
}

/// The host's gate: a confidence that is a number in [min_confidence, 1].
fn passes_gate(risk: &RiskLimits, confidence: f64) -> bool {
    confidence.is_finite() && confidence >= risk.min_confidence && confidence <= 1.0
}

/// The host's size for a confidence at a price: the allotted share of capital, scaled by the
/// confidence, in units of the base asset (0 for anything not a number or not positive).
fn sized(risk: &RiskLimits, confidence: f64, price: f64) -> f64 {
    if !(confidence.is_finite() && price.is_finite() && price > 0.0) {
        return 0.0;
    }
    risk.capital * risk.max_position_fraction * confidence.clamp(0.0, 1.0) / price
}

/// An order as the strategy asked for it (NaN: no price, no stop-loss, no take-profit).
struct Asked {
    leg: i32,
    kind: i32,
    direction: i32,
    quantity: f64,
    price: f64,
    stop_loss: f64,
    take_profit: f64,
    confidence: f64,
}

/// An optional positive price: NaN is none; anything else not positive and finite is refused.
fn optional_price(p: f64) -> Result<Option<f64>, ()> {
    if p.is_nan() {
        Ok(None)
    } else if p.is_finite() && p > 0.0 {
        Ok(Some(p))
    } else {
        Err(())
    }
}

/// The host's checks of an order, then its record: refused (-1) when malformed, gated (-2)
/// when its confidence is below the gate, otherwise accepted (0) with the host's size.
fn accept_order(s: &mut HostState, asked: Asked) -> wasmtime::Result<i32> {
    s.call()?;
    s.bar_orders += 1;
    if s.bar_orders > s.sandbox.max_orders_per_bar {
        return Err(wasmtime::Error::new(HostLimit::Orders(
            s.sandbox.max_orders_per_bar,
        )));
    }
    let bar = s.bar;
    let Some(kind) = OrderKind::from_code(asked.kind) else {
        s.refused_orders += 1;
        return Ok(-1);
    };
    // A leg the strategy does not trade is refused.
    let Some(leg) = usize::try_from(asked.leg)
        .ok()
        .filter(|l| *l < s.leg_prices.len())
    else {
        s.refused_orders += 1;
        return Ok(-1);
    };
    if kind == OrderKind::Cancel {
        s.orders.push(HostOrder {
            kind,
            leg,
            ..HostOrder::market(bar, 0, 0.0)
        });
        return Ok(0);
    }
    let (direction, quantity) = (asked.direction, asked.quantity);
    let price = match kind {
        OrderKind::Limit | OrderKind::Stop => optional_price(asked.price).ok().flatten(),
        _ => Some(0.0),
    };
    let (stop_loss, take_profit) = (
        optional_price(asked.stop_loss),
        optional_price(asked.take_profit),
    );
    // A bracket is on the side of the position: a long's stop below its take-profit, a short's
    // above; a flat order has none.
    let bracket_fits = match (stop_loss, take_profit) {
        (Ok(None), Ok(None)) => true,
        (Ok(sl), Ok(tp)) => {
            direction != 0
                && match (sl, tp) {
                    (Some(sl), Some(tp)) => (f64::from(direction) * (tp - sl)) > 0.0,
                    _ => true,
                }
        }
        _ => false,
    };
    if !(-1..=1).contains(&direction)
        || !quantity.is_finite()
        || quantity < 0.0
        || price.is_none()
        || !bracket_fits
    {
        s.refused_orders += 1;
        return Ok(-1);
    }
    // The gate is the host's: an order to hold a position whose confidence is below it is
    // refused, whatever the strategy's own code checked.
    if direction != 0 && !passes_gate(&s.risk, asked.confidence) {
        s.gated_orders += 1;
        return Ok(-2);
    }
    // The size is the host's too: at most what it sizes for this confidence at the current
    // price, whatever the strategy asked.
    let most = if direction == 0 {
        0.0
    } else {
        sized(&s.risk, asked.confidence, s.leg_prices[leg])
    };
    let quantity = if direction == 0 { 0.0 } else { quantity };
    s.orders.push(HostOrder {
        bar,
        direction,
        quantity: quantity.min(most),
        clamped: quantity > most,
        kind,
        price: price.unwrap_or(0.0),
        stop_loss: stop_loss.ok().flatten(),
        take_profit: take_profit.ok().flatten(),
        leg,
    });
    Ok(0)
}

/// Bytes of one bar in the module's memory: time, open, high, low, close, volume, leg.
const BAR_BYTES: usize = 56;

/// Bars one request of the SDK may take (its buffer holds 256).
const MAX_FEED_BARS: usize = 4096;

/// Reaches every bar the SDK has handed to the strategy (its count, read from the module's
/// memory where the SDK said it keeps it), so a host call is answered at the newest bar the
/// strategy has seen.
fn reach_handed(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<()> {
    let (Some(at), Some(memory)) = (caller.data().handed_at, caller.data().memory) else {
        return Ok(());
    };
    let mut word = [0u8; 4];
    memory.read(&*caller, at, &mut word)?;
    caller.data_mut().reach(u32::from_le_bytes(word) as usize);
    Ok(())
}

fn host_linker(engine: &Engine) -> Result<Linker<HostState>, SandboxError> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    let err = |e: wasmtime::Error| SandboxError::Setup(e.to_string());
    linker
        .func_wrap(
            HOST_MODULE,
            "gate",
            |mut caller: Caller<'_, HostState>, confidence: f64| -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                let s = caller.data_mut();
                s.call()?;
                Ok(i32::from(passes_gate(&s.risk, confidence)))
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "size",
            |mut caller: Caller<'_, HostState>,
             confidence: f64,
             price: f64|
             -> wasmtime::Result<f64> {
                reach_handed(&mut caller)?;
                let s = caller.data_mut();
                s.call()?;
                Ok(sized(&s.risk, confidence, price))
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "order",
            |mut caller: Caller<'_, HostState>,
             leg: i32,
             direction: i32,
             quantity: f64,
             confidence: f64|
             -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                // A market order without a bracket: `place` with no prices.
                let asked = Asked {
                    leg,
                    kind: 0,
                    direction,
                    quantity,
                    price: f64::NAN,
                    stop_loss: f64::NAN,
                    take_profit: f64::NAN,
                    confidence,
                };
                accept_order(caller.data_mut(), asked)
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "place",
            |mut caller: Caller<'_, HostState>,
             leg: i32,
             kind: i32,
             direction: i32,
             quantity: f64,
             price: f64,
             stop_loss: f64,
             take_profit: f64,
             confidence: f64|
             -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                let asked = Asked {
                    leg,
                    kind,
                    direction,
                    quantity,
                    price,
                    stop_loss,
                    take_profit,
                    confidence,
                };
                accept_order(caller.data_mut(), asked)
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "funding",
            |mut caller: Caller<'_, HostState>, leg: i32| -> wasmtime::Result<f64> {
                reach_handed(&mut caller)?;
                let s = caller.data_mut();
                s.call()?;
                // The latest rate whose funding time the newest bar has reached: never one of
                // a time still ahead.
                let rates = usize::try_from(leg)
                    .ok()
                    .and_then(|l| s.funding.get(l))
                    .map_or(&[][..], Vec::as_slice);
                let known = rates.partition_point(|r| r.time <= s.time);
                Ok(known.checked_sub(1).map_or(f64::NAN, |i| rates[i].rate))
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "account",
            |mut caller: Caller<'_, HostState>, out: i32| -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                let s = caller.data_mut();
                s.call()?;
                let view = match &s.book {
                    Some(book) => book.view(),
                    None => return Ok(0),
                };
                let mut bytes = [0u8; 32];
                for (slot, word) in bytes.chunks_exact_mut(8).zip([
                    view.position,
                    view.average_price,
                    view.equity,
                    view.cash,
                ]) {
                    slot.copy_from_slice(&word.to_bits().to_le_bytes());
                }
                let Some(memory) = s.memory else {
                    return Err(wasmtime::Error::msg("the module has no memory"));
                };
                memory.write(
                    &mut caller,
                    usize::try_from(out as u32).unwrap_or(usize::MAX),
                    &bytes,
                )?;
                Ok(1)
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "bars",
            |mut caller: Caller<'_, HostState>,
             out: i32,
             max: i32,
             errors: i32,
             handed: i32|
             -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                let left = caller.get_fuel()?;
                let per_bar = caller.data().sandbox.fuel_per_bar;
                let Some(memory) = caller.data().memory else {
                    return Err(wasmtime::Error::msg("the module has no memory"));
                };
                let (out, handed) = (out as u32 as usize, handed as u32 as usize);
                let size = memory.data_size(&caller);
                if handed.checked_add(4).is_none_or(|end| end > size) {
                    return Err(wasmtime::Error::msg(
                        "the bar counter is outside the module's memory",
                    ));
                }
                let s = caller.data_mut();
                s.fuel_used += s.fuel_given.saturating_sub(left);
                s.strategy_errors += errors.max(0) as usize;
                let n = (max.max(0) as usize)
                    .min(MAX_FEED_BARS)
                    .min(s.queue.len() - s.cursor);
                s.batch_from = s.cursor;
                s.batch_len = n;
                s.reached = 0;
                s.handed_at = Some(handed);
                s.cursor += n;
                let ticks = s.per_bar_ticks;
                let (from, fuel) = (s.batch_from, per_bar.saturating_mul(n.max(1) as u64));
                s.fuel_given = fuel;
                if n > 0 {
                    let end = out
                        .checked_add(n * BAR_BYTES)
                        .filter(|end| *end <= size)
                        .ok_or_else(|| {
                            wasmtime::Error::msg("the bars' buffer is outside the module's memory")
                        })?;
                    let (bytes, state) = memory.data_and_store_mut(&mut caller);
                    let legs = state.leg_prices.len().max(1);
                    for (i, (slot, bar)) in bytes[out..end]
                        .chunks_exact_mut(BAR_BYTES)
                        .zip(&state.queue[from..from + n])
                        .enumerate()
                    {
                        // The leg: the bar's place in the run (every bar before the batch is
                        // reached by now: `fed` of them).
                        let leg = ((state.fed + i) % legs) as u64;
                        for (word, value) in slot.chunks_exact_mut(8).zip([
                            bar.timestamp as u64,
                            bar.open.to_bits(),
                            bar.high.to_bits(),
                            bar.low.to_bits(),
                            bar.close.to_bits(),
                            bar.volume.to_bits(),
                            leg,
                        ]) {
                            word.copy_from_slice(&value.to_le_bytes());
                        }
                    }
                }
                caller.set_fuel(fuel)?;
                if let Some(ticks) = ticks {
                    caller
                        .as_context_mut()
                        .set_epoch_deadline(ticks.saturating_mul(n.max(1) as u64));
                }
                Ok(n as i32)
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            HOST_MODULE,
            "log",
            |mut caller: Caller<'_, HostState>,
             level: i32,
             ptr: i32,
             len: i32|
             -> wasmtime::Result<i32> {
                reach_handed(&mut caller)?;
                let asked = u64::from(len as u32);
                {
                    let s = caller.data_mut();
                    // A panic's message is its last word: never refused.
                    if level != 4 {
                        s.call()?;
                        s.bar_log_calls += 1;
                        s.bar_log_bytes += asked;
                        s.run_log_bytes += asked;
                        let limits = s.sandbox;
                        if s.bar_log_calls > limits.max_log_calls_per_bar {
                            return Err(wasmtime::Error::new(HostLimit::LogCalls(
                                limits.max_log_calls_per_bar,
                            )));
                        }
                        if s.bar_log_bytes > limits.max_log_bytes_per_bar {
                            return Err(wasmtime::Error::new(HostLimit::LogBytesPerBar(
                                limits.max_log_bytes_per_bar,
                            )));
                        }
                        if s.run_log_bytes > limits.max_log_bytes_per_run {
                            return Err(wasmtime::Error::new(HostLimit::LogBytesPerRun(
                                limits.max_log_bytes_per_run,
                            )));
                        }
                    }
                }
                // Past the lines kept, a line is counted and not read (a panic's always is);
                // the answer 0 tells the SDK to stop formatting lines.
                if level != 4 && caller.data().logs.len() >= caller.data().sandbox.max_log_lines {
                    return Ok(0);
                }
                let max_line = caller.data().sandbox.max_log_line;
                let take = usize::try_from(len as u32).unwrap_or(0).min(max_line);
                let mut buf = vec![0u8; take];
                let read = match caller.data().memory {
                    Some(memory) => memory
                        .read(
                            &caller,
                            usize::try_from(ptr as u32).unwrap_or(usize::MAX),
                            &mut buf,
                        )
                        .is_ok(),
                    None => false,
                };
                // The strategy's words: made printable here, so no control sequence reaches a
                // finding, an event, a terminal or Slack (nothing is lost: each is an escape).
                let text = if read {
                    stratagem_events::text::printable(&String::from_utf8_lossy(&buf)).into_owned()
                } else {
                    "<unreadable log message>".into()
                };
                let s = caller.data_mut();
                if level == 4 {
                    s.panic_message = Some(text.clone());
                }
                if s.logs.len() < s.sandbox.max_log_lines {
                    let name = match level {
                        0 => "debug",
                        1 => "info",
                        2 => "warn",
                        3 => "error",
                        4 => "panic",
                        _ => "log",
                    };
                    s.logs.push(format!("{name}: {text}"));
                }
                Ok(i32::from(s.logs.len() < s.sandbox.max_log_lines))
            },
        )
        .map_err(err)?;
    Ok(linker)
}
