//! Strategies over two series with the real components: two recorded series (Coinbase BTC/USD
//! hourly, which trades through weekends, and EUR/USD hourly, which does not) aligned by time,
//! a strategy compiled by rustc and run in wasmtime over them, and the multi-leg book.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use stratagem_actors::generator::{self, templates};
use stratagem_actors::market;
use stratagem_actors::stages::backtest::CostModel;
use stratagem_actors::stages::legs;
use stratagem_actors::validator::sandbox::compile::{CompileLimits, Compiler, Toolchain};
use stratagem_actors::validator::sandbox::runtime::{
    RiskLimits, Sandbox, SandboxBar, SandboxError, SandboxLimits,
};

fn compiler() -> Compiler {
    Compiler::new(
        Toolchain::detect().expect("rustc with the wasm32 target"),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("legs-cache"),
        CompileLimits::default(),
    )
}

fn recorded(name: &str) -> Vec<SandboxBar> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data")
            .join(name),
    )
    .unwrap();
    market::read_bars(&text, None).unwrap().bars
}

/// A strategy over two series that logs each bar it is handed: its time and its leg.
const PROBE: &str = r#"
use stratagem_sdk::prelude::*;

pub struct ProbeStrategy { seen: u64 }

impl Strategy for ProbeStrategy {
    const LEGS: usize = 2;
    fn new() -> Self { ProbeStrategy { seen: 0 } }
    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.seen += 1;
        log_info!("{} {}", bar.timestamp, bar.leg);
        Ok(None)
    }
    fn execute(&mut self, _s: Signal, _b: &Bar) -> Result<Option<Order>, StrategyError> { Ok(None) }
}
"#;

#[test]
fn two_series_reach_the_strategy_a_time_at_a_time_once_both_have_closed_it() {
    let btc = recorded("coinbase_btcusd_1h_2017-07-01_2019-10-17.csv");
    let fx = recorded("eurusd_1h_2017-04-19_2018-02-07.csv");
    let aligned = legs::align(&[&btc, &fx]);
    // Only the times both have: no FX weekend, no BTC bar before the FX file begins.
    assert!(aligned.steps() > 3000, "{}", aligned.steps());
    assert!(
        aligned.dropped[0] > 10_000 && aligned.dropped[1] > 1000,
        "{:?}",
        aligned.dropped
    );
    let btc_times: HashSet<i64> = btc.iter().map(|b| b.timestamp).collect();
    let fx_times: HashSet<i64> = fx.iter().map(|b| b.timestamp).collect();
    for t in aligned.legs[0].iter().map(|b| b.timestamp) {
        assert!(btc_times.contains(&t) && fx_times.contains(&t), "{t}");
    }
    // The probe sees, step after step, leg 0 then leg 1 of the same time, and nothing of a
    // time before both series closed it.
    let wasm = compiler().compile(PROBE, "ProbeStrategy").unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    assert_eq!(sandbox.legs(&loaded).unwrap(), 2);
    let steps = 400;
    let head = legs::Aligned {
        legs: aligned.legs.iter().map(|l| l[..steps].to_vec()).collect(),
        dropped: aligned.dropped.clone(),
    };
    let bars = legs::interleave(&head);
    let risk = RiskLimits {
        legs: 2,
        ..RiskLimits::default()
    };
    let out = sandbox
        .run(&loaded, &bars, &SandboxLimits::default(), &risk)
        .unwrap();
    assert!(out.trap.is_none(), "{:?}", out.trap);
    let seen: Vec<(i64, usize)> = out
        .logs
        .iter()
        .map(|l| {
            let text = l.split_once(": ").map_or(l.as_str(), |(_, t)| t);
            let (t, leg) = text.split_once(' ').unwrap();
            (t.parse().unwrap(), leg.parse().unwrap())
        })
        .collect();
    let expected: Vec<(i64, usize)> = head.legs[0]
        .iter()
        .flat_map(|b| [(b.timestamp, 0), (b.timestamp, 1)])
        .collect();
    assert_eq!(seen, expected);
    // Given one series, it is refused by name, not run.
    let one = RiskLimits::default();
    match sandbox.run(&loaded, &btc[..10], &SandboxLimits::default(), &one) {
        Err(e @ SandboxError::Legs { .. }) => {
            assert!(e.to_string().contains("trades 2 series"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_pairs_template_trades_both_legs_and_its_equity_is_its_fills() {
    let btc = recorded("coinbase_btcusd_1h_2017-07-01_2019-10-17.csv");
    let fx = recorded("eurusd_1h_2017-04-19_2018-02-07.csv");
    let aligned = legs::align(&[&btc, &fx]);
    let spec = templates::find("pairs_spread").unwrap();
    let generated = generator::from_template(spec, uuid::Uuid::now_v7(), &[]).unwrap();
    let wasm = compiler()
        .compile(&generated.source, &generated.strategy_type)
        .unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let capital = 100_000.0;
    let costs = CostModel::default();
    let risk = RiskLimits {
        legs: 2,
        ..RiskLimits::with_account(capital / 2.0, costs)
    };
    let out = sandbox
        .run(
            &loaded,
            &legs::interleave(&aligned),
            &SandboxLimits::backtest(),
            &risk,
        )
        .unwrap();
    assert!(out.trap.is_none(), "{:?}", out.trap);
    let steps = out.bars / 2;
    assert_eq!(steps, aligned.steps());
    let result = legs::simulate_legs(&aligned, &out.orders, steps, capital, costs, 6000.0, 1);
    // Both legs trade, each its own fills.
    for leg in 0..2 {
        let n = result.fills.iter().filter(|f| f.leg == leg).count();
        assert!(n >= 10, "leg {leg}: {n} fills");
    }
    // The portfolio's equity is each leg's cash and position from its fills, marked at its
    // close: at every step, to a part in a billion.
    let mut cash = [capital / 2.0; 2];
    let mut position = [0.0f64; 2];
    let mut next = 0;
    // The book's exposure at each step is the same positions at the closes, over the equity.
    let exposure = result.exposure(&aligned);
    assert_eq!(exposure.curve.len(), steps);
    let (mut hedged, mut open) = (0, 0);
    for (j, (t, equity)) in result.equity.iter().enumerate().skip(1) {
        while let Some(f) = result.fills.get(next).filter(|f| f.fill.timestamp <= *t) {
            cash[f.leg] -= f.fill.quantity * f.fill.price + f.fill.fee;
            position[f.leg] += f.fill.quantity;
            next += 1;
        }
        let marked: f64 = (0..2)
            .map(|k| cash[k] + position[k] * aligned.legs[k][j - 1].close)
            .sum();
        assert!(
            (marked - equity).abs() <= 1e-9 * equity.abs().max(1.0),
            "step {j} at {t}: {marked} from the fills, {equity} in the curve"
        );
        let notional = |k: usize| position[k] * aligned.legs[k][j - 1].close;
        let (_, net, gross) = exposure.curve[j - 1];
        let (want_net, want_gross) = (
            (notional(0) + notional(1)) / equity,
            (notional(0).abs() + notional(1).abs()) / equity,
        );
        assert!(
            (net - want_net).abs() < 1e-9 && (gross - want_gross).abs() < 1e-9,
            "step {j}: exposure {net}/{gross}, from the fills {want_net}/{want_gross}"
        );
        // A spread position holds the legs on opposite sides: its net is below its gross.
        if position[0] * position[1] < 0.0 {
            hedged += 1;
            assert!(net.abs() < gross, "step {j}: {net} vs {gross}");
        }
        if position[0] != 0.0 || position[1] != 0.0 {
            open += 1;
        }
    }
    assert_eq!(next, result.fills.len(), "every fill is in the curve");
    // (A negative hedge ratio — BTC and EUR/USD at times move against each other — holds
    // both legs on one side: not every step in the market is hedged.)
    assert!(
        hedged > 0 && open >= hedged,
        "{hedged} of {open} steps in the market hedged"
    );
    let per_leg = result.summaries();
    let fees: f64 = result.fills.iter().map(|f| f.fill.fee).sum();
    assert!((per_leg[0].fees + per_leg[1].fees - fees).abs() < 1e-9);
    assert!(per_leg.iter().all(|l| l.fees > 0.0), "{per_leg:?}");
}
