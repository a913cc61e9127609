//! `run --once` on a long-lived data directory: 100,000 opportunities on the log (each
//! discovered from arXiv, scored and held below the threshold — set to 0.99 here, so none is
//! ever submitted), every source's recordings already recorded, nothing new to find. Target on
//! the 2-core reference machine: < 3 s.
//!
//! The data directory is built once under `target/bench-data/` (a few minutes), then a first
//! `run --once` brings every held score up to date; what is measured is the run after it.
//! Run with `cargo bench --bench run_once`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{
    AppendRequest, Event, EventStore, OpportunityDiscovered, OpportunityHeld, OpportunityScored,
    SledEventStore, SubScore,
};
use uuid::Uuid;

#[path = "common/texts.rs"]
mod texts;

const OPPORTUNITIES: usize = 100_000;
const BIN: &str = env!("CARGO_BIN_EXE_stratagem");

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources")
}

fn run_once(dir: &Path) -> Duration {
    let began = Instant::now();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["run", "--once", "--json", "--offline"])
        .arg(recordings())
        .env("METRICS_ADDR", "off")
        // Every idea stays held (a demanding threshold): nothing reaches the pipeline, and
        // every cycle re-examines all 100,000.
        .env("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", "0.99")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    began.elapsed()
}

/// The data directory: 100,000 held opportunities, then the recordings' own.
fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("run-once-{OPPORTUNITIES}"));
    let done = dir.join("built");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let words = texts::vocabulary();
    let mut rng = fastrand::Rng::with_seed(11);
    let sub = |value: f64| SubScore {
        value,
        reason: "bench".into(),
    };
    {
        let store = SledEventStore::open(dir.join("events")).unwrap();
        let mut files = ProjectionFiles::open(&dir, &store).unwrap();
        for batch in 0..OPPORTUNITIES / 1000 {
            let events: Vec<Event> = (0..1000)
                .flat_map(|k| {
                    let n = batch * 1000 + k;
                    let id = Uuid::now_v7();
                    [
                        Event::from(OpportunityDiscovered {
                            opportunity_id: id,
                            source: "arxiv".into(),
                            external_id: Some(format!("bench.{n:06}v1")),
                            title: texts::text(&mut rng, &words, 12).into(),
                            hypothesis: texts::text(&mut rng, &words, 120).into(),
                            url: None,
                            family: None,
                            asset_class: None,
                            timeframe: None,
                            parameters: Vec::new(),
                            stated_sharpe: None,
                            template: None,
                            parent_strategy_id: None,
                        }),
                        Event::from(OpportunityScored {
                            opportunity_id: id,
                            novelty: sub(0.9),
                            market_fit: sub(0.3),
                            complexity: sub(0.4),
                            capital_efficiency: sub(0.4),
                            risk: sub(0.5),
                            composite: 0.5,
                            regime: "bear".into(),
                        }),
                        Event::from(OpportunityHeld {
                            opportunity_id: id,
                            composite: 0.5,
                            threshold: 0.65,
                        }),
                    ]
                })
                .collect();
            rt.block_on(store.append(AppendRequest::new(events)))
                .unwrap();
            files.catch_up(&store).unwrap();
        }
        assert_eq!(store.head().seq, 3 * OPPORTUNITIES as u64);
    }
    // The recordings' items, and every held score brought up to date with this build's scorer.
    run_once(&dir);
    std::fs::write(done, b"").unwrap();
    dir
}

fn bench(c: &mut Criterion) {
    let dir = data_dir();
    let mut group = c.benchmark_group("run_once");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(30));
    group.bench_function("nothing_new_100k_opportunities", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_once(&dir)).sum())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
