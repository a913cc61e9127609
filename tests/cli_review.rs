//! The human checkpoint: with `REQUIRE_APPROVAL_BEFORE=limited` a strategy waits before LIMITED,
//! across restarts, until a person approves or rejects it with `stratagem review`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, stderr, stdout};
use serde_json::Value;

fn offline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources")
}

fn stratagem(data: &Path, args: &[&str]) -> Output {
    common::run_with(data, args, &[("REQUIRE_APPROVAL_BEFORE", "limited")])
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    serde_json::from_str(&stdout(out)).unwrap()
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
    let waiting = json(&stratagem(data, &["review", "list", "--json"]));
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
        json(&stratagem(data, &["review", "list", "--json"]))
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
    let waiting = json(&stratagem(data, &["review", "list", "--json"]));
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
        json(&stratagem(data, &["review", "list", "--json"]))
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
}
