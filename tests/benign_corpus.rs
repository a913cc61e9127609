//! The benign corpus: strategies that look alarming to a naive scanner — hashes, UUIDs,
//! addresses, permalinks, base64 data, long labels, math constants, Unicode, CRLF and a BOM,
//! methods and modules with banned-looking names, secret-like words next to data that is not a
//! secret — must pass `stratagem scan` with no finding at all.
//!
//! Each file in `tests/benign/` holds the construct; the strategy scanned is that file followed
//! by the clean strategy of `tests/strategies/` (in the file's line endings, after its BOM; its
//! opening `//!` line left out), so
//! every case is a whole strategy without forty copies of one.

mod common;

use std::path::Path;

use common::bin;

#[test]
fn every_benign_file_passes_scan_with_no_finding() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/benign");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    let clean = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs"),
    )
    .unwrap();
    // Without its first line, a `//!` comment that must open a file.
    let clean = clean.split_once('\n').unwrap().1.to_string();
    let tmp = tempfile::tempdir().unwrap();
    let mut flagged = Vec::new();
    for path in &files {
        let construct = std::fs::read_to_string(path).unwrap();
        let body = if construct.contains("\r\n") {
            clean.replace('\n', "\r\n")
        } else {
            clean.clone()
        };
        let strategy = tmp.path().join(path.file_name().unwrap());
        std::fs::write(&strategy, format!("{construct}{body}")).unwrap();
        let out = bin()
            .arg("scan")
            .arg(&strategy)
            .arg("--json")
            .output()
            .unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {out:?}", path.display()));
        let findings = &envelope["data"]["errors"];
        if !out.status.success() || findings.as_array().is_none_or(|f| !f.is_empty()) {
            flagged.push(format!("{}: {findings}", path.display()));
        }
    }
    assert!(flagged.is_empty(), "flagged:\n{}", flagged.join("\n"));
}

/// The nine false positives of the red-team pass, each in the corpus by name.
#[test]
fn the_nine_reported_false_positives_are_in_the_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/benign");
    for name in [
        "commit_hash_in_doc",
        "transaction_hash_in_doc",
        "uuid_simple_form",
        "github_permalink",
        "ethereum_contract_address",
        "base64_weights",
        "long_label",
        "method_named_include",
        "module_named_env",
    ] {
        assert!(dir.join(format!("{name}.rs")).is_file(), "{name}");
    }
}
