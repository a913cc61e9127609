//! The human checkpoint: with `REQUIRE_APPROVAL_BEFORE=limited` a strategy waits before LIMITED,
//! across restarts, until a person approves or rejects it with `stratagem review`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{bin, offline, stderr, stdout};
use serde_json::Value;

fn stratagem(data: &Path, args: &[&str]) -> Output {
    common::run_with(data, args, &[("REQUIRE_APPROVAL_BEFORE", "limited")])
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    common::data(&stdout(out)).unwrap()
}

fn run_once(data: &Path) -> Value {
    json(&stratagem(
        data,
        &[
            "run",
            "--once",
            "--json",
            "--offline",
            offline().to_str().unwrap(),
        ],
    ))
}

fn stage_lines(data: &Path) -> usize {
    std::fs::read_to_string(data.join("strategy_stages.jsonl"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_strategy_waits_before_limited_until_a_person_approves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let v = run_once(data);
    assert_eq!(v["funnel"]["reached_full"], 0, "{v}");
    assert!(
        v["notes"].to_string().contains("waiting for a person: 1"),
        "{v}"
    );
    let waiting = json(&stratagem(data, &["review", "list", "--json"]))["items"].clone();
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting[0]["before_stage"], "limited");
    let id = waiting[0]["strategy_id"].as_str().unwrap().to_string();

    // The stage refuses to run, and a restart does not run it either.
    let out = stratagem(data, &["stage", &id, "limited"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("waits for a person's approval before LIMITED"),
        "{}",
        stderr(&out)
    );
    let before = stage_lines(data);
    let v = run_once(data);
    assert_eq!(v["funnel"]["reached_full"], 0);
    assert_eq!(stage_lines(data), before, "nothing ran while it waits");

    // A reviewer approves: the next run takes it through LIMITED to FULL.
    let out = stratagem(
        data,
        &[
            "review",
            "approve",
            &id,
            "--note",
            "drawdown acceptable",
            "--reviewer",
            "ana",
        ],
    );
    assert!(
        stdout(&out).contains("approved before LIMITED by ana"),
        "{}",
        stdout(&out)
    );
    let again = stratagem(data, &["review", "approve", &id]);
    assert!(
        stderr(&again).contains("is not waiting for review"),
        "{}",
        stderr(&again)
    );
    let v = run_once(data);
    assert_eq!(v["funnel"]["reached_full"], 1, "{v}");
    assert_eq!(
        json(&stratagem(data, &["review", "list", "--json"]))["items"]
            .clone()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let stages = std::fs::read_to_string(data.join("strategy_stages.jsonl")).unwrap();
    assert!(
        stages.contains("\"kind\":\"review.approved\"") && stages.contains("\"reviewer\":\"ana\""),
        "{stages}"
    );
}

#[test]
fn a_rejected_strategy_leaves_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    run_once(data);
    let waiting = json(&stratagem(data, &["review", "list", "--json"]))["items"].clone();
    let id = waiting[0]["strategy_id"].as_str().unwrap().to_string();
    let out = stratagem(data, &["review", "reject", &id, "--reason", " "]);
    assert!(
        stderr(&out).contains("--reason is empty"),
        "{}",
        stderr(&out)
    );
    let out = stratagem(
        data,
        &[
            "review",
            "reject",
            &id,
            "--reason",
            "too correlated with the champion",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = run_once(data);
    assert_eq!(v["funnel"]["reached_full"], 0);
    assert_eq!(
        json(&stratagem(data, &["review", "list", "--json"]))["items"]
            .clone()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let stages = std::fs::read_to_string(data.join("strategy_stages.jsonl")).unwrap();
    assert!(
        stages.contains("too correlated with the champion"),
        "{stages}"
    );
    let mut cmd = bin();
    let out = cmd
        .arg("--data-dir")
        .arg(data)
        .args(["review", "list"])
        .env("REQUIRE_APPROVAL_BEFORE", "cold")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("REQUIRE_APPROVAL_BEFORE=\"cold\" is not limited, full or none"),
        "{}",
        stderr(&out)
    );
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["review", "list"])
        .env("MODEL_REQUIRE_APPROVAL_BEFORE", "warm")
        .output()
        .unwrap();
    assert!(
        stderr(&out)
            .contains("MODEL_REQUIRE_APPROVAL_BEFORE=\"warm\" is not limited, full or none"),
        "{}",
        stderr(&out)
    );
}

/// While the daemon holds the log, a decision is handed to it through `review-inbox/` and
/// recorded at its next cycle; the strategy then goes on through LIMITED.
#[test]
fn a_decision_made_while_the_daemon_runs_is_handed_to_it_and_recorded() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut daemon = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--offline"])
        .arg(offline())
        .env("REQUIRE_APPROVAL_BEFORE", "limited")
        .env("RUN_TICK_SECONDS", "1")
        .env("METRICS_ADDR", "off")
        .env("CONSOLE_ADDR", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let events = |kind: &str| -> Vec<Value> {
        std::fs::read_to_string(data.join("strategy_stages.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == kind)
            .collect()
    };
    let wait_for = |what: &dyn Fn() -> bool, label: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !what() {
            assert!(Instant::now() < deadline, "timed out waiting for {label}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The strategy that passed WARM waits before LIMITED.
    wait_for(
        &|| {
            events("stage.promoted")
                .iter()
                .any(|e| e["data"]["to"] == "limited")
        },
        "a promotion to LIMITED",
    );
    let id = events("stage.promoted")
        .into_iter()
        .find(|e| e["data"]["to"] == "limited")
        .unwrap()["data"]["strategy_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = stratagem(data, &["review", "approve", &id, "--reviewer", "ana"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("handed to it") && stdout(&out).contains("review-inbox"),
        "{}",
        stdout(&out)
    );
    // The daemon records it, then runs LIMITED.
    wait_for(
        &|| {
            events("review.approved")
                .iter()
                .any(|e| e["data"]["strategy_id"] == id.as_str() && e["data"]["reviewer"] == "ana")
        },
        "the approval on the log",
    );
    wait_for(
        &|| {
            events("stage.completed")
                .iter()
                .any(|e| e["data"]["strategy_id"] == id.as_str() && e["data"]["stage"] == "limited")
        },
        "LIMITED to run",
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let code = daemon.wait().unwrap();
    assert!(code.success(), "{code:?}");
    // The handed-over file is gone; the approval is on the log once.
    let left = std::fs::read_dir(data.join("review-inbox"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
    assert_eq!(events("review.approved").len(), 1);
    let audit = stratagem(data, &["audit", "verify"]);
    assert!(audit.status.success(), "{}", stderr(&audit));
}
