//! Eight ideas, each submitted by hand, each scoring above the submission threshold, each
//! fitting a template with its own parameters: one `run --once` over them generates and
//! validates eight different strategies (the pipeline-concurrency test and benchmark).

use std::path::Path;
use std::process::Command;

/// Title and hypothesis of each idea.
pub const EIGHT_IDEAS: [(&str, &str); 8] = [
    ("Bitcoin breakout above the 20-day high", "Buy BTC when the close breaks the 20-day Donchian channel high; stop-loss at the channel low; no leverage."),
    ("Time-series momentum in crypto with a 48-hour lookback", "Go long bitcoin when its 48 hour return is positive and flat otherwise; position sized to one unit, no leverage."),
    ("Short-term reversal of overextended BTC moves", "Mean reversion: when price sits two standard deviations under its 24-hour moving average, buy and exit at the mean; z-score entry."),
    ("Volatility targeting on a trend filter for digital assets", "Scale exposure to a 30% annualised volatility target while price is above its 100-hour moving average; trend following with volatility-targeted sizing."),
    ("Channel breakout with a 55-bar window on Bitcoin perpetuals", "Turtle-style entries on a 55 bar high breakout, exits on a 20 bar low, trading the hourly BTC chart unleveraged."),
    ("Cross-horizon momentum: the 12-hour trend of ether and bitcoin", "Momentum signal from 12 hour lookback returns; enter long on strength, exit when the return turns negative."),
    ("Bollinger band fade on hourly bitcoin candles", "Fade moves outside Bollinger bands with a 50-bar lookback and 2.5 sigma threshold; revert to the middle band."),
    ("Risk-parity style trend following with a volatility target of 20 percent", "Follow the 200-hour trend and size positions inversely to realised volatility, targeting 20% annual volatility."),
];

/// The sources' names: an offline folder with one empty folder each checks nothing.
pub const SOURCES: [&str; 7] = [
    "arxiv",
    "reddit",
    "twitter",
    "defillama",
    "edgar",
    "network",
    "manual",
];

/// Submits the eight ideas to the data directory `data` with `bin` (the binary, settings
/// cleared), and makes `offline` a folder of empty recordings.
pub fn prepare(bin: impl Fn() -> Command, data: &Path, offline: &Path) {
    for s in SOURCES {
        std::fs::create_dir_all(offline.join(s)).unwrap();
    }
    for (title, hypothesis) in EIGHT_IDEAS {
        let out = bin()
            .arg("--data-dir")
            .arg(data)
            .args(["submit", "--title", title, "--hypothesis", hypothesis])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// How long the validations of a run took on its log: from the first `validation.started` to
/// the last `validation.decided` (their recorded times), and how many were decided.
pub fn validation_window(data: &Path) -> (std::time::Duration, usize) {
    let text = std::fs::read_to_string(data.join("strategy_validation.jsonl")).unwrap();
    let (mut first, mut last, mut decided) = (i64::MAX, i64::MIN, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = micros(v["recorded_at"].as_str().unwrap());
        match v["kind"].as_str() {
            Some("validation.started") => first = first.min(at),
            Some("validation.decided") => {
                last = last.max(at);
                decided += 1;
            }
            _ => {}
        }
    }
    let span = u64::try_from(last - first).unwrap_or(0);
    (std::time::Duration::from_micros(span), decided)
}

/// Microseconds since the epoch of an audit line's `recorded_at` (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn micros(at: &str) -> i64 {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let t = time::PrimitiveDateTime::parse(at, &format)
        .unwrap()
        .assume_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap()
}
