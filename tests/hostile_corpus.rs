//! The hostile corpus: every file in `tests/hostile/` names, on its first line, the layer and the
//! finding code it must be rejected with (`// expect: layer N code`). Each must be rejected by
//! exactly that layer, with that reason, and no finding may quote what the file tried to reach.

use std::path::Path;
use std::time::{Duration, Instant};

use stratagem_actors::validator::{security, syntax, Layer, LayerReport};

/// Runs the source-level layers in order, fail-fast, returning the first rejecting report.
fn first_rejection(source: &str) -> Option<LayerReport> {
    let (report, parsed) = syntax::check(source);
    if !report.passed() {
        return Some(report);
    }
    let report = security::check(source, &parsed?.file);
    (!report.passed()).then_some(report)
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
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    let started = Instant::now();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let source = std::fs::read_to_string(path).unwrap();
        let (layer, code) = expectation(&source);
        let report = first_rejection(&source).unwrap_or_else(|| panic!("{name}: was not rejected"));
        assert_eq!(
            report.layer.number(),
            layer,
            "{name}: rejected by {:?}: {:?}",
            report.layer,
            report.errors
        );
        assert!(
            report.errors.iter().any(|f| f.code == code),
            "{name}: expected {code}, got {:?}",
            report.errors
        );
        for finding in &report.errors {
            assert!(
                finding.line.is_some() || finding.code.starts_with("syntax.too"),
                "{name}: {finding:?} has no line"
            );
            for leak in LEAKS {
                assert!(
                    !finding.message.contains(leak),
                    "{name}: message quotes {leak:?}: {}",
                    finding.message
                );
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the corpus took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_clean_strategy_passes_the_source_layers_without_findings() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs"),
    )
    .unwrap();
    let (report, parsed) = syntax::check(&source);
    assert!(report.passed(), "{:?}", report.errors);
    let parsed = parsed.unwrap();
    assert!(parsed
        .outline
        .types
        .contains(&"CleanMomentumStrategy".to_string()));
    let report = security::check(&source, &parsed.file);
    assert_eq!(report.layer, Layer::Security);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.warnings.is_empty());
}
