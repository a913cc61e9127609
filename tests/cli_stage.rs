//! The stages through the real binary, offline on the recorded bars: a validated strategy taken
//! COLD → WARM → LIMITED → FULL, each printing its gate and verdict, every step on the log.

mod common;

use std::path::Path;

use common::{fails, ok, run};
use serde_json::Value;

/// submit → generate (template) → validate; returns the strategy id.
fn approved(d: &Path, template: &str) -> String {
    // The timeline ends two days of watched FULL trading before the recording's end: there
    // the default mean-reversion strategy passes every gate (the default 28 days puts "now"
    // where it fails LIMITED, as `run --once` shows for another strategy). The data
    // directory's configuration file sets it for every command below.
    std::fs::create_dir_all(d).unwrap();
    std::fs::write(d.join("stratagem.toml"), "[live]\ndays = 2\n").unwrap();
    common::approved_idea(d, template, template).0
}

#[test]
fn a_validated_strategy_goes_from_cold_to_full_with_every_step_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = approved(&d, "mean_reversion");
    let err = fails(&d, &["stage", &id, "warm"]);
    assert!(
        err.contains("is approved; `stage warm` needs a strategy promoted to WARM"),
        "{err}"
    );
    for (stage, promoted) in [("cold", "WARM"), ("warm", "LIMITED"), ("limited", "FULL")] {
        let text = ok(&d, &["stage", &id, stage]);
        assert!(
            text.contains(if stage == "cold" {
                "gate: sharpe"
            } else {
                "gate: beats baseline buy_and_hold"
            }) && text.contains(&format!("verdict: PASSED, promoted to {promoted}")),
            "{stage}: {text}"
        );
    }
    let text = ok(&d, &["stage", &id, "full"]);
    assert!(text.contains("verdict: running at full capital"), "{text}");
    let status: Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["stages"]["full"], 1);
    assert_eq!(status["strategies_implemented"], 1);
    let trail = std::fs::read_to_string(d.join("strategy_stages.jsonl")).unwrap();
    let kinds: Vec<String> = trail
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "stage.started").count(), 4);
    assert_eq!(kinds.iter().filter(|k| *k == "stage.completed").count(), 4);
    assert_eq!(
        kinds.iter().filter(|k| *k == "stage.promoted").count(),
        4,
        "into COLD, WARM, LIMITED, FULL"
    );
    let warm: Value = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["kind"] == "stage.completed" && v["data"]["stage"] == "warm")
        .unwrap();
    assert!(warm["data"]["metrics"]["baseline_sharpe"].is_number());
    assert!(ok(&d, &["audit", "verify"]).starts_with("chain ok"));
    assert!(ok(&d, &["audit", "replay"]).starts_with("identical"));
}

#[test]
fn a_strategy_that_misses_the_cold_gate_is_rejected_and_stays_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = approved(&d, "momentum");
    let out = run(&d, &["stage", &id, "cold", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let outcome: Value = common::data(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(outcome["passed"], false);
    assert!(outcome["gate"].as_str().unwrap().starts_with("sharpe "));
    assert!(outcome["metrics"]["deflated_sharpe"].is_number());
    let err = fails(&d, &["stage", &id, "warm"]);
    assert!(err.contains("is rejected"), "{err}");
    let status: Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["stages"]["cold"], 0);
    let err = fails(&d, &["stage", "not-an-id", "cold"]);
    assert!(err.contains("is not a strategy id"), "{err}");
}

/// Same inputs, same outputs: two backtests print byte-identical JSON, and the COLD stage of the
/// same template in two separate data directories records identical metrics and gate text (only
/// the ids and times of the envelope and the run differ, by design).
#[test]
fn the_same_inputs_give_identical_results_and_stage_events() {
    let clean = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/strategies/clean_momentum.rs"
    );
    let tmp = tempfile::tempdir().unwrap();
    let a = ok(
        &tmp.path().join("a"),
        &["--create", "backtest", clean, "--days", "30", "--json"],
    );
    let b = ok(
        &tmp.path().join("b"),
        &["--create", "backtest", clean, "--days", "30", "--json"],
    );
    assert_eq!(a, b);
    let completed = |d: &Path| -> Value {
        let id = approved(d, "mean_reversion");
        ok(d, &["stage", &id, "cold"]);
        let trail = std::fs::read_to_string(d.join("strategy_stages.jsonl")).unwrap();
        let line: Value = trail
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["kind"] == "stage.completed")
            .unwrap();
        serde_json::json!({"metrics": line["data"]["metrics"], "gate": line["data"]["gate"], "passed": line["data"]["passed"]})
    };
    assert_eq!(
        completed(&tmp.path().join("c")).to_string(),
        completed(&tmp.path().join("d")).to_string()
    );
}

/// A stage whose process is SIGKILLed mid-run resumes its own run on the next `stage` call:
/// one start and one completion on the log, never two.
#[test]
fn a_stage_cut_short_by_sigkill_resumes_its_run_and_is_recorded_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = approved(&d, "mean_reversion");
    ok(&d, &["stage", &id, "cold"]);
    // WARM at 3,600× real time: each recorded hour takes a second.
    let mut child = common::bin()
        .arg("--data-dir")
        .arg(&d)
        .args(["stage", &id, "warm", "--speed", "3600"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let trail = d.join("strategy_stages.jsonl");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&trail)
        .unwrap_or_default()
        .contains("\"stage\":\"warm\"")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the warm run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL, mid-replay
    child.wait().unwrap();
    let count = |kind: &str| {
        std::fs::read_to_string(&trail)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["kind"] == kind && v["data"]["stage"] == "warm")
            .count()
    };
    assert_eq!(
        (count("stage.started"), count("stage.completed")),
        (1, 0),
        "killed before completing"
    );
    let resumed = ok(&d, &["stage", &id, "warm"]);
    assert!(
        resumed.contains("resuming WARM run") && resumed.contains("verdict:"),
        "{resumed}"
    );
    assert_eq!((count("stage.started"), count("stage.completed")), (1, 1));
    let err = fails(&d, &["stage", &id, "warm"]);
    assert!(
        err.contains("is in LIMITED"),
        "the completed run is not run again: {err}"
    );
    assert!(ok(&d, &["audit", "verify"]).starts_with("chain ok"));
    assert!(ok(&d, &["audit", "replay"]).starts_with("identical"));
}

#[test]
fn no_stage_run_begins_while_trading_is_halted_or_reduce_only_and_the_state_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = approved(d, "mean_reversion");
    let halted = ok(d, &["halt", "--reason", "exchange outage", "--by", "ops"]);
    assert!(halted.contains("HALTED"), "{halted}");
    // Another process, another start: the state is read from the log.
    let status = ok(d, &["status"]);
    assert!(
        status.contains("trading       HALTED (no new orders)")
            && status.contains("by ops: exchange outage"),
        "{status}"
    );
    let refused = fails(d, &["stage", &id, "cold"]);
    assert!(
        refused.contains("no stage run begins while trading is HALTED")
            && refused.contains("`stratagem resume` first"),
        "{refused}"
    );
    ok(d, &["reduce-only", "--reason", "winding down"]);
    let refused = fails(d, &["stage", &id, "cold"]);
    assert!(refused.contains("REDUCE-ONLY (exits only)"), "{refused}");
    assert!(fails(d, &["reduce-only", "--flatten"]).contains("--flatten goes with `halt` only"));
    let resumed: Value = common::data(&ok(d, &["resume", "--json"])).unwrap();
    assert_eq!(resumed["state"], "active");
    assert_eq!(resumed["recorded"], true);
    ok(d, &["stage", &id, "cold"]);
    let status: Value = common::data(&ok(d, &["status", "--json"])).unwrap();
    assert_eq!(status["risk"]["state"], "active");
    assert_eq!(
        status["risk"]["by"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
}
