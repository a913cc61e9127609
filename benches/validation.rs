//! Validation and sandbox benchmarks.
//!
//! - layers 1–5 on a 300-line strategy (target < 5 ms);
//! - full six-layer validation of a template strategy with a warm SDK cache (target p50 < 2 s),
//!   rustc in its bubblewrap jail and, beside it, without one; with a cold SDK cache (the SDK
//!   rebuilt every time), and with its module already compiled;
//! - per-bar cost of the momentum template in wasmtime against the same source compiled
//!   natively with the same SDK (target ≤ 3×);
//! - validations per second through the job queue of a log on a real `nats-server`
//!   (`stratagem worker`'s loop), with 1 and with 2 workers, each its own sandbox.
//!
//! Run with `cargo bench --bench validation`.

// Kept byte-identical to the rendered template (a test checks it): rustfmt must not touch it.
#[rustfmt::skip]
#[path = "native/momentum.rs"]
mod native_momentum;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stratagem_actors::generator::templates;
use stratagem_actors::market;
use stratagem_actors::validator::integration::IntegrationRules;
use stratagem_actors::validator::sandbox::compile::{
    Author, CompileLimits, Compiler, Jail, Toolchain,
};
use stratagem_actors::validator::sandbox::runtime::{RiskLimits, Sandbox, SandboxLimits};
use stratagem_actors::validator::sandbox::SandboxLayer;
use stratagem_actors::validator::{
    conventions, coverage, integration, security, syntax, Validator,
};
use stratagem_sdk::Strategy;

#[path = "../events/tests/common/nats.rs"]
mod nats;

/// The clean strategy of the tests, grown past 300 lines with helper functions.
fn strategy_of_300_lines() -> String {
    let mut source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/strategies/clean_momentum.rs"
    ))
    .unwrap();
    let mut i = 0;
    while source.lines().count() < 300 {
        source.push_str(&format!(
            "\n/// Helper {i}.\npub fn helper_{i}(values: &[f64], weight: f64) -> f64 {{\n    let mut total = 0.0;\n    for v in values {{\n        total += v * weight;\n    }}\n    total / (values.len() as f64).max(1.0)\n}}\n"
        ));
        i += 1;
    }
    source
}

fn source_layers(c: &mut Criterion) {
    let source = strategy_of_300_lines();
    let mut group = c.benchmark_group("validation");
    group.bench_function("layers_1_to_5_300_lines", |b| {
        b.iter(|| {
            // As `Validator::screen` runs them: layer 2 scans the tokens layer 1 lexed.
            let (report, parsed) = syntax::check(&source);
            assert!(report.passed());
            let parsed = parsed.unwrap();
            let file = parsed.file;
            let reports = [
                security::check_parsed(&source, &file, parsed.tokens),
                conventions::check(&file),
                integration::check(&file, IntegrationRules::default()),
                coverage::check(&source, &file),
            ];
            assert!(reports.iter().all(|r| r.passed()));
        })
    });
    group.finish();
}

fn bars() -> Vec<stratagem_actors::validator::sandbox::runtime::SandboxBar> {
    market::embedded_hourly().to_vec()
}

fn validator(cache: PathBuf, jailed: bool) -> Validator {
    let toolchain = Toolchain::detect().unwrap();
    let compiler = if jailed {
        let compiler = Compiler::new(toolchain, cache, CompileLimits::default());
        assert!(compiler.jail().is_jailed(), "{:?}", compiler.jail());
        compiler
    } else {
        Compiler::with_jail(
            toolchain,
            Jail::Missing("the unjailed figure".into()),
            cache,
            CompileLimits {
                allow_unjailed: true,
                ..CompileLimits::default()
            },
        )
    };
    let sandbox =
        SandboxLayer::with_compiler(compiler, SandboxLimits::default(), RiskLimits::default())
            .unwrap();
    let all = bars();
    Validator {
        rules: IntegrationRules::default(),
        sandbox,
        bars: all[all.len() - 1000..].to_vec(),
    }
}

fn momentum_source() -> String {
    let spec = templates::find("momentum").unwrap();
    templates::render(
        spec,
        &templates::choose_params(spec, &[]),
        uuid::Uuid::nil(),
    )
    .unwrap()
}

fn full_validation(c: &mut Criterion) {
    let source = momentum_source();
    let tmp = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("validation");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    let warm_dir = tmp.path().join("warm");
    let warm = validator(warm_dir.clone(), true);
    warm.validate(&source, Author::Untrusted).unwrap();
    // The SDK cached, the strategy's module not: rustc runs every time.
    let forget_modules = || {
        for e in std::fs::read_dir(&warm_dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("modules-") {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
    };
    group.bench_function("six_layers_warm_sdk_cache", |b| {
        b.iter_batched(
            forget_modules,
            |()| warm.validate(&source, Author::Untrusted).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // The same without the jail: what the jail costs.
    let open_dir = tmp.path().join("unjailed");
    let open = validator(open_dir.clone(), false);
    open.validate(&source, Author::Untrusted).unwrap();
    group.bench_function("six_layers_warm_sdk_cache_unjailed", |b| {
        b.iter_batched(
            || {
                for e in std::fs::read_dir(&open_dir).unwrap().flatten() {
                    if e.file_name().to_string_lossy().starts_with("modules-") {
                        std::fs::remove_dir_all(e.path()).unwrap();
                    }
                }
            },
            |()| open.validate(&source, Author::Untrusted).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // The module cached too (what a stage or the monitor pays to load a validated strategy).
    group.bench_function("six_layers_cached_module", |b| {
        b.iter(|| warm.validate(&source, Author::Untrusted).unwrap())
    });
    let cold_dir = tmp.path().join("cold");
    let cold = validator(cold_dir.clone(), true);
    group.bench_function("six_layers_cold_sdk_cache", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&cold_dir);
            },
            |()| cold.validate(&source, Author::Untrusted).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn per_bar(c: &mut Criterion) {
    let bars = bars();
    let tmp = tempfile::tempdir().unwrap();
    let compiler = Compiler::new(
        Toolchain::detect().unwrap(),
        tmp.path(),
        CompileLimits::default(),
    );
    let wasm = compiler
        .compile(&momentum_source(), "MomentumStrategy")
        .unwrap();
    let sandbox = Sandbox::new().unwrap();
    let loaded = sandbox.load(&wasm).unwrap();
    let limits = SandboxLimits::default();
    let risk = RiskLimits::default();
    // Both builds must trade alike before their speed is compared.
    let wasm_orders = sandbox
        .run(&loaded, &bars, &limits, &risk)
        .unwrap()
        .orders
        .len();
    let native_orders = {
        stratagem_sdk::host::reset();
        let mut s = native_momentum::MomentumStrategy::new();
        for b in &bars {
            stratagem_sdk::drive(&mut s, to_sdk(b));
        }
        stratagem_sdk::host::take_orders().len()
    };
    assert_eq!(
        wasm_orders, native_orders,
        "the wasm and native builds disagree"
    );

    let mut group = c.benchmark_group("per_bar_momentum");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.bench_function("wasm", |b| {
        b.iter(|| sandbox.run(&loaded, &bars, &limits, &risk).unwrap())
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            stratagem_sdk::host::reset();
            let mut s = native_momentum::MomentumStrategy::new();
            for bar in &bars {
                stratagem_sdk::drive(&mut s, to_sdk(bar));
            }
            stratagem_sdk::host::take_orders()
        })
    });
    group.finish();
}

fn to_sdk(b: &stratagem_actors::validator::sandbox::runtime::SandboxBar) -> stratagem_sdk::Bar {
    stratagem_sdk::Bar {
        timestamp: b.timestamp,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        leg: 0,
    }
}

/// Validations of distinct sources (each compiled by rustc) through the job queue, by `n`
/// workers running the worker's loop in this process, each with its own sandbox and caches.
fn on_workers(c: &mut Criterion) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use stratagem_actors::workflow::remote::{self, ValidateJob};
    use stratagem_events::JobQueue;
    const JOBS: u64 = 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = nats::Nats::single();
    let base = momentum_source();
    let serial = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("validations_on_workers");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(JOBS));
    for workers in [1usize, 2] {
        let tmp = tempfile::tempdir().unwrap();
        let address = server.address(&format!("W{workers}"));
        let queue = rt
            .block_on(JobQueue::open(&address, 1, Duration::from_secs(30)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for w in 0..workers {
            let v = Arc::new(validator(tmp.path().join(format!("w{w}")), true));
            // The SDK built once per worker, as a long-running worker has it.
            v.validate(&base, Author::Untrusted).unwrap();
            let (queue, stop) = (queue.clone(), stop.clone());
            let root = tmp.path().join(format!("w{w}"));
            handles.push(rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = remote::work_one(
                        &queue,
                        &v,
                        &root,
                        "bench",
                        Duration::from_millis(200),
                        Duration::from_secs(5),
                    )
                    .await;
                }
            }));
        }
        group.bench_function(format!("{workers}_worker(s)_4_validations"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut waits = Vec::new();
                    for _ in 0..JOBS {
                        let n = serial.fetch_add(1, Ordering::Relaxed);
                        let job = ValidateJob {
                            strategy_id: uuid::Uuid::now_v7(),
                            // A new source each time: rustc runs for every job.
                            source: format!("{base}\n// variant {n}\n"),
                            untrusted: true,
                        };
                        let queue = queue.clone();
                        waits.push(tokio::spawn(async move {
                            remote::validate(&queue, &job, Duration::from_secs(600))
                                .await
                                .unwrap()
                        }));
                    }
                    for w in waits {
                        w.await.unwrap();
                    }
                })
            })
        });
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            rt.block_on(h).unwrap();
        }
    }
    group.finish();
}

criterion_group!(benches, source_layers, full_validation, per_bar, on_workers);
criterion_main!(benches);
