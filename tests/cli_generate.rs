//! The strategies acceptance through the real binary: every template listed, then for each:
//! submit → generate → validate, approved 6/6, with every step on the log.

mod common;

use common::{fails, ok, run};
use serde_json::Value;

#[test]
fn each_template_is_generated_validated_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let listed: Value = common::data(&ok(&d, &["templates", "--json"])).unwrap();
    let names: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        let submitted: Value = common::data(&ok(
            &d,
            &[
                "submit",
                "--title",
                &format!("idea for {name}"),
                "--hypothesis",
                "h",
                "--json",
            ],
        ))
        .unwrap();
        let id = submitted["opportunity_id"].as_str().unwrap();
        let generated: Value = common::data(&ok(
            &d,
            &[
                "generate",
                "--opportunity",
                id,
                "--template",
                name,
                "--mode",
                "template",
                "--json",
            ],
        ))
        .unwrap();
        let path = generated["path"].as_str().unwrap();
        assert!(
            path.contains("generated_strategies/") && path.ends_with(".rs"),
            "{path}"
        );
        let source = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            generated["sha256"].as_str().unwrap(),
            stratagem_actors::generator::sha256_hex(&source)
        );
        let out = run(&d, &["validate", path]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {text}");
        assert!(
            text.contains("6/6 layers passed") && text.contains("recorded in the log"),
            "{text}"
        );
        // Generating again stores nothing new.
        let again: Value = common::data(&ok(
            &d,
            &[
                "generate",
                "--opportunity",
                id,
                "--template",
                name,
                "--json",
            ],
        ))
        .unwrap();
        assert_eq!(again["already_generated"], true);
        assert_eq!(again["strategy_id"], generated["strategy_id"]);
    }
    let status: Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["strategies_approved"], names.len());
    assert_eq!(status["strategies_in_validation"], 0);
    let generation = std::fs::read_to_string(d.join("strategy_generation.jsonl")).unwrap();
    assert_eq!(generation.lines().count(), names.len());
    let first: Value = serde_json::from_str(generation.lines().next().unwrap()).unwrap();
    assert_eq!(first["data"]["mode"], "template");
    assert!(first["data"]["source_code"]
        .as_str()
        .unwrap()
        .contains("impl Strategy for"));
    let validation = std::fs::read_to_string(d.join("strategy_validation.jsonl")).unwrap();
    assert_eq!(
        validation
            .lines()
            .filter(|l| l.contains("\"validation.decided\""))
            .count(),
        names.len()
    );
    assert!(ok(&d, &["audit", "verify"]).starts_with("chain ok"));
    assert!(ok(&d, &["audit", "replay"]).starts_with("identical"));
}

#[test]
fn generation_errors_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let submitted: Value = common::data(&ok(
        &d,
        &["submit", "--title", "t", "--hypothesis", "h", "--json"],
    ))
    .unwrap();
    let id = submitted["opportunity_id"].as_str().unwrap();
    let err = fails(&d, &["generate", "--opportunity", id]);
    assert!(
        err.contains("no template fits opportunity") && err.contains("--template"),
        "{err}"
    );
    let err = fails(
        &d,
        &["generate", "--opportunity", id, "--template", "astrology"],
    );
    assert!(
        err.contains("no template \"astrology\"; the templates are: momentum"),
        "{err}"
    );
    let err = fails(&d, &["generate", "--opportunity", "not-a-uuid"]);
    assert!(err.contains("is not an opportunity id"), "{err}");
    let err = fails(
        &d,
        &[
            "generate",
            "--opportunity",
            "01a21484-dd60-709d-bbdb-80a3cf309b21",
        ],
    );
    assert!(
        err.contains("no opportunity 01a21484-dd60-709d-bbdb-80a3cf309b21 in the log"),
        "{err}"
    );
}

/// The scorer and the generator make one template-fit decision: an idea the scorer says a
/// template fits is generated from that template, and one it says none fits is refused by
/// the generator too.
#[test]
fn the_scorer_and_the_generator_agree_on_the_template() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let submit = |title: &str, hypothesis: &str| common::submit_idea(&d, title, hypothesis);
    let rsi = submit(
        "RSI mean reversion on hourly BTC",
        "Buy when the 14-hour RSI falls below 30 and sell when it rises above 70: stretched moves revert to the mean.",
    );
    let vague = submit("t", "h");
    common::discover_manual(&d);
    let page = common::data(&ok(&d, &["opportunities", "--all", "--json"])).unwrap();
    let row = |id: &str| common::row_of(&page, id);
    let reason = row(&rsi)["scores"]["complexity"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    // An RSI rule is tested by the RSI template, its numbers carried.
    assert!(
        reason.contains("the rsi_reversal template fits"),
        "{reason}"
    );
    let generated = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            &rsi,
            "--mode",
            "template",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(generated["template"], "rsi_reversal", "{generated}");
    let carried: Vec<(String, f64)> = generated["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["origin"] == "opportunity")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    for stated in [("period", 14.0), ("oversold", 30.0), ("overbought", 70.0)] {
        assert!(
            carried.contains(&(stated.0.to_string(), stated.1)),
            "{stated:?} not carried: {generated}"
        );
    }
    // None fits: the scorer says so, and the generator refuses.
    let reason = row(&vague)["scores"]["complexity"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!reason.contains("template fits"), "{reason}");
    let err = fails(
        &d,
        &["generate", "--opportunity", &vague, "--mode", "template"],
    );
    assert!(err.contains("no template fits opportunity"), "{err}");
    assert!(err.contains("no trading rule recognised"), "{err}");
}
