//! The hostile corpus: every file in `tests/hostile/` names, on its first line, the layer and the
//! finding code it must be rejected with (`// expect: layer N code`). Each goes through the full
//! six-layer validator (real rustc, real wasmtime) and must be rejected by exactly that layer,
//! with that reason, in bounded time. No finding may quote what the file tried to reach, and a
//! file rejected by layers 1–2 never reaches rustc.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stratagem_actors::market;
use stratagem_actors::validator::integration::IntegrationRules;
use stratagem_actors::validator::sandbox::compile::{Author, CompileLimits};
use stratagem_actors::validator::sandbox::runtime::{RiskLimits, SandboxLimits};
use stratagem_actors::validator::sandbox::SandboxLayer;
use stratagem_actors::validator::{Layer, Validator};
use stratagem_events::Decision;

fn validator() -> Validator {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corpus-cache");
    let sandbox = SandboxLayer::new(
        cache,
        CompileLimits::default(),
        SandboxLimits::default(),
        RiskLimits::default(),
    )
    .expect("rustc with the wasm32 target");
    let bars = market::embedded_hourly().to_vec();
    Validator {
        rules: IntegrationRules::default(),
        sandbox,
        bars: bars[bars.len() - 200..].to_vec(),
    }
}

fn expectation(source: &str) -> (u8, String) {
    let header = source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// expect: layer "))
        .expect("header line");
    let (layer, code) = header.split_once(' ').expect("layer and code");
    (layer.parse().unwrap(), code.trim().to_string())
}

/// Words that would show a finding quoting a target path or a secret.
const LEAKS: &[&str] = &[
    "passwd",
    "/etc/",
    "AKIA",
    "ghp_",
    "sk-ant",
    "sk-proj",
    "hooks.slack",
    "BEGIN PRIVATE",
    "wJalrXUt",
];

#[test]
fn every_hostile_file_is_rejected_by_its_intended_layer_with_its_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 104, "the corpus has {} files", files.len());
    let validator = validator();
    let started = Instant::now();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let source = std::fs::read_to_string(path).unwrap();
        let (layer, code) = expectation(&source);
        let one = Instant::now();
        let report = validator
            .validate(&source, Author::Untrusted)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Its deadline: the compile's budget, then the sandbox's (both runs), and 5 s.
        let deadline = CompileLimits::default().timeout
            + SandboxLimits::default().timeout
            + Duration::from_secs(5);
        assert!(one.elapsed() < deadline, "{name} took {:?}", one.elapsed());
        assert_eq!(report.decision, Decision::Rejected, "{name}: {report:#?}");
        let failed = report.layers.last().unwrap();
        assert_eq!(
            failed.layer.number(),
            layer,
            "{name}: rejected by {:?}: {:?}",
            failed.layer,
            failed.errors
        );
        assert_eq!(
            report.layers.len(),
            layer as usize,
            "{name}: a layer ran after the failing one"
        );
        assert!(
            failed.errors.iter().any(|f| f.code == code),
            "{name}: expected {code}, got {:?}",
            failed.errors
        );
        for finding in &failed.errors {
            for leak in LEAKS {
                assert!(
                    !finding.message.contains(leak),
                    "{name}: message quotes {leak:?}: {}",
                    finding.message
                );
            }
        }
        if layer <= 2 {
            assert!(
                report.layers.iter().all(|l| l.layer <= Layer::Security),
                "{name}: rustc must not run"
            );
        }
    }
    // The host stayed small: peak resident memory of this process (which ran every sandbox).
    let peak_kib: u64 = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(peak_kib < 1 << 20, "peak memory {peak_kib} KiB");
    eprintln!(
        "hostile corpus: {} files in {:?}, peak memory {} MiB",
        files.len(),
        started.elapsed(),
        peak_kib / 1024
    );
}

#[test]
fn a_clean_strategy_is_approved_by_all_six_layers() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs"),
    )
    .unwrap();
    let report = validator().validate(&source, Author::Untrusted).unwrap();
    assert_eq!(report.decision, Decision::Approved, "{report:#?}");
    assert_eq!(report.layers_passed(), 6);
    assert_eq!(
        report.strategy_type.as_deref(),
        Some("CleanMomentumStrategy")
    );
    assert!(
        report
            .layers
            .iter()
            .all(|l| l.errors.is_empty() && l.warnings.is_empty()),
        "{report:#?}"
    );
}
