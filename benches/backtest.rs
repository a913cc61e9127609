//! Backtest throughput: the momentum template run in wasmtime and simulated (fills, equity,
//! metrics), against the same source compiled natively with the same SDK, on the embedded
//! 45,031-bar FTX minute file and on a synthetic 10,000,000-bar series.
//!
//! Before criterion's groups, each set prints a paired measurement: alternating wasm and native
//! runs, their medians and the ratio (the target is wasm ≤ 1.5× native, measured in the same
//! run), steadier on a shared machine than two groups measured seconds apart.
//! Run with `cargo bench --bench backtest`.

// Kept byte-identical to the rendered template (a test checks it): rustfmt must not touch it.
#[rustfmt::skip]
#[path = "native/momentum.rs"]
mod native_momentum;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stratagem_actors::generator::templates;
use stratagem_actors::market;
use stratagem_actors::stages::backtest::{self, CostModel};
use stratagem_actors::validator::sandbox::compile::{CompileLimits, Compiler, Toolchain};
use stratagem_actors::validator::sandbox::runtime::{
    HostOrder, LoadedStrategy, RiskLimits, Sandbox, SandboxBar, SandboxLimits,
};
use stratagem_sdk::Strategy;

/// A deterministic random walk of `n` minute bars (xorshift, no external randomness).
fn synthetic(n: usize) -> Vec<SandboxBar> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut price = 40_000.0_f64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let step = ((state % 2001) as f64 - 1000.0) / 1_000_000.0;
            let open = price;
            price *= 1.0 + step;
            SandboxBar {
                timestamp: 1_600_000_000 + 60 * i as i64,
                open,
                high: open.max(price),
                low: open.min(price),
                close: price,
                volume: 1.0,
            }
        })
        .collect()
}

fn wasm_backtest(sandbox: &Sandbox, loaded: &LoadedStrategy, bars: &[SandboxBar]) -> f64 {
    let limits = SandboxLimits {
        timeout: Duration::from_secs(600),
        ..SandboxLimits::default()
    };
    let run = sandbox
        .run(loaded, bars, &limits, &RiskLimits::default())
        .unwrap();
    backtest::simulate(
        bars,
        &run.orders,
        100_000.0,
        CostModel::default(),
        525_600.0,
        1,
    )
    .metrics
    .sharpe
}

fn native_backtest(bars: &[SandboxBar]) -> f64 {
    stratagem_sdk::host::reset();
    let mut strategy = native_momentum::MomentumStrategy::new();
    let mut orders = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        stratagem_sdk::drive(
            &mut strategy,
            stratagem_sdk::Bar {
                timestamp: b.timestamp,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
                leg: 0,
            },
        );
        for (direction, quantity) in stratagem_sdk::host::take_orders() {
            orders.push(HostOrder::market(i, direction, quantity));
        }
    }
    backtest::simulate(bars, &orders, 100_000.0, CostModel::default(), 525_600.0, 1)
        .metrics
        .sharpe
}

/// The wasm/native ratio measured in one run: `rounds` alternating pairs (wasm then native, so
/// both see the same machine at the same moment), the median time of each, and their ratio.
/// Printed beside criterion's figures; on a shared VM the medians of interleaved runs are much
/// steadier than two groups measured seconds apart.
fn paired_ratio(name: &str, sandbox: &Sandbox, loaded: &LoadedStrategy, bars: &[SandboxBar]) {
    let rounds = if bars.len() > 1_000_000 { 11 } else { 41 };
    let (mut wasm, mut native) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        std::hint::black_box(wasm_backtest(sandbox, loaded, bars));
        wasm.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        std::hint::black_box(native_backtest(bars));
        native.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, n) = (median(&mut wasm), median(&mut native));
    // Where the time goes: the strategy in the sandbox alone, and the simulation alone.
    let limits = SandboxLimits {
        timeout: Duration::from_secs(600),
        ..SandboxLimits::default()
    };
    let (mut run_alone, mut sim_alone) = (Vec::new(), Vec::new());
    for _ in 0..rounds.min(11) {
        let t = std::time::Instant::now();
        let run = sandbox
            .run(loaded, bars, &limits, &RiskLimits::default())
            .unwrap();
        run_alone.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        std::hint::black_box(backtest::simulate(
            bars,
            &run.orders,
            100_000.0,
            CostModel::default(),
            525_600.0,
            1,
        ));
        sim_alone.push(t.elapsed().as_secs_f64());
    }
    let (r, m) = (median(&mut run_alone), median(&mut sim_alone));
    println!(
        "split {name}: the strategy in the sandbox {:.3} ms ({:.2} M bars/s), the simulation {:.3} ms ({:.2} M bars/s)",
        r * 1e3,
        bars.len() as f64 / r / 1e6,
        m * 1e3,
        bars.len() as f64 / m / 1e6
    );
    println!(
        "paired {name}: wasm {:.3} ms ({:.2} M bars/s), native {:.3} ms ({:.2} M bars/s), \
         ratio {:.2} (medians of {rounds} alternating runs)",
        w * 1e3,
        bars.len() as f64 / w / 1e6,
        n * 1e3,
        bars.len() as f64 / n / 1e6,
        w / n
    );
}

fn throughput(c: &mut Criterion) {
    let spec = templates::find("momentum").unwrap();
    let source = templates::render(
        spec,
        &templates::choose_params(spec, &[]),
        uuid::Uuid::nil(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let wasm = Compiler::new(
        Toolchain::detect().unwrap(),
        tmp.path(),
        CompileLimits::default(),
    )
    .compile(&source, "MomentumStrategy")
    .unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    for (name, bars, samples) in [
        ("ftx_1m_45031", market::embedded("ftx-1m").unwrap(), 20),
        ("synthetic_10m", synthetic(10_000_000), 10),
    ] {
        paired_ratio(name, &sandbox, &loaded, &bars);
        let mut group = c.benchmark_group(format!("backtest_{name}"));
        group
            .sample_size(samples)
            .measurement_time(Duration::from_secs(30));
        group.throughput(Throughput::Elements(bars.len() as u64));
        group.bench_function("wasm", |b| {
            b.iter(|| wasm_backtest(&sandbox, &loaded, &bars))
        });
        group.bench_function("native", |b| b.iter(|| native_backtest(&bars)));
        group.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
