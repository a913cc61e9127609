//! `sweep`: a template over a grid of its parameters, each point a trial of its family, the
//! deflated Sharpe over the whole sweep, and walk-forward folds chosen on their past only.

mod common;

use common::{data, fails, ok};
use serde_json::Value;

fn sweep(d: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--create",
        "sweep",
        "momentum",
        "--param",
        "lookback=12,48",
        "--param",
        "threshold=0.005,0.02",
        "--days",
        "90",
    ];
    args.extend_from_slice(extra);
    args.push("--json");
    data(&ok(d, &args)).unwrap()
}

#[test]
fn every_point_is_a_trial_and_each_fold_is_measured_on_bars_it_was_not_chosen_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let first = sweep(d, &["--walk-forward", "3"]);
    let points = first["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{first}");
    assert_eq!(first["trials"], 4);
    assert_eq!(first["family"], "momentum");
    // Every point deflated over the four trials: below its own probabilistic Sharpe.
    for p in points {
        let m = &p["metrics"];
        if let (Some(psr), Some(dsr)) = (
            m["probabilistic_sharpe"].as_f64(),
            m["deflated_sharpe"].as_f64(),
        ) {
            if m["sharpe"].as_f64().unwrap() > 0.0 {
                assert!(dsr < psr, "{p}");
            }
        }
    }
    let sharpes: Vec<f64> = points
        .iter()
        .map(|p| p["metrics"]["sharpe"].as_f64().unwrap())
        .collect();
    let best = first["best"].as_u64().unwrap() as usize;
    assert!(sharpes.iter().all(|s| *s <= sharpes[best]), "{sharpes:?}");
    // The grid's points are distinct strategies: they do not all trade alike.
    assert!(sharpes.iter().any(|s| (s - sharpes[0]).abs() > 1e-9));
    // Three anchored folds over four equal blocks.
    let n = first["bars"].as_u64().unwrap();
    let folds = first["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    for (k, f) in folds.iter().enumerate() {
        let k = k as u64 + 1;
        assert_eq!(f["train_end"].as_u64().unwrap(), k * n / 4, "{f}");
        assert_eq!(f["test_end"].as_u64().unwrap(), (k + 1) * n / 4, "{f}");
        assert!(f["chosen"].as_u64().unwrap() < 4);
    }
    let oos = &first["out_of_sample"];
    assert_eq!(oos["bars"].as_u64().unwrap(), n - n / 4, "{oos}");
    // On the log: four trials of the family, and a second sweep counts eight.
    let log = std::fs::read_to_string(d.join("strategy_stages.jsonl")).unwrap();
    let trials = log
        .lines()
        .filter(|l| l.contains("\"backtest.trial\"") && l.contains("\"momentum\""))
        .count();
    assert_eq!(trials, 4);
    let second = sweep(d, &[]);
    assert_eq!(second["trials"], 8);
    assert_eq!(second["folds"].as_array().unwrap().len(), 0);
    for (a, b) in points.iter().zip(second["points"].as_array().unwrap()) {
        assert_eq!(
            a["metrics"]["sharpe"], b["metrics"]["sharpe"],
            "same bars, same trades"
        );
    }
    ok(d, &["audit", "verify"]);
}

#[test]
fn a_grid_outside_the_templates_ranges_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (args, says) in [
        (
            vec!["sweep", "momentum", "--param", "nope=1"],
            "has no parameter",
        ),
        (
            vec!["sweep", "momentum", "--param", "lookback=1"],
            "outside its range",
        ),
        (
            vec!["sweep", "momentum", "--param", "lookback=12.5"],
            "not a whole number",
        ),
        (vec!["sweep", "no_such_template"], "no template"),
        (
            vec!["sweep", "momentum", "--walk-forward", "3", "--days", "2"],
            "blocks under",
        ),
    ] {
        let mut all = vec!["--create"];
        all.extend(args);
        let err = fails(d, &all);
        assert!(err.contains(says), "{all:?}: {err}");
    }
}
