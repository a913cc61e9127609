//! Layer 6 with the real components: rustc compiling to wasm32, wasmtime running the module
//! over real bars, and each runtime attack stopped and named.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stratagem_actors::validator::sandbox::compile::{
    CompileError, CompileLimits, Compiler, Toolchain,
};
use stratagem_actors::validator::sandbox::runtime::{
    HostLimit, RiskLimits, Sandbox, SandboxBar, SandboxError, SandboxLimits, SandboxTrap,
};

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| {
        let toolchain = Toolchain::detect().expect("rustc with the wasm32 target");
        Compiler::new(
            toolchain,
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strategy-cache"),
            CompileLimits::default(),
        )
    })
}

/// The first `n` real hourly Coinbase BTC/USD bars of `data/`.
fn real_bars(n: usize) -> Vec<SandboxBar> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |k: usize| f[k].parse::<f64>().unwrap();
            SandboxBar {
                timestamp: 1_498_906_800 + 3600 * i as i64,
                open: num(1),
                high: num(2),
                low: num(3),
                close: num(4),
                volume: num(5),
            }
        })
        .collect()
}

fn clean_source() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/strategies/clean_momentum.rs"),
    )
    .unwrap()
}

/// A strategy whose `should_trade` body is `body` (and whose state is a counter).
fn strategy_with(body: &str) -> String {
    format!(
        "use stratagem_sdk::prelude::*;\npub struct HostileStrategy {{ n: u64 }}\nimpl Strategy for HostileStrategy {{\n    fn new() -> Self {{ HostileStrategy {{ n: 0 }} }}\n    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {{\n        self.n += 1;\n        {body}\n    }}\n    fn execute(&mut self, _s: Signal, _b: &Bar) -> Result<Option<Order>, StrategyError> {{ Ok(None) }}\n}}\n"
    )
}

fn run_hostile(body: &str, limits: &SandboxLimits) -> SandboxTrap {
    let wasm = compiler()
        .compile(&strategy_with(body), "HostileStrategy")
        .unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let output = sandbox
        .run(&loaded, &real_bars(50), limits, &RiskLimits::default())
        .unwrap();
    output.trap.expect("the run must be stopped")
}

#[test]
fn a_clean_strategy_runs_deterministically_over_real_bars() {
    let wasm = compiler()
        .compile(&clean_source(), "CleanMomentumStrategy")
        .unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let bars = real_bars(2000);
    let limits = SandboxLimits::default();
    let first = sandbox
        .run(&loaded, &bars, &limits, &RiskLimits::default())
        .unwrap();
    let second = sandbox
        .run(&loaded, &bars, &limits, &RiskLimits::default())
        .unwrap();
    assert_eq!(first.trap, None);
    assert_eq!(first.bars, 2000);
    assert!(
        !first.orders.is_empty(),
        "a 24-bar momentum strategy trades over 2,000 hours"
    );
    assert_eq!(first, second, "same bars in, same orders out");
    // Loading the same bytes again reuses the compiled module.
    sandbox.load(&wasm).unwrap();
    assert_eq!(sandbox.cached_modules(), 1);
    assert!(
        first
            .logs
            .iter()
            .any(|l| l.starts_with("info: long signal")),
        "logs reach the host"
    );
    // The host sized every order within its limits.
    for order in &first.orders {
        let price = bars[order.bar].close;
        assert!(
            order.quantity * price <= RiskLimits::default().capital * 1.000_001,
            "{order:?}"
        );
    }
}

#[test]
fn the_host_clamps_orders_whatever_the_strategy_asks() {
    let source = strategy_with("let _ = bar; Ok(Some(Signal::new(Direction::Long, 1.0)))").replace(
        "fn execute(&mut self, _s: Signal, _b: &Bar) -> Result<Option<Order>, StrategyError> { Ok(None) }",
        "fn execute(&mut self, s: Signal, _b: &Bar) -> Result<Option<Order>, StrategyError> { Ok(Some(Order::market(s.direction, 1.0e12))) }",
    );
    let wasm = compiler().compile(&source, "HostileStrategy").unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let risk = RiskLimits {
        capital: 10_000.0,
        max_position_fraction: 0.1,
        min_confidence: 0.5,
        ..RiskLimits::default()
    };
    let bars = real_bars(10);
    let out = sandbox
        .run(&loaded, &bars, &SandboxLimits::default(), &risk)
        .unwrap();
    assert_eq!(out.orders.len(), 10);
    for order in &out.orders {
        assert!(order.clamped);
        assert!(
            (order.quantity * bars[order.bar].close - 1_000.0).abs() < 1e-6,
            "{order:?}"
        );
    }
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let started = Instant::now();
    let trap = run_hostile(
        "loop { self.n = self.n.wrapping_mul(3).wrapping_add(1); }",
        &SandboxLimits::default(),
    );
    assert_eq!(trap, SandboxTrap::OutOfFuel);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn the_wall_clock_deadline_stops_what_fuel_allows() {
    let limits = SandboxLimits {
        timeout: Duration::from_millis(300),
        fuel_per_bar: u64::MAX / 4,
        ..SandboxLimits::default()
    };
    let started = Instant::now();
    let trap = run_hostile(
        "loop { self.n = self.n.wrapping_mul(3).wrapping_add(1); }",
        &limits,
    );
    assert_eq!(trap, SandboxTrap::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    // A stack frame the optimiser cannot remove (black_box), and a recursion it cannot fold.
    let body = "fn deep(n: u64) -> u64 { let frame = std::hint::black_box([n; 32]); if n == u64::MAX { 0 } else { deep(n + 1).wrapping_add(frame[(n % 32) as usize]) } }\n        let d = deep(self.n); if d == 7 { return Ok(None) } Ok(None)";
    assert_eq!(
        run_hostile(body, &SandboxLimits::default()),
        SandboxTrap::StackOverflow
    );
}

#[test]
fn a_huge_allocation_hits_the_memory_cap() {
    let body = "let v = vec![bar.close as u8; 512 * 1024 * 1024]; if v[7] == 3 { return Ok(None) } Ok(None)";
    assert_eq!(
        run_hostile(body, &SandboxLimits::default()),
        SandboxTrap::MemoryLimit
    );
}

#[test]
fn a_panic_is_named_with_its_message() {
    let trap = run_hostile(
        "if self.n > 3 { panic!(\"strategy gave up at bar {}\", self.n) } Ok(None)",
        &SandboxLimits::default(),
    );
    assert_eq!(trap, SandboxTrap::Panic("strategy gave up at bar 4".into()));
}

#[test]
fn reading_the_clock_is_a_panic_not_a_leak() {
    // std's clock is unsupported on wasm32-unknown-unknown: the strategy cannot observe time.
    let trap = run_hostile(
        "let t = std::time::SystemTime::now(); let _ = t; Ok(None)",
        &SandboxLimits::default(),
    );
    assert!(matches!(trap, SandboxTrap::Panic(_)), "{trap:?}");
}

#[test]
fn a_module_with_any_other_import_is_refused() {
    // (module (type (func)) (import "env" "system" (func (type 0)))), written out by hand.
    let wasm = [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one func type () -> ()
        0x02, 0x0e, 0x01, 0x03, b'e', b'n', b'v', 0x06, b's', b'y', b's', b't', b'e', b'm', 0x00,
        0x00, // import
    ];
    let err = Sandbox::new().unwrap().load(&wasm).err().expect("refused");
    assert!(
        matches!(&err, SandboxError::ForbiddenImport { module, name } if module == "env" && name == "system"),
        "{err}"
    );
    let err = Sandbox::new()
        .unwrap()
        .load(b"not wasm at all")
        .err()
        .expect("refused");
    assert!(matches!(err, SandboxError::InvalidModule(_)));
}

#[test]
fn endless_const_evaluation_is_a_compile_error_in_bounded_time() {
    let source = format!("const BOMB: u64 = {{ let mut i = 0u64; loop {{ i = i.wrapping_add(1); if i == 0 {{ break i; }} }} }};\n{}", strategy_with("let _ = BOMB; let _ = bar; Ok(None)"));
    let started = Instant::now();
    let err = compiler().compile(&source, "HostileStrategy").unwrap_err();
    assert!(
        matches!(err, CompileError::Rejected(_) | CompileError::Timeout(_)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(70));
}

#[test]
fn compile_errors_are_summarised_by_code_and_line_only() {
    let source = strategy_with("let x: u64 = \"/etc/passwd\"; Ok(None)");
    let err = compiler().compile(&source, "HostileStrategy").unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, CompileError::Rejected(d) if d.iter().any(|d| d.code.as_deref() == Some("E0308") && d.line == Some(7))),
        "{text}"
    );
    assert!(
        !text.contains("passwd") && !text.contains("expected"),
        "{text}"
    );
}

#[test]
fn a_strategy_type_that_is_not_public_is_named() {
    let source = clean_source().replace(
        "pub struct CleanMomentumStrategy",
        "struct CleanMomentumStrategy",
    );
    let err = compiler()
        .compile(&source, "CleanMomentumStrategy")
        .unwrap_err();
    assert!(matches!(err, CompileError::BadStrategyType(_)), "{err}");
    let err = compiler()
        .compile(&clean_source(), "Clean; evil")
        .unwrap_err();
    assert!(matches!(err, CompileError::BadStrategyType(_)), "{err}");
}

#[test]
fn a_missing_wasm_target_is_said_exactly() {
    assert_eq!(
        CompileError::MissingTarget.to_string(),
        "the wasm32-unknown-unknown target is not installed: run `rustup target add wasm32-unknown-unknown`"
    );
}

/// Regression: on a cold cache, two validations building the SDK at once could each publish
/// their own build; a strategy compiled against one was then linked against the other, and the
/// glue failed with E0463 (reported as "the strategy type must be a `pub struct`"). Builds are
/// now reproducible and the first published SDK is never replaced.
#[test]
fn regression_concurrent_compiles_on_a_cold_cache_agree() {
    let cache =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cold-{}", uuid::Uuid::now_v7()));
    let source = clean_source();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (cache, source) = (cache.clone(), source.clone());
            std::thread::spawn(move || {
                let compiler = Compiler::new(
                    Toolchain::detect().unwrap(),
                    cache,
                    CompileLimits::default(),
                );
                compiler.compile(&source, "CleanMomentumStrategy")
            })
        })
        .collect();
    let outputs: Vec<Vec<u8>> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .expect("every concurrent compile succeeds")
        })
        .collect();
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "the same source gives the same wasm"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn stepping_bar_by_bar_gives_exactly_the_orders_of_a_batch_run() {
    use stratagem_actors::validator::sandbox::runtime::Deadline;
    let wasm = compiler()
        .compile(&clean_source(), "CleanMomentumStrategy")
        .unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let bars = real_bars(800);
    let limits = SandboxLimits::default();
    let batch = sandbox
        .run(&loaded, &bars, &limits, &RiskLimits::default())
        .unwrap();
    let mut live = sandbox
        .start(&loaded, &limits, &RiskLimits::default(), Deadline::PerBar)
        .unwrap();
    let mut stepped = Vec::new();
    for bar in &bars {
        stepped.extend(live.step(bar).unwrap());
    }
    assert_eq!(live.bars(), 800);
    assert_eq!(stepped, batch.orders);
    assert_eq!(live.finish().orders, batch.orders);
}

/// The module takes its bars from the host one at a time, in batches. A strategy that takes
/// the next bar itself (to peek at its close) gains nothing: the host has then handed that bar
/// out, so the order is the host's at that bar, sized at its price, and the glue's loop goes on
/// after it (the peeked bars are lost to the strategy's own stream). Bar by bar, there is no
/// next bar to take at all.
#[test]
fn taking_the_next_bar_early_is_no_look_ahead() {
    use stratagem_actors::validator::sandbox::runtime::Deadline;
    let source = "use stratagem_sdk::prelude::*;\npub struct PeekStrategy;\nimpl Strategy for PeekStrategy {\n    fn new() -> Self { PeekStrategy }\n    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {\n        match stratagem_sdk::next_bar(0) {\n            Some(next) if next.close > bar.close => Ok(Some(Signal::new(Direction::Long, 0.9))),\n            Some(_) => Ok(Some(Signal::new(Direction::Short, 0.9))),\n            None => Ok(None),\n        }\n    }\n    fn execute(&mut self, s: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {\n        Ok(Some(Order::market(s.direction, RiskController::size(s.confidence, bar.close)?)))\n    }\n}\n";
    let wasm = compiler().compile(source, "PeekStrategy").unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let bars = real_bars(100);
    let risk = RiskLimits::default();
    let run = sandbox
        .run(&loaded, &bars, &SandboxLimits::default(), &risk)
        .unwrap();
    assert_eq!(run.trap, None);
    assert_eq!(run.bars, 100);
    assert_eq!(run.orders.len(), 50, "{:?}", run.orders);
    for order in &run.orders {
        // Placed while bar 2k was current, after taking bar 2k+1: it is bar 2k+1's order, at
        // most the host's size at bar 2k+1's close.
        assert_eq!(order.bar % 2, 1, "{order:?}");
        let most = risk.capital * 0.9 / bars[order.bar].close;
        assert!(
            order.quantity <= most * (1.0 + 1e-12),
            "{order:?} over {most}"
        );
    }
    let mut live = sandbox
        .start(&loaded, &SandboxLimits::default(), &risk, Deadline::PerBar)
        .unwrap();
    for bar in &bars {
        assert_eq!(live.step(bar).unwrap(), vec![]);
    }
    assert_eq!(live.bars(), 100);
}

/// The compile limits hold: a wall-clock limit stops rustc, and an address-space limit too small
/// for rustc is reported as the limit, not as a fault of the strategy.
#[test]
fn rustc_is_held_to_its_time_and_memory_limits() {
    let cache =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("limits-{}", uuid::Uuid::now_v7()));
    let toolchain = Toolchain::detect().unwrap();
    let hurried = Compiler::new(
        toolchain.clone(),
        &cache,
        CompileLimits {
            timeout: Duration::from_millis(1),
            ..CompileLimits::default()
        },
    );
    // Stopped 1 ms in (mid-setup of the jail, often), again and again: nothing of it is left.
    for _ in 0..20 {
        let err = hurried
            .compile(&clean_source(), "CleanMomentumStrategy")
            .unwrap_err();
        assert!(matches!(err, CompileError::Timeout(_)), "{err}");
    }
    let left = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|c| {
                let c = String::from_utf8_lossy(c);
                c.contains(cache.to_str().unwrap())
            })
            .count()
    };
    let until = Instant::now() + Duration::from_secs(2);
    while left() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(left(), 0, "a timed-out compile left processes behind");
    let starved = Compiler::new(
        toolchain,
        &cache,
        CompileLimits {
            address_space_bytes: 64 << 20,
            ..CompileLimits::default()
        },
    );
    let err = starved
        .compile(&clean_source(), "CleanMomentumStrategy")
        .unwrap_err();
    assert!(matches!(err, CompileError::Killed), "{err}");
    assert_eq!(
        err.to_string(),
        "compilation was stopped by the memory limit or a signal"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

/// A strategy whose `should_trade` is `should` and whose `execute` is `execute`.
fn strategy_with_execute(should: &str, execute: &str) -> String {
    strategy_with(should).replace(
        "fn execute(&mut self, _s: Signal, _b: &Bar) -> Result<Option<Order>, StrategyError> { Ok(None) }",
        &format!("fn execute(&mut self, s: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {{ let _ = (&s, bar); {execute} }}"),
    )
}

fn run_source(
    source: &str,
    bars: usize,
    risk: &RiskLimits,
) -> stratagem_actors::validator::sandbox::runtime::RunOutput {
    let wasm = compiler()
        .compile(source, "HostileStrategy")
        .unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    sandbox
        .run(&loaded, &real_bars(bars), &SandboxLimits::default(), risk)
        .unwrap()
}

#[test]
fn the_host_enforces_the_gate_and_its_own_size_whatever_the_guest_asks() {
    // A struct literal skips `Signal::new`'s clamp, and no gate is called: confidence 0.01.
    let low = strategy_with_execute(
        "let _ = bar; Ok(Some(Signal { direction: Direction::Long, confidence: 0.01 }))",
        "Ok(Some(Order::market(Direction::Long, 1.0e9)))",
    );
    let out = run_source(&low, 20, &RiskLimits::default());
    assert_eq!(out.trap, None);
    assert!(out.orders.is_empty(), "{:?}", out.orders);
    assert_eq!(
        out.gated_orders, 20,
        "every order counted as refused by the gate"
    );
    // Out of range (7.0) and not a number are refused too.
    for bad in ["7.0", "f64::NAN", "-1.0"] {
        let src = strategy_with_execute(
            &format!("let _ = bar; Ok(Some(Signal {{ direction: Direction::Short, confidence: {bad} }}))"),
            "Ok(Some(Order::market(Direction::Short, 1.0)))",
        );
        let out = run_source(&src, 5, &RiskLimits::default());
        assert!(
            out.orders.is_empty() && out.gated_orders == 5,
            "{bad}: {out:?}"
        );
    }
    // At confidence 0.6, the quantity is at most what the host sizes for 0.6, however much is
    // asked; a flat order is always let through (closing never needs confidence).
    let asks_more = strategy_with_execute(
        "let _ = bar; Ok(Some(Signal { direction: Direction::Long, confidence: 0.6 }))",
        "if self.n % 2 == 0 { Ok(Some(Order::flat())) } else { Ok(Some(Order::market(Direction::Long, bar.volume * 1.0e6))) }",
    );
    let risk = RiskLimits::default();
    let bars = real_bars(20);
    let out = run_source(&asks_more, 20, &risk);
    assert_eq!(out.orders.len(), 20);
    for order in &out.orders {
        if order.direction == 1 {
            let most = risk.capital * 0.6 / bars[order.bar].close;
            assert!(
                order.clamped && (order.quantity - most).abs() < 1e-9,
                "{order:?}"
            );
        } else {
            assert_eq!(order.quantity, 0.0);
        }
    }
}

#[test]
fn host_calls_orders_and_logs_are_capped_per_bar_and_per_run() {
    let limits = SandboxLimits::default();
    // `drive` is public: a strategy calling it 60,000 times a bar is stopped by the host's count
    // of calls, whoever makes them.
    let drive_loop = "pub struct Inner;\nimpl Strategy for Inner {\n    fn new() -> Self { Inner }\n    fn should_trade(&mut self, _b: &Bar) -> Result<Option<Signal>, StrategyError> { Ok(Some(Signal::new(Direction::Long, 1.0))) }\n    fn execute(&mut self, s: Signal, b: &Bar) -> Result<Option<Order>, StrategyError> { Ok(Some(Order::market(s.direction, RiskController::size(s.confidence, b.close)?))) }\n}\n";
    let source = format!(
        "{}{drive_loop}",
        strategy_with("let mut inner = Inner; for _ in 0..60_000 { stratagem_sdk::drive(&mut inner, *bar); } Ok(None)")
    );
    let out = run_source(&source, 5, &RiskLimits::default());
    assert!(
        matches!(out.trap, Some(SandboxTrap::HostLimit(HostLimit::Orders(8)))),
        "{:?}",
        out.trap
    );
    assert!(out.orders.len() <= limits.max_orders_per_bar as usize);
    assert_eq!(out.trap.as_ref().unwrap().code(), "host_limit.orders");

    // Gate calls alone (no orders): the host-call cap.
    let gates = strategy_with(
        "for _ in 0..100_000 { let _ = GoalValidator::gate(0.9)?; } let _ = bar; Ok(None)",
    );
    let out = run_source(&gates, 5, &RiskLimits::default());
    assert_eq!(
        out.trap,
        Some(SandboxTrap::HostLimit(HostLimit::HostCalls(1_000)))
    );
    assert_eq!(out.bars, 1, "stopped in the first bar");

    // Log calls per bar, log bytes per bar, log bytes per run.
    let calls = strategy_with("for i in 0..100 { log_info!(\"line {i}\"); } let _ = bar; Ok(None)");
    assert_eq!(
        run_source(&calls, 5, &RiskLimits::default()).trap,
        Some(SandboxTrap::HostLimit(HostLimit::LogCalls(32)))
    );
    let bytes = strategy_with(
        "let big = \"x\".repeat(20_000); log_info!(\"{big}\"); let _ = bar; Ok(None)",
    );
    assert_eq!(
        run_source(&bytes, 5, &RiskLimits::default()).trap,
        Some(SandboxTrap::HostLimit(HostLimit::LogBytesPerBar(16 << 10)))
    );
    // 10 KiB a bar is within each bar's cap; the run's 4 MiB is passed after ~410 bars.
    let steady = strategy_with(
        "let line = \"y\".repeat(10_240); log_info!(\"{line}\"); let _ = bar; Ok(None)",
    );
    let out = run_source(&steady, 600, &RiskLimits::default());
    assert_eq!(
        out.trap,
        Some(SandboxTrap::HostLimit(HostLimit::LogBytesPerRun(4 << 20)))
    );
    assert!((400..=420).contains(&out.bars), "{}", out.bars);
    // What the host kept stays bounded: at most 1,000 lines of at most 1 KiB.
    assert!(out.logs.len() <= limits.max_log_lines);
    assert!(out.logs.iter().all(|l| l.len() <= limits.max_log_line + 16));
}

#[test]
fn one_deadline_covers_both_sandbox_runs_and_a_trap_ends_the_layer() {
    use stratagem_actors::validator::sandbox::SandboxLayer;
    let timeout = Duration::from_secs(2);
    let layer = SandboxLayer::new(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strategy-cache"),
        CompileLimits::default(),
        SandboxLimits {
            timeout,
            // Fuel is not what stops it here: the wall clock is.
            fuel_per_bar: u64::MAX / 4,
            ..SandboxLimits::default()
        },
        RiskLimits::default(),
    )
    .unwrap();
    let bars = real_bars(200);
    // About 25 ms of work a bar: one run of 200 bars takes ~5 s, past the deadline.
    let slow = strategy_with(
        "let mut x = self.n as f64; for i in 0..4_000_000u64 { x = (x * 1.000_000_1 + i as f64).sqrt(); } self.n ^= x.to_bits(); let _ = bar; Ok(None)",
    );
    let wasm = compiler().compile(&slow, "HostileStrategy").unwrap();
    let started = Instant::now();
    let report = layer.check_compiled(Ok(wasm), started, &bars).unwrap();
    let took = started.elapsed();
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].code, "sandbox.trap");
    assert!(
        report.errors[0].message.starts_with("wall-clock timeout"),
        "{report:?}"
    );
    // The first run used the whole budget; a second would double it.
    assert!(took < timeout + Duration::from_millis(900), "took {took:?}");
}

/// A paper stage without a single fill is inconclusive, never a pass: it is run again over
/// twice the window, up to the limit, then rejected as inconclusive — while a strategy that
/// trades gets a verdict on its Sharpe.
#[test]
fn a_warm_session_without_a_fill_is_inconclusive_never_a_pass() {
    use stratagem_actors::market;
    use stratagem_actors::stages::runner::{run_stage, Baseline, PaperFeed, StageSettings};
    use stratagem_events::Stage;
    let sandbox = Sandbox::new().unwrap();
    let idle = sandbox
        .load(
            &compiler()
                .compile(&strategy_with("Ok(None)"), "HostileStrategy")
                .unwrap(),
        )
        .unwrap();
    let bars = market::embedded_hourly();
    let settings = StageSettings::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let warm = |strategy| {
        runtime
            .block_on(run_stage(
                &sandbox,
                strategy,
                &Baseline::BuyAndHold,
                Stage::Warm,
                bars,
                &settings,
                1,
                PaperFeed::Recorded { speed: None },
            ))
            .unwrap()
    };
    let outcome = warm(&idle);
    assert!(!outcome.passed, "{}", outcome.gate);
    assert_eq!(
        outcome.gate,
        "inconclusive: 0 order(s) filled over 128 bars (needs ≥ 1), after 5 extension(s) of the window; rejected"
    );
    assert_eq!(outcome.window.end - outcome.window.start, 128);
    let active = sandbox
        .load(
            &compiler()
                .compile(&clean_source(), "CleanMomentumStrategy")
                .unwrap(),
        )
        .unwrap();
    // One that trades is judged by the test of the difference with the baseline.
    let judged = warm(&active);
    assert!(
        judged.gate.contains("% confidence: per-bar sharpe"),
        "{}",
        judged.gate
    );
}

/// A strategy reading its account each bar, with market, limit and stop entries in turn, each
/// with a bracket: what it reads at each bar is exactly the book the backtest simulates from
/// its orders (the host keeps that book beside it), up to that bar's close.
#[test]
fn the_account_a_strategy_reads_is_the_backtests_book_at_each_close() {
    use stratagem_actors::stages::backtest::{self, Book, CostModel};
    let source = r#"use stratagem_sdk::prelude::*;
pub struct AccountStrategy { n: u64 }
impl Strategy for AccountStrategy {
    fn new() -> Self { AccountStrategy { n: 0 } }
    fn should_trade(&mut self, _bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        let a = Account::current();
        log_info!("{} {} {} {} {}", self.n, a.position, a.average_price, a.equity, a.cash);
        self.n += 1;
        match self.n % 14 {
            0 => Ok(Some(Signal::new(Direction::Short, 0.9))),
            7 => Ok(Some(Signal::new(Direction::Long, 0.9))),
            _ => Ok(None),
        }
    }
    fn execute(&mut self, s: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        let q = RiskController::size(s.confidence, bar.close)?;
        let order = match (self.n / 7) % 3 {
            0 => Order::market(s.direction, q),
            1 => Order::limit(s.direction, q, bar.close * 0.998),
            _ => Order::stop(s.direction, q, bar.close * 1.002),
        };
        let (sl, tp) = if s.direction == Direction::Long { (0.985, 1.015) } else { (1.015, 0.985) };
        Ok(Some(order.with_stop_loss(bar.close * sl).with_take_profit(bar.close * tp)))
    }
}
"#;
    let wasm = compiler().compile(source, "AccountStrategy").unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let bars = real_bars(600);
    let costs = CostModel::default();
    let risk = RiskLimits::with_account(100_000.0, costs);
    let limits = SandboxLimits {
        max_log_lines: 1000,
        ..SandboxLimits::default()
    };
    let run = sandbox.run(&loaded, &bars, &limits, &risk).unwrap();
    assert_eq!(run.trap, None, "{:?}", run.logs);
    assert_eq!(run.logs.len(), bars.len());
    assert!(run.orders.len() >= 80, "{}", run.orders.len());
    let mut book = Book::new(risk.capital, costs);
    let mut next = 0;
    for (i, (bar, line)) in bars.iter().zip(&run.logs).enumerate() {
        let start = next;
        while run.orders.get(next).is_some_and(|o| o.bar < i) {
            next += 1;
        }
        book.step(bar, &run.orders[start..next]);
        let v = book.view();
        let words: Vec<f64> = line
            .trim_start_matches("info: ")
            .split(' ')
            .map(|w| w.parse().unwrap())
            .collect();
        assert_eq!(words[0], i as f64);
        assert_eq!(
            words[1..],
            [v.position, v.average_price, v.equity, v.cash],
            "bar {i}"
        );
    }
    // The backtest of the same orders is that book: its fills include exits by the brackets.
    let bt = backtest::simulate(&bars, &run.orders, risk.capital, costs, 8760.0, 1);
    let final_book = book.finish(8760.0, 1);
    assert_eq!(bt.equity, final_book.equity);
    let exits = bt.fills.iter().filter(|f| f.position == 0.0).count();
    assert!(
        exits >= 10,
        "{exits} bracket exits in {} fills",
        bt.fills.len()
    );
    // A strategy that does not read its account has no book kept beside it.
    let plain = sandbox
        .load(
            &compiler()
                .compile(&clean_source(), "CleanMomentumStrategy")
                .unwrap(),
        )
        .unwrap();
    assert!(loaded.reads_account() && !plain.reads_account());
}
