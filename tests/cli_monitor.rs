//! The monitor over a real pipeline run: rolling readings of the FULL strategy on the recorded
//! bars of its stay, rollback and retirement on degradation, clones of a winner that go
//! through the pipeline themselves, thresholds as named settings — all on the log, replayable.

mod common;

use std::path::Path;

use common::{audit_clean, offline, run_with, stderr, stdout};
use serde_json::Value;

fn run_once(data: &Path, env: &[(&str, &str)]) -> Value {
    let offline = offline();
    let out = run_with(
        data,
        &[
            "run",
            "--once",
            "--offline",
            offline.to_str().unwrap(),
            "--json",
        ],
        env,
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    common::data(&stdout(&out)).unwrap()
}

/// The stage audit file's events, as JSON.
fn stage_events(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("strategy_stages.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

#[test]
fn a_degraded_full_strategy_is_rolled_back_then_retired_and_its_winning_stretch_cloned() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let report = run_once(data, &[]);
    let funnel = &report["funnel"];
    assert_eq!(funnel["reached_full"], 1, "{report}");
    let events = stage_events(data);

    // Every reading's verdict agrees with its own figures and the default thresholds: a
    // drawdown beyond 10 % degrades; until then nothing does.
    let readings = of_kind(&events, "monitor.observed");
    assert!(!readings.is_empty());
    for r in &readings {
        let d = &r["data"];
        let drawdown = d["drawdown"].as_f64().unwrap();
        let verdict = d["verdict"].as_str().unwrap();
        let below = d["below_baseline_hours"].as_u64().unwrap();
        let lost = d["total_return"].as_f64().unwrap() <= -0.2;
        let degraded = drawdown > 0.10 || below >= 48 || lost;
        assert_eq!(verdict.starts_with("degraded"), degraded, "{d}");
        if verdict == "winner" {
            assert!(d["rolling_sharpe"].as_f64().unwrap() >= 1.5, "{d}");
        }
        // The rolling window is 72 h of hourly bars, once 72 h have been read.
        let span = d["window_end"].as_i64().unwrap() - d["window_start"].as_i64().unwrap();
        assert!(span <= 71 * 3600, "{d}");
    }
    // Readings are numbered 1, 2, … per stay, with no gap and no repeat.
    let mut stays: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for r in &readings {
        stays
            .entry(r["data"]["run_id"].as_str().unwrap().to_string())
            .or_default()
            .push(r["data"]["observation"].as_u64().unwrap());
    }
    for numbers in stays.values() {
        assert_eq!(*numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    }

    // Degraded: rolled back FULL → LIMITED; it earned FULL again and degraded again, so on its
    // second rollback it was retired as a loser.
    let rollbacks = of_kind(&events, "stage.rolled_back");
    assert_eq!(rollbacks.len(), 2, "{rollbacks:?}");
    for r in &rollbacks {
        assert_eq!(
            (r["data"]["from"].as_str(), r["data"]["to"].as_str()),
            (Some("full"), Some("limited"))
        );
        assert!(r["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("beyond the limit of 10.0 %"));
    }
    let retired = of_kind(&events, "strategy.retired");
    assert_eq!(retired.len(), 1);
    let loser = retired[0]["data"]["strategy_id"].as_str().unwrap();
    assert!(retired[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("rolled back 2 time(s)"));
    assert_eq!(funnel["rolled_back"], 2);
    assert_eq!(funnel["retired"], 1);

    // Before degrading it was a winner once: two parameter variants became opportunities with
    // source `clone` and the winner as parent (one spawn, not one per stay).
    let clones = of_kind(&events, "clone.spawned");
    assert_eq!(clones.len(), 2);
    let opportunities: Value =
        common::data(&stdout(&run_with(data, &["opportunities", "--json"], &[]))).unwrap();
    let rows = opportunities["items"].as_array().unwrap();
    let clone_rows: Vec<&Value> = rows.iter().filter(|o| o["source"] == "clone").collect();
    assert_eq!(clone_rows.len(), 2);
    for (c, row) in clones.iter().zip(&clone_rows) {
        assert_eq!(c["data"]["parent_strategy_id"].as_str(), Some(loser));
        assert!(row["title"].as_str().unwrap().contains("variant: lookback"));
        // Scored in the same cycle: 0.6375 in this bear regime (novelty 0.6 for a variant,
        // market fit 0.5 for fading a trend), below 0.65. Judged once on its parent's
        // evidence, it is rejected with the reason — never held to be re-scored without end.
        assert!(row["composite"].as_f64().is_some(), "{row}");
        assert_eq!(row["status"], "rejected", "{row}");
    }
    let trail = std::fs::read_to_string(data.join("strategy_opportunities.jsonl")).unwrap();
    let rejected: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["kind"] == "opportunity.rejected")
        .collect();
    assert_eq!(rejected.len(), 2);
    assert!(
        rejected[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("its parent's evidence does not carry it here"),
        "{rejected:?}"
    );

    // `status`: it reached FULL (implemented) and no longer trades; the whole record replays
    // and verifies.
    let status: Value = common::data(&stdout(&run_with(data, &["status", "--json"], &[]))).unwrap();
    assert_eq!(status["strategies_implemented"], 1, "{status}");
    assert_eq!(status["stages"]["full"], 0, "{status}");
    audit_clean(data);

    // Again: nothing new to read, decide or spawn.
    let before = events.len();
    run_once(data, &[]);
    assert_eq!(stage_events(data).len(), before);
}

#[test]
fn thresholds_are_settings_and_clones_of_a_winner_go_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    // Wider limits: nothing degrades over the 28 recorded days, so the strategy stays in FULL
    // and every reading of its stay is taken: 28 × 24 / 6 = 112. A submission threshold of 0.6
    // lets the clones through to generation, validation and the stages.
    let env = [
        ("MONITOR_MAX_DRAWDOWN", "0.5"),
        ("MONITOR_RETIRE_LOSS", "0.5"),
        ("MONITOR_UNDERPERFORM_HOURS", "2000"),
        ("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", "0.6"),
    ];
    let report = run_once(data, &env);
    let funnel = &report["funnel"];
    assert_eq!(funnel["rolled_back"], 0, "{report}");
    assert_eq!(funnel["retired"], 0, "{report}");
    let events = stage_events(data);
    let first_full = of_kind(&events, "stage.completed")
        .into_iter()
        .find(|e| e["data"]["stage"] == "full")
        .expect("a FULL run");
    let winner = first_full["data"]["strategy_id"].as_str().unwrap();
    let readings: Vec<&Value> = of_kind(&events, "monitor.observed")
        .into_iter()
        .filter(|e| e["data"]["strategy_id"] == winner)
        .collect();
    assert_eq!(readings.len(), 112);
    assert_eq!(readings.last().unwrap()["data"]["observation"], 112);

    // The clones were submitted, generated from the winner's template with their variant
    // parameters, validated, and staged.
    let clones = of_kind(&events, "clone.spawned");
    assert!(!clones.is_empty());
    assert_eq!(funnel["cloned"].as_u64().unwrap(), clones.len() as u64);
    assert_eq!(
        funnel["generated"].as_u64().unwrap(),
        2 + clones.len() as u64,
        "{report}"
    );
    let generation = std::fs::read_to_string(data.join("strategy_generation.jsonl")).unwrap();
    for c in &clones {
        let varied = &c["data"]["variant"][0];
        let opportunity = c["data"]["opportunity_id"].as_str().unwrap();
        let generated: Value = generation
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|g| g["data"]["opportunity_id"] == opportunity)
            .expect("the clone was generated");
        let parameter = generated["data"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == varied["name"])
            .unwrap()
            .clone();
        assert_eq!(parameter["value"], varied["value"]);
    }
    audit_clean(data);

    // The monitor command: every reading of the stay is on the log; a pass takes none again.
    let out = run_with(data, &["monitor"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{winner} "))
            && stdout(&out).contains("112 reading(s) (0 new)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stage_events(data).len(), events.len());
}

#[test]
fn a_bad_monitor_setting_is_refused_naming_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("MONITOR_MAX_DRAWDOWN", "1.5"),
        ("MONITOR_STEP_HOURS", "0"),
        ("MONITOR_CLONE_STEP", "x"),
        ("LIVE_DAYS", "0"),
    ] {
        let out = run_with(tmp.path(), &["monitor"], &[(key, value)]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(key), "{key}: {}", stderr(&out));
    }
}
