//! Layer 6: compile to wasm32 with rustc ([`compile`]) and run in wasmtime ([`runtime`]), over
//! real bars, twice, requiring identical orders.

pub mod compile;
pub mod runtime;

use std::path::PathBuf;
use std::time::Instant;

use compile::{CompileError, CompileLimits, Compiler, Toolchain};
use runtime::{RiskLimits, Sandbox, SandboxBar, SandboxError, SandboxLimits, SandboxTrap};

use super::{Finding, Layer, LayerReport};

/// The funding rate a strategy that reads funding is validated with: Binance's interest
/// component, 0.01 % an 8-hour interval (the rate when the perpetual trades at its index).
pub const NEUTRAL_FUNDING_RATE: f64 = 0.0001;

/// Most series a strategy may trade.
pub const MAX_LEGS: usize = 4;

/// The finding code of a trap: a host limit has its own.
/// The finding of a module that did not start: its trap's code when it trapped starting,
/// else a module error.
fn not_started(e: SandboxError) -> Finding {
    match e {
        SandboxError::Start(trap) => {
            Finding::at(0, trap_code(&trap), format!("while starting: {trap}"))
        }
        e => Finding::at(0, "sandbox.module", e.to_string()),
    }
}

fn trap_code(trap: &SandboxTrap) -> &'static str {
    match trap {
        SandboxTrap::HostLimit(_) => "sandbox.host_limit",
        _ => "sandbox.trap",
    }
}

/// Layer 6, ready to run: a compiler with its SDK cache and a sandbox engine.
pub struct SandboxLayer {
    compiler: Compiler,
    sandbox: Sandbox,
    limits: SandboxLimits,
    risk: RiskLimits,
}

impl SandboxLayer {
    /// Detects the toolchain and sets up the engine.
    ///
    /// # Errors
    /// [`CompileError::MissingTarget`] (with the exact `rustup` command), no rustc, or an
    /// engine that cannot start (as [`CompileError::NoToolchain`]).
    pub fn new(
        cache_dir: impl Into<PathBuf>,
        compile_limits: CompileLimits,
        limits: SandboxLimits,
        risk: RiskLimits,
    ) -> Result<SandboxLayer, CompileError> {
        let compiler = Compiler::new(Toolchain::detect()?, cache_dir, compile_limits);
        SandboxLayer::with_compiler(compiler, limits, risk)
    }

    /// Layer 6 with a compiler of the caller's (a benchmark compares jailed and unjailed).
    ///
    /// # Errors
    /// An engine that cannot start (as [`CompileError::NoToolchain`]).
    pub fn with_compiler(
        compiler: Compiler,
        limits: SandboxLimits,
        risk: RiskLimits,
    ) -> Result<SandboxLayer, CompileError> {
        let sandbox = Sandbox::cached(&compiler.cache_dir().join("native"))
            .map_err(|e| CompileError::NoToolchain(e.to_string()))?;
        Ok(SandboxLayer {
            compiler,
            sandbox,
            limits,
            risk,
        })
    }

    /// The compiler (for benchmarks and the SDK cache).
    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// The engine strategies run in, with the modules it has compiled (a stage run after the
    /// validation loads the same module without compiling it again).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Compiles `source`, runs it over `bars` twice in fresh instances, and compares.
    ///
    /// # Errors
    /// Only problems of this machine (toolchain, files); everything the strategy does wrong is
    /// a finding in the report.
    pub fn check(
        &self,
        source: &str,
        strategy_type: &str,
        bars: &[SandboxBar],
    ) -> Result<LayerReport, CompileError> {
        let started = Instant::now();
        let compiled = self.compiler.compile(source, strategy_type);
        self.check_compiled(compiled, started, bars)
    }

    /// Layer 6 after the compile (`compiled`, begun at `started`): the module loaded, then two
    /// runs over the bars.
    ///
    /// # Errors
    /// As [`SandboxLayer::check`].
    pub fn check_compiled(
        &self,
        compiled: Result<Vec<u8>, CompileError>,
        started: Instant,
        bars: &[SandboxBar],
    ) -> Result<LayerReport, CompileError> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let report = |errors, warnings| {
            LayerReport {
                layer: Layer::Sandbox,
                errors,
                warnings,
                duration: started.elapsed(),
            }
            .normalise()
        };
        let wasm = match compiled {
            Ok(wasm) => wasm,
            Err(CompileError::Rejected(diags)) => {
                for d in diags {
                    let mut what = d
                        .code
                        .map_or_else(|| "rustc error".to_string(), |c| format!("rustc error {c}"));
                    if let Some(m) = d.message {
                        what = format!("{what}: {m}");
                    }
                    errors.push(Finding::at(
                        d.line.unwrap_or(0) as usize,
                        "sandbox.compile",
                        what,
                    ));
                }
                return Ok(report(errors, warnings));
            }
            Err(
                e @ (CompileError::Timeout(_)
                | CompileError::Killed
                | CompileError::BadStrategyType(_)),
            ) => {
                errors.push(Finding::at(0, "sandbox.compile", e.to_string()));
                return Ok(report(errors, warnings));
            }
            Err(e) => return Err(e),
        };
        let loaded = match self.sandbox.load(&wasm) {
            Ok(l) => l,
            Err(e) => {
                errors.push(Finding::at(0, "sandbox.module", e.to_string()));
                return Ok(report(errors, warnings));
            }
        };
        // A strategy over several series runs over as many real series, aligned by time.
        let legs = match self.sandbox.legs(&loaded) {
            Ok(n) if (1..=MAX_LEGS).contains(&n) => n,
            Ok(n) => {
                errors.push(Finding::at(
                    0,
                    "sandbox.legs",
                    format!("the strategy trades {n} series (Strategy::LEGS); from 1 to {MAX_LEGS} can run"),
                ));
                return Ok(report(errors, warnings));
            }
            // A strategy that cannot start is reported as the runs report it.
            Err(e) => {
                errors.push(not_started(e));
                return Ok(report(errors, warnings));
            }
        };
        let interleaved;
        let bars = if legs > 1 {
            interleaved =
                crate::stages::legs::validation_legs(bars, crate::market::embedded_hourly(), legs);
            &interleaved[..]
        } else {
            bars
        };
        let risk = RiskLimits { legs, ..self.risk };
        // A strategy reading funding rates gets, on its first leg, the venue's neutral rate
        // (Binance's interest component: 0.01 % every 8 hours) at each 8-hour mark of the
        // validation bars: what runs is its code, not a claim about any market's funding.
        let funding = if loaded.reads_funding() {
            let marks: Vec<crate::bars::funding::FundingRate> = bars
                .iter()
                .map(|b| b.timestamp)
                .filter(|t| t.rem_euclid(8 * 3600) == 0)
                .collect::<std::collections::BTreeSet<i64>>()
                .into_iter()
                .map(|time| crate::bars::funding::FundingRate {
                    time,
                    rate: NEUTRAL_FUNDING_RATE,
                })
                .collect();
            vec![marks]
        } else {
            Vec::new()
        };
        // One deadline for both runs: the second gets what the first left, and never follows
        // a trap.
        let deadline = Instant::now() + self.limits.timeout;
        let mut runs: Vec<runtime::RunOutput> = Vec::new();
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                errors.push(Finding::at(
                    0,
                    "sandbox.trap",
                    format!(
                        "wall-clock timeout: both runs must end within {:?}",
                        self.limits.timeout
                    ),
                ));
                return Ok(report(errors, warnings));
            }
            let limits = SandboxLimits {
                timeout: left,
                ..self.limits
            };
            let out =
                match self
                    .sandbox
                    .run_with_funding(&loaded, bars, &limits, &risk, funding.clone())
                {
                    Ok(out) => out,
                    Err(e) => {
                        errors.push(not_started(e));
                        return Ok(report(errors, warnings));
                    }
                };
            if let Some(trap) = &out.trap {
                errors.push(Finding::at(
                    0,
                    trap_code(trap),
                    format!("{trap} at bar {} of {}", out.bars, bars.len()),
                ));
                return Ok(report(errors, warnings));
            }
            runs.push(out);
        }
        let (first, second) = (&runs[0], &runs[1]);
        if first.orders != second.orders
            || first.strategy_errors != second.strategy_errors
            || first.gated_orders != second.gated_orders
        {
            errors.push(Finding::at(
                0,
                "sandbox.nondeterministic",
                "two runs over the same bars gave different orders",
            ));
        }
        if first.strategy_errors > 0 {
            warnings.push(Finding::at(
                0,
                "sandbox.strategy_errors",
                format!(
                    "the strategy returned errors on {} of {} bars",
                    first.strategy_errors, first.bars
                ),
            ));
        }
        if first.refused_orders > 0 {
            warnings.push(Finding::at(
                0,
                "sandbox.refused_orders",
                format!("the host refused {} malformed orders", first.refused_orders),
            ));
        }
        // The gate is the host's; a strategy whose orders it had to refuse skipped it (a
        // `Signal` literal skips `Signal::new`'s clamp, a gate call can sit in dead code).
        if first.gated_orders > 0 {
            errors.push(Finding::at(
                0,
                "sandbox.gate",
                format!(
                    "the host refused {} orders whose confidence was below its gate",
                    first.gated_orders
                ),
            ));
        }
        // The orders it placed, filled as a backtest would fill them: figures too good to believe
        // are a look-ahead to check (a table of the future written into the code).
        if errors.is_empty() && !first.orders.is_empty() {
            let ran = &bars[..first.bars.min(bars.len())];
            let unit_costs = crate::stages::backtest::CostModel {
                sizing: crate::stages::backtest::Sizing::Units,
                ..crate::stages::backtest::CostModel::default()
            };
            let steps: Vec<SandboxBar> = ran.iter().step_by(legs).copied().collect();
            let bars_per_year = crate::market::bars_per_year(&steps);
            let metrics = if legs > 1 {
                let per_leg: Vec<Vec<SandboxBar>> = (0..legs)
                    .map(|k| ran.iter().skip(k).step_by(legs).copied().collect())
                    .collect();
                let aligned = crate::stages::legs::Aligned {
                    legs: per_leg,
                    dropped: vec![0; legs],
                };
                crate::stages::legs::simulate_legs(
                    &aligned,
                    &first.orders,
                    steps.len(),
                    self.risk.capital * legs as f64,
                    unit_costs,
                    bars_per_year,
                    1,
                )
                .metrics
            } else {
                crate::stages::backtest::simulate(
                    ran,
                    &first.orders,
                    self.risk.capital,
                    unit_costs,
                    bars_per_year,
                    1,
                )
                .metrics
            };
            if let Some(why) = crate::stages::metrics::implausible(&metrics, bars_per_year) {
                warnings.push(Finding::at(0, "sandbox.implausible", why));
            }
        }
        if errors.is_empty() && first.orders.is_empty() {
            warnings.push(Finding::at(
                0,
                "sandbox.no_orders",
                format!("no order over {} bars", bars.len()),
            ));
        }
        Ok(report(errors, warnings))
    }
}
