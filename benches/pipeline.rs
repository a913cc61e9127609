//! The pipeline's validator pool: eight generated strategies validated in one `run --once`,
//! with `VALIDATOR_CONCURRENCY=1` and with 2 (`STAGE_CONCURRENCY=1` both times).
//!
//! What is measured is the validations' span on the log — from the first `validation.started`
//! to the last `validation.decided` — of a fresh data directory holding the eight ideas of
//! `tests/common/ideas.rs`, its strategy SDK already built (as on any machine after its first
//! validation). Target on the 2-core reference machine: with 2 validators ≤ 0.65× the time
//! with 1. That both decide the same is `tests/pipeline_concurrency.rs`.
//!
//! Run with `cargo bench --bench pipeline` (about three minutes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/common/ideas.rs"]
#[allow(dead_code)]
mod ideas;

const BIN: &str = env!("CARGO_BIN_EXE_stratagem");

fn bin() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("METRICS_ADDR", "off");
    cmd
}

/// One `run --once` over the eight ideas with `validators` validators; the validations' span.
fn validate_eight(work: &Path, sdk: Option<&Path>, validators: usize) -> Duration {
    let _ = std::fs::remove_dir_all(work);
    let (data, offline) = (work.join("data"), work.join("offline"));
    ideas::prepare(bin, &data, &offline);
    if let Some(sdk) = sdk {
        let to = data.join("cache").join(sdk.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(sdk).unwrap().flatten() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
    let out = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--once", "--json", "--offline"])
        .arg(&offline)
        .env("VALIDATOR_CONCURRENCY", validators.to_string())
        .env("STAGE_CONCURRENCY", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (span, decided) = ideas::validation_window(&data);
    assert_eq!(decided, 8);
    span
}

/// The SDK built once, by a first run.
fn warm_sdk(root: &Path) -> PathBuf {
    validate_eight(&root.join("warm"), None, 1);
    std::fs::read_dir(root.join("warm/data/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sdk-"))
        })
        .expect("the SDK cache")
}

fn validator_pool(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let sdk = warm_sdk(tmp.path());
    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(60));
    for validators in [1, 2] {
        group.bench_function(
            format!("validate_8_strategies/validators_{validators}"),
            |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| validate_eight(&tmp.path().join("run"), Some(&sdk), validators))
                        .sum()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, validator_pool);
criterion_main!(benches);
