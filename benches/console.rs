//! The console's pages over a log of 1,000,000 events: the offline main job's log (a strategy
//! that reached FULL, its idea discovered near the start), then a long life of discovery and
//! validation cycles after it (`common/log.rs`). Each page is asked for over real HTTP on
//! loopback from `stratagem console`'s server (`Console` over the data directory, kept open as
//! the command keeps it).
//!
//! Target on the 2-core reference machine: every page < 50 ms at the 95th percentile. Besides
//! criterion's figures, each page's p50/p95/max over 200 requests is printed. Run with
//! `cargo bench --bench console`. The data directory is built once (a few minutes) under
//! `target/bench-data/`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use stratagem_actors::workflow::console::{serve, Console, ConsoleSettings};
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::settings::Settings;

#[path = "common/log.rs"]
mod log;

const EVENTS: u64 = 1_000_000;

/// The data directory: the main job, then cycles of ten events up to `EVENTS`.
fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("console-{EVENTS}"));
    let done = dir.join("built");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stratagem"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["run", "--once", "--offline"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    log::fill(&dir, EVENTS);
    std::fs::write(done, b"").unwrap();
    dir
}

/// One GET over a fresh connection: the status and the body's length.
fn get(addr: &str, path: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status = std::str::from_utf8(&out[..12.min(out.len())])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    (status, out.len())
}

fn pages(c: &mut Criterion) {
    let dir = data_dir();
    let full = {
        let data = DataDir::open(&dir).unwrap();
        let projected = data.projections().unwrap();
        let state = projected.state();
        assert!(state.last_seq >= EVENTS, "{}", state.last_seq);
        state
            .strategies
            .values()
            .find(|s| s.highest_stage == Some(stratagem_events::Stage::Full))
            .expect("the main job's FULL strategy")
            .id
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _kept = DataDir::keep_open(&dir).unwrap();
    let settings = Settings::from_pairs(std::iter::empty::<(&str, &str)>());
    let console = Arc::new(
        Console::new(
            &dir,
            DataDir::open(&dir).unwrap(),
            ConsoleSettings {
                addr: "127.0.0.1:0".parse().unwrap(),
                token: None,
                kpi_window_days: 7,
            },
            settings.stages().unwrap(),
        )
        .unwrap(),
    );
    let began = Instant::now();
    console.warm().unwrap();
    println!(
        "console: the chain verified and the log indexed once at start in {:.2} s",
        began.elapsed().as_secs_f64()
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(serve(listener, console, std::future::pending()));

    let paths = [
        ("overview", "/".to_string()),
        ("opportunities", "/opportunities".to_string()),
        ("strategy", format!("/strategies/{full}")),
        ("review", "/review".to_string()),
        ("audit", "/audit".to_string()),
        ("audit_by_kind", "/audit?kind=stage.promoted".to_string()),
        ("audit_by_strategy", format!("/audit?strategy={full}")),
        ("event", "/audit/events/500000".to_string()),
        ("api_status", "/api/status".to_string()),
    ];
    for (name, path) in &paths {
        let mut took: Vec<f64> = (0..200)
            .map(|_| {
                let t = Instant::now();
                let (status, len) = get(&addr, path);
                assert_eq!(status, 200, "{path}");
                assert!(len > 100, "{path}");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        took.sort_by(f64::total_cmp);
        println!(
            "console {name:<18} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
            took[100], took[190], took[199]
        );
    }
    let mut group = c.benchmark_group(format!("console_{EVENTS}_events"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (name, path) in &paths {
        group.bench_function(*name, |b| b.iter(|| get(&addr, path)));
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
