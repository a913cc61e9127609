//! Several validators, and several workers per stage, decide exactly what one of each does.
//!
//! The same eight ideas go through `run --once` with `VALIDATOR_CONCURRENCY=1`,
//! `STAGE_CONCURRENCY=1` and with 2 and 2: the funnel is the same, and so is every audit
//! file's content once what differs by nature is set aside — ids, times, hashes, layer
//! durations, the line order (concurrent validations interleave on the log) and the extra
//! workers' `actor.started`. The speed-up is measured by `cargo bench --bench pipeline`.

mod common;

use common::ideas;
use common::{bin, stderr, stdout};
use serde_json::Value;
use std::path::Path;

fn run_once(data: &Path, offline: &Path, workers: &str) -> Value {
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--once", "--json", "--offline"])
        .arg(offline)
        .env("VALIDATOR_CONCURRENCY", workers)
        .env("STAGE_CONCURRENCY", workers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    common::data(&stdout(&out)).unwrap()
}

/// Replaces what is unique to a run: UUIDs, 64-digit hashes, and the 8-digit hash suffix of a
/// generated strategy's name (its source names its id).
fn scrub(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let run = |i: usize| b[i..].iter().take_while(|c| hex(**c)).count();
    let is_uuid = |i: usize| {
        let groups = [8, 4, 4, 4, 12];
        let mut at = i;
        for (n, len) in groups.iter().enumerate() {
            if b.len() < at + len || !b[at..at + len].iter().all(|c| hex(*c)) {
                return false;
            }
            at += len;
            if n < 4 {
                if b.get(at) != Some(&b'-') {
                    return false;
                }
                at += 1;
            }
        }
        !b.get(at).is_some_and(|c| hex(*c))
    };
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let starts = i == 0 || !hex(b[i - 1]);
        if starts && is_uuid(i) {
            out.push_str("<id>");
            i += 36;
        } else if starts && run(i) == 64 {
            out.push_str("<sha256>");
            i += 64;
        } else if i > 0 && b[i - 1] == b'_' && run(i) == 8 {
            out.push_str("<hash8>");
            i += 8;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// An audit file's lines as a sorted list, each reduced to its kind and data, scrubbed.
fn content(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] != "actor.started")
        .map(|mut v| {
            if let Some(d) = v["data"].as_object_mut() {
                d.remove("duration_us");
            }
            scrub(&serde_json::json!({"kind": v["kind"], "data": v["data"]}).to_string())
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn two_validators_and_two_stage_workers_decide_what_one_of_each_does() {
    let tmp = tempfile::tempdir().unwrap();
    let offline = tmp.path().join("offline");
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    ideas::prepare(bin, &one, &offline);
    ideas::prepare(bin, &two, &offline);
    let serial = run_once(&one, &offline, "1");
    let parallel = run_once(&two, &offline, "2");
    assert_eq!(serial["funnel"]["validated"], 8, "{serial}");
    assert_eq!(serial["funnel"]["reached_cold"], 8, "{serial}");
    assert_eq!(serial["funnel"], parallel["funnel"]);
    for file in [
        "strategy_opportunities.jsonl",
        "strategy_generation.jsonl",
        "strategy_validation.jsonl",
        "strategy_stages.jsonl",
        "operations.jsonl",
    ] {
        let (a, b) = (content(&one.join(file)), content(&two.join(file)));
        assert_eq!(a.len(), b.len(), "{file}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{file}");
        }
    }
    // Two screeners and two validators ran (each recorded its start). That their layer-6 jobs
    // overlap is what `cargo bench --bench pipeline` measures (the span with two is 0.57× the
    // span with one).
    let ops = std::fs::read_to_string(two.join("operations.jsonl")).unwrap();
    assert!(ops.contains("\"actor\":\"validator#2\""), "{ops}");
    assert!(ops.contains("\"actor\":\"screener#2\""), "{ops}");
    assert_eq!(ideas::validation_window(&two).1, 8);
}

#[test]
fn the_scrub_sets_aside_ids_and_hashes_only() {
    assert_eq!(
        scrub("a 01a23523-b4be-7087-9baa-ec4ba7fb1610 b momentum_4d8a8c23 c"),
        "a <id> b momentum_<hash8> c"
    );
    let sha = "8c651e952b7f9726944aa657cddbebf61dc81f7736d845a45391a1551ce2c44f";
    assert_eq!(scrub(&format!("\"{sha}\"")), "\"<sha256>\"");
    assert_eq!(
        scrub("lookback 0.25 and 20 bars"),
        "lookback 0.25 and 20 bars"
    );
}
