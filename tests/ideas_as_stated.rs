//! Ideas tested as stated, through the real binary: the three ideas of the issue submitted as
//! a user writes them, read for their needs, decided by the one template-fit decision, and
//! shown with it in `opportunities`, `generate`, `trace` and the refusal of an idea no
//! template covers.

mod common;

use common::{fails, ok};
use serde_json::Value;

const TREND: (&str, &str) = (
    "Trend following in crypto",
    "A 20/100-day moving average crossover on BTC: long when the fast average is above the slow one, short below, with a 2 % stop loss.",
);
const PAIRS: (&str, &str) = (
    "Pairs trading ETH and BTC via cointegration",
    "ETH and BTC are cointegrated: short the spread when it is 2 standard deviations above its mean, long it 2 below, close when it reverts.",
);
const CARRY: (&str, &str) = (
    "Funding rate carry in perpetual futures",
    "When the BTC perpetual's funding rate is positive, short the perpetual and hedge with spot, collecting the funding every 8 hours.",
);

#[test]
fn the_three_ideas_are_fitted_honestly_and_say_so_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let trend = common::submit_idea(&d, TREND.0, TREND.1);
    let pairs = common::submit_idea(&d, PAIRS.0, PAIRS.1);
    let carry = common::submit_idea(&d, CARRY.0, CARRY.1);
    ok(
        &d,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            common::offline().to_str().unwrap(),
        ],
    );
    let page = common::data(&ok(&d, &["opportunities", "--all", "--json"])).unwrap();
    let row = |id: &str| -> Value {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .unwrap()
            .clone()
    };
    // The trend idea: its own rule, template and numbers.
    let t = row(&trend);
    assert_eq!(t["status"], "submitted", "{t}");
    assert_eq!(t["template"], "ma_crossover", "{t}");
    assert_eq!(t["needs"]["signal"], "ma_crossover", "{t}");
    assert_eq!(t["fit"]["route"], "template", "{t}");
    let notes = t["fit"]["fidelity"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["rule"] == "stop_loss" && n["implemented"] == true),
        "{t}"
    );
    // The pair and the carry: held with the reason, never forced into a single-series template,
    // whatever they scored.
    for (id, words) in [
        (
            &pairs,
            "no template fits: needs 2 legs (ETH, BTC) and a spread z-score signal",
        ),
        (
            &carry,
            "no template fits: needs 2 legs (BTC-PERP, BTC), funding rate data",
        ),
    ] {
        let o = row(id);
        assert_eq!(o["status"], "held", "{o}");
        assert!(o["template"].is_null(), "{o}");
        assert_eq!(o["fit"]["route"], "held", "{o}");
        let reason = o["fit"]["reason"].as_str().unwrap();
        assert!(reason.contains(words), "{reason}");
        let complexity = o["scores"]["complexity"]["reason"].as_str().unwrap();
        assert!(complexity.contains(words), "{complexity}");
        let err = fails(&d, &["generate", "--opportunity", id, "--mode", "template"]);
        assert!(err.contains("no template fits opportunity"), "{err}");
        assert!(
            err.contains(words.trim_start_matches("no template fits: ")),
            "{err}"
        );
    }
    // The text view says the same.
    let text = ok(&d, &["opportunities", "--all"]);
    assert!(text.contains("needs       2 leg(s) (ETH, BTC)"), "{text}");
    assert!(
        text.contains("[implemented]     a stop-loss of 2%: as stop_loss 0.02"),
        "{text}"
    );
    // Generated from its template with the idea's numbers.
    let generated = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            &trend,
            "--mode",
            "template",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(generated["template"], "ma_crossover", "{generated}");
    let param = |name: &str| -> Value {
        generated["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    for (name, value) in [
        ("fast", 480.0),
        ("slow", 2400.0),
        ("stop_loss", 0.02),
        ("exponential", 0.0),
    ] {
        let p = param(name);
        assert_eq!(p["value"].as_f64(), Some(value), "{p}");
        assert_eq!(p["origin"], "opportunity", "{p}");
    }
    // Its trace shows the reading, with the fit and the needs.
    let strategy = generated["strategy_id"].as_str().unwrap();
    let trace = ok(&d, &["trace", strategy]);
    assert!(trace.contains("opportunity.read"), "{trace}");
    assert!(
        trace.contains("read by rules: needs 1 leg(s) (BTC); ohlcv data; daily bars; moving-average crossover signal; rules: a stop-loss of 2%"),
        "{trace}"
    );
}
