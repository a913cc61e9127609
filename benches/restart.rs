//! The cost of a long life: opening a data directory (what a restart does) and one idle daemon
//! cycle, at 10,000 and at 1,000,000 events on the log. Neither may grow with the log: opening
//! loads the projection snapshot and replays only the events after it; an idle cycle is the
//! daemon's idle path (`Daemon::tick` up to where it would start the actors): the kept store's
//! projections brought up to date (nothing new), the sources due, the head and the review
//! inbox read, the cycle found idle.
//!
//! Targets on the 2-core reference machine: open < 1 s and an idle cycle < 20 ms at 1,000,000
//! events. Run with `cargo bench --bench restart`. The data directories are built once (the
//! first run takes a few minutes) under `target/bench-data/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use stratagem_actors::cycle::Idleness;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::review::handoffs_waiting;
use stratagem_actors::workflow::run::{sources_for, Sources};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::projection::files::{ProjectionFiles, SnapshotUse};
use stratagem_events::SledEventStore;

#[path = "common/log.rs"]
mod log;

/// A data directory whose log holds `events` events (whole cycles of ten), projections and
/// snapshot written as a running daemon leaves them.
fn data_dir(events: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("restart-{events}"));
    let done = dir.join("built");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    log::fill(&dir, events);
    std::fs::write(done, b"").unwrap();
    dir
}

fn restart(c: &mut Criterion) {
    for events in [10_000u64, 1_000_000] {
        let dir = data_dir(events);
        let mut group = c.benchmark_group(format!("restart_{events}_events"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(15));
        group.bench_function("open", |bench| {
            bench.iter(|| {
                let store = SledEventStore::open(dir.join("events")).unwrap();
                let files = ProjectionFiles::open(&dir, &store).unwrap();
                assert!(matches!(files.snapshot_use(), SnapshotUse::Loaded { .. }));
                assert_eq!(files.state().last_seq, events);
                files.state().autonomy.opportunities_discovered
            })
        });
        // The daemon's idle path (`workflow::daemon::Daemon::tick` before it would start the
        // actors): the store kept open, the sources due by the log, the head, the review inbox.
        let kept = DataDir::keep_open(&dir).unwrap();
        // The log's cycles check arXiv and Reddit; the other sources are switched off.
        let settings = Settings::from_pairs([
            ("DISCOVERY_TWITTER_ENABLED", "0"),
            ("DISCOVERY_DEFI_PULSE_ENABLED", "0"),
            ("DISCOVERY_SEC_EDGAR_ENABLED", "0"),
            ("DISCOVERY_NETWORK_ENABLED", "0"),
            ("DISCOVERY_MANUAL_ENABLED", "0"),
        ]);
        let mode = Mode::Offline(dir.clone());
        let head = || DataDir::open(&dir).unwrap().store().head().seq;
        let mut idleness = Idleness::default();
        idleness.worked(head(), false);
        // Every source checked a moment ago: none due.
        let now = DataDir::open(&dir)
            .unwrap()
            .projections()
            .unwrap()
            .state()
            .sources
            .values()
            .map(|h| h.last_checked_micros)
            .max()
            .unwrap_or(0);
        group.bench_function("idle_cycle", |bench| {
            bench.iter(|| {
                let due = Sources::Due {
                    now,
                    simulated: None,
                };
                let selected = sources_for(&dir, &settings, &mode, due).unwrap();
                let idle = idleness.is_idle(&selected, head(), handoffs_waiting(&dir));
                assert!(idle, "due: {selected:?}");
                idle
            })
        });
        drop(kept);
        group.finish();
    }
}

criterion_group!(benches, restart);
criterion_main!(benches);
