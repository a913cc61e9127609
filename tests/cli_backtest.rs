//! `stratagem backtest` through the real binary on a user's own CSV of real bars.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::{bin, fails, ok};
use serde_json::Value;

const CLEAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/strategies/clean_momentum.rs"
);

/// 720 real hourly Coinbase bars rewritten as a user's file with unix-millisecond timestamps.
fn user_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv"
    ))
    .unwrap();
    let mut out = String::from("timestamp,open,high,low,close,volume\n");
    for (i, line) in text.lines().skip(5000).take(720).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            (1_600_000_000 + 3600 * i as i64) * 1000,
            f[1],
            f[2],
            f[3],
            f[4],
            f[5]
        ));
    }
    let path = dir.join("my_bars.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn metrics_agree_with_the_formulas_applied_to_the_exported_equity_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let csv = user_csv(tmp.path());
    let equity_out = tmp.path().join("equity.csv");
    let trades_out = tmp.path().join("trades.csv");
    let out: Value = backtest_json(
        &d,
        &[
            CLEAN,
            "--data",
            csv.to_str().unwrap(),
            "--equity-out",
            equity_out.to_str().unwrap(),
            "--trades-out",
            trades_out.to_str().unwrap(),
        ],
    );
    assert_eq!(out["bars"], 720);
    assert_eq!(out["bars_per_year"], 8760.0);
    let m = &out["metrics"];
    for key in [
        "total_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "win_rate",
        "profit_factor",
        "trades",
        "exposure",
        "turnover",
        "probabilistic_sharpe",
        "deflated_sharpe",
    ] {
        assert!(
            m.get(key).is_some_and(|v| !v.is_null()),
            "missing {key}: {m}"
        );
    }
    assert!(m["trades"].as_u64().unwrap() > 0);
    // Independently: per-bar returns of the exported curve, mean / sample std × √8760.
    let text = std::fs::read_to_string(&equity_out).unwrap();
    let equity: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(equity.len(), 721);
    let r: Vec<f64> = equity.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r.len() - 1) as f64;
    let sharpe = mean / var.sqrt() * 8760f64.sqrt();
    let mut peak = f64::MIN;
    let mut mdd: f64 = 0.0;
    for e in &equity {
        peak = peak.max(*e);
        mdd = mdd.max(1.0 - e / peak);
    }
    assert!(
        (m["sharpe"].as_f64().unwrap() - sharpe).abs() < 1e-9,
        "{} vs {sharpe}",
        m["sharpe"]
    );
    assert!(
        (m["max_drawdown"].as_f64().unwrap() - mdd).abs() < 1e-12,
        "{} vs {mdd}",
        m["max_drawdown"]
    );
    let trades = std::fs::read_to_string(&trades_out).unwrap();
    assert_eq!(
        trades.lines().count() as u64 - 1,
        m["trades"].as_u64().unwrap()
    );
    assert!(trades.starts_with("entry_time,exit_time,side,quantity,entry_price,exit_price,pnl\n"));
}

#[test]
fn a_generated_strategy_is_backtested_by_its_id_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let submitted: Value = common::data(&ok(
        &d,
        &["submit", "--title", "t", "--hypothesis", "h", "--json"],
    ))
    .unwrap();
    let generated: Value = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            submitted["opportunity_id"].as_str().unwrap(),
            "--template",
            "donchian_breakout",
            "--json",
        ],
    ))
    .unwrap();
    let id = generated["strategy_id"].as_str().unwrap();
    // The file may go: the log holds the source.
    std::fs::remove_file(generated["path"].as_str().unwrap()).unwrap();
    let out: Value = common::data(&ok(
        &d,
        &["--create", "backtest", id, "--days", "7", "--json"],
    ))
    .unwrap();
    assert_eq!(out["bars"], 168);
    assert!(out["buy_and_hold"]["sharpe"].is_number());
}

#[test]
fn bad_inputs_are_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let gappy = tmp.path().join("gappy.csv");
    std::fs::write(&gappy, "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,1,1,1,1,1\n2020-01-01T01:00:00Z,1,1,1,1,1\n2020-01-01T03:00:00Z,1,1,1,1,1\n2020-01-01T04:00:00Z,1,1,1,1,1\n").unwrap();
    let err = fails(
        &d,
        &[
            "--create",
            "backtest",
            CLEAN,
            "--data",
            gappy.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("is not a usable bar file")
            && err.contains("row 4: a gap of 7200 s where bars are 3600 s apart"),
        "{err}"
    );
    let hostile = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/hostile/include_bytes_passwd.rs"
    );
    let err = fails(&d, &["--create", "backtest", hostile]);
    assert!(
        err.contains("fails the security layer") && !err.contains("root:"),
        "{err}"
    );
    let err = fails(&d, &["--create", "backtest", CLEAN, "--fee-bps=-1"]);
    assert!(
        err.contains("--fee-bps -1 is not between 0 and 1000"),
        "{err}"
    );
    for (flag, said) in [
        (
            "--maker-fee-bps=-500",
            "--maker-fee-bps -500 is not between -100 (a rebate) and 1000",
        ),
        (
            "--fixed-fee=-1",
            "--fixed-fee -1 is not an amount of 0 or more",
        ),
        (
            "--borrow-bps-per-year=NaN",
            "--borrow-bps-per-year NaN is not between 0 and 100000",
        ),
        (
            "--data=store:kraken/XBTUSD/1h",
            "the venue is not binance or coinbase",
        ),
        (
            "--data=store:binance/BTCUSDT/1h",
            "the bar store has no bars of binance/BTCUSDT/1h",
        ),
    ] {
        let err = fails(&d, &["--create", "backtest", CLEAN, flag]);
        assert!(err.contains(said), "{flag}: {err}");
    }
    let err = fails(
        &d,
        &[
            "--create",
            "backtest",
            "01a21484-dd60-709d-bbdb-80a3cf309b21",
        ],
    );
    assert!(
        err.contains("no strategy 01a21484-dd60-709d-bbdb-80a3cf309b21 in the log"),
        "{err}"
    );
}

/// Regression: `stratagem … --json | head -1` panicked with "failed printing to stdout: Broken
/// pipe" because `println!` panics when the reader goes away.
#[test]
fn regression_a_closed_stdout_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["templates", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader leaves at once
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// `backtest … --json` in a data directory made for it: the envelope's data.
fn backtest_json(d: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["--create", "backtest"];
    all.extend_from_slice(args);
    all.push("--json");
    common::data(&ok(d, &all)).unwrap()
}

/// Sharpe of the exported equity curve: per-bar returns, mean / sample std × √bars a year.
fn sharpe_of_curve(path: &std::path::Path, bars_per_year: f64) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let equity: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let r: Vec<f64> = equity.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r.len() - 1) as f64;
    mean / var.sqrt() * bars_per_year.sqrt()
}

const GOOG_1D: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/goog_1d_2004-08-19_2013-03-01.csv"
);
const EURUSD_1H: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/eurusd_1h_2017-04-19_2018-02-07.csv"
);

#[test]
fn daily_equities_and_hourly_fx_with_their_closures_backtest_on_their_calendar() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for (file, calendar, bars, bars_per_year) in [
        (GOOG_1D, "equity", 2_148, 252.0),
        (EURUSD_1H, "fx", 5_000, 6_240.0),
    ] {
        let equity_out = tmp.path().join(format!("{calendar}.csv"));
        let out: Value = backtest_json(
            &d,
            &[
                CLEAN,
                "--data",
                file,
                "--equity-out",
                equity_out.to_str().unwrap(),
            ],
        );
        assert_eq!(out["bars"], bars);
        assert_eq!(out["calendar"], calendar);
        assert_eq!(out["calendar_inferred"], true);
        assert_eq!(out["bars_per_year"], bars_per_year);
        let printed = out["metrics"]["sharpe"].as_f64().unwrap();
        let recomputed = sharpe_of_curve(&equity_out, bars_per_year);
        assert!(printed != 0.0, "{calendar}: the strategy traded");
        assert!(
            (printed - recomputed).abs() < 1e-9,
            "{calendar}: {printed} vs {recomputed}"
        );
        let text = ok(&d, &["backtest", CLEAN, "--data", file]);
        assert!(
            text.contains(&format!(
                "calendar       {calendar:>9}     (inferred; annualised with {bars_per_year} bars a year)"
            )),
            "{text}"
        );
    }
    // Set by hand, the annualisation is the one given.
    let out: Value = common::data(&ok(
        &d,
        &[
            "backtest",
            CLEAN,
            "--data",
            EURUSD_1H,
            "--bars-per-year",
            "8760",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["bars_per_year"], 8760.0);
    // Said to be 24/7, the FX file is refused at its first weekend, row named.
    let err = fails(
        &d,
        &[
            "backtest",
            CLEAN,
            "--data",
            EURUSD_1H,
            "--calendar",
            "crypto",
        ],
    );
    assert!(
        err.contains("row 62: a gap of 176400 s where bars are 3600 s apart"),
        "{err}"
    );
    let err = fails(
        &d,
        &[
            "backtest",
            CLEAN,
            "--data",
            EURUSD_1H,
            "--calendar",
            "lunar",
        ],
    );
    assert!(
        err.contains("--calendar \"lunar\" is not crypto, equity or fx"),
        "{err}"
    );
}

#[test]
fn columns_in_another_order_give_the_same_backtest_and_an_inverted_bar_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    // The FX file with its columns reversed: Volume,Close,Low,High,Open,<index>.
    let text = std::fs::read_to_string(EURUSD_1H).unwrap();
    let reversed: String = text
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.reverse();
            format!("{}\n", f.join(","))
        })
        .collect();
    let reordered = tmp.path().join("reordered.csv");
    std::fs::write(&reordered, &reversed).unwrap();
    // Each in a data directory of its own: a second run in one would be a second trial.
    let run = |file: &str, dir: &str| -> Value {
        let mut v: Value = common::data(&ok(
            &tmp.path().join(dir),
            &["--create", "backtest", CLEAN, "--data", file, "--json"],
        ))
        .unwrap();
        v["data"] = Value::Null;
        v["strategy"] = Value::Null;
        v
    };
    assert_eq!(
        run(EURUSD_1H, "original"),
        run(reordered.to_str().unwrap(), "reordered")
    );
    // A bar whose high is below its low, named by its row.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut f: Vec<String> = lines[100].split(',').map(str::to_string).collect();
    f.swap(2, 3);
    lines[100] = f.join(",");
    let inverted = tmp.path().join("inverted.csv");
    std::fs::write(&inverted, lines.join("\n")).unwrap();
    let err = fails(
        &d,
        &[
            "--create",
            "backtest",
            CLEAN,
            "--data",
            inverted.to_str().unwrap(),
        ],
    );
    let expected = format!(
        "row 101: high {} and low {} do not bound open {} and close {}",
        f[2].parse::<f64>().unwrap(),
        f[3].parse::<f64>().unwrap(),
        f[1].parse::<f64>().unwrap(),
        f[4].parse::<f64>().unwrap()
    );
    assert!(err.contains(&expected), "{err}");
}

const SMA_CROSS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/strategies/sma_cross_10_50.rs"
);
const SHORT_AND_HOLD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/strategies/short_and_hold.rs"
);
const COINBASE_1H: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv"
);

/// The reference: SMA 10/50 of closes decided at each close, filled at the next open with all
/// the equity (fractional units), no costs. Written from the definition, independent of the
/// engine.
fn sma_cross_oracle(bars: &[(f64, f64)], capital: f64) -> f64 {
    let (mut cash, mut units) = (capital, 0.0_f64);
    let mut want_long: Option<bool> = None;
    for (i, &(open, _)) in bars.iter().enumerate() {
        match want_long {
            Some(true) if units == 0.0 => {
                units = cash / open;
                cash = 0.0;
            }
            Some(false) if units > 0.0 => {
                cash = units * open;
                units = 0.0;
            }
            _ => {}
        }
        let closes: Vec<f64> = bars[..=i].iter().map(|b| b.1).collect();
        want_long = (closes.len() >= 50).then(|| {
            let sma = |n: usize| closes[closes.len() - n..].iter().sum::<f64>() / n as f64;
            sma(10) > sma(50)
        });
    }
    cash + units * bars.last().unwrap().1
}

#[test]
fn equity_sizing_matches_an_all_equity_sma_crossover_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let equity_out = tmp.path().join("equity.csv");
    let out: Value = backtest_json(
        &d,
        &[
            SMA_CROSS,
            "--days",
            "90",
            "--sizing",
            "equity",
            "--fee-bps",
            "0",
            "--slippage-bps",
            "0",
            "--equity-out",
            equity_out.to_str().unwrap(),
        ],
    );
    // The same 90 days of the embedded (gap-free) hourly bars.
    let text = std::fs::read_to_string(COINBASE_1H).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let stamp = |r: &Vec<String>| {
        time::OffsetDateTime::parse(&r[0], &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    };
    let last = stamp(rows.last().unwrap());
    let bars: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| stamp(r) > last - 90 * 86_400)
        .map(|r| (r[1].parse().unwrap(), r[4].parse().unwrap()))
        .collect();
    assert_eq!(out["bars"], bars.len());
    let expected = sma_cross_oracle(&bars, 100_000.0);
    let curve = std::fs::read_to_string(&equity_out).unwrap();
    let final_equity: f64 = curve
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ((final_equity - expected) / expected).abs() < 1e-9,
        "{final_equity} vs the reference {expected}"
    );
    assert!(out["metrics"]["trades"].as_u64().unwrap() > 3, "{out}");
    assert!(
        (expected / 100_000.0 - 1.0).abs() > 0.01,
        "the reference moved"
    );
}

#[test]
fn a_short_through_a_bull_market_is_liquidated_at_zero_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    // July to December 2017: BTC from about 2,500 to about 19,000 dollars.
    let text = std::fs::read_to_string(COINBASE_1H).unwrap();
    let bull: String = text.lines().take(4_200).map(|l| format!("{l}\n")).collect();
    let csv = tmp.path().join("bull.csv");
    std::fs::write(&csv, bull).unwrap();
    let out: Value = backtest_json(&d, &[SHORT_AND_HOLD, "--data", csv.to_str().unwrap()]);
    let liquidated = &out["liquidated"];
    assert!(liquidated.is_object(), "{out}");
    assert_eq!(out["metrics"]["max_drawdown"], 1.0);
    assert_eq!(out["metrics"]["total_return"], -1.0);
    let text = ok(
        &d,
        &["backtest", SHORT_AND_HOLD, "--data", csv.to_str().unwrap()],
    );
    assert!(
        text.contains("LIQUIDATED     equity reached zero at 2017-"),
        "{text}"
    );
    assert!(text.contains("max drawdown      100.00 %"), "{text}");
    for line in text.lines().filter(|l| l.contains('%')) {
        let pct: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse::<f64>().ok())
            .collect();
        if line.starts_with("max drawdown") {
            assert!(pct.iter().all(|p| *p <= 100.0), "{line}");
        }
    }
}

#[test]
fn a_table_of_the_future_backtests_too_well_to_be_believed_and_is_called_implausible() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    // The flag of each of the last 30 days' bars: whether the next bar closes above its open,
    // the bar a signal fills in. Written into the code, it is the future.
    let flags = common::next_bar_flags(720);
    let file = tmp.path().join("flags.rs");
    std::fs::write(&file, common::flag_table_strategy(&flags)).unwrap();
    let out: Value = backtest_json(
        &d,
        &[
            file.to_str().unwrap(),
            "--data",
            "coinbase-1h",
            "--days",
            "30",
        ],
    );
    let why = out["implausible"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        why.starts_with("implausible: check for look-ahead ("),
        "{why}"
    );
    assert!(out["metrics"]["sharpe"].as_f64().unwrap() > 6.0, "{out}");
    let text = ok(&d, &["backtest", file.to_str().unwrap(), "--days", "30"]);
    assert!(
        text.contains("IMPLAUSIBLE    implausible: check for look-ahead"),
        "{text}"
    );
    // An honest strategy on the same bars is not flagged.
    let honest: Value =
        common::data(&ok(&d, &["backtest", CLEAN, "--days", "30", "--json"])).unwrap();
    assert_eq!(honest["implausible"], Value::Null, "{honest}");
}

#[test]
fn a_window_too_short_prints_no_annualised_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let text = ok(&d, &["--create", "backtest", CLEAN, "--days", "1"]);
    assert!(text.contains("sharpe         n/a (24 bars)"), "{text}");
    assert!(text.contains("calmar         n/a (24 bars)"), "{text}");
    let long = ok(&d, &["backtest", CLEAN, "--days", "30"]);
    assert!(!long.contains("n/a ("), "{long}");
}

/// Debian's Chromium, headless, as the README's test command installs it. Returns what it
/// printed (written to a file: a pipe would fill and stall it).
fn chromium(profile: &std::path::Path, args: &[&str]) -> String {
    let exe = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let printed = profile.with_extension("out");
    let mut child = std::process::Command::new(&exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{exe}: {e} (the README's test command installs Debian's chromium)")
        });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::read_to_string(&printed).unwrap_or_default()
}

#[test]
fn the_tear_sheet_draws_its_charts_and_lists_every_trade_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let report = tmp.path().join("report.html");
    let out: Value = backtest_json(
        &d,
        &[CLEAN, "--days", "120", "--report", report.to_str().unwrap()],
    );
    let trades = out["metrics"]["trades"].as_u64().unwrap();
    assert!(trades > 10, "{out}");
    let html = std::fs::read_to_string(&report).unwrap();
    for outside in ["http://", "https://", " src=", "@import", "url("] {
        assert!(!html.contains(outside), "the page fetches {outside}");
    }
    let url = format!("file://{}", report.display());
    let dom = chromium(
        &tmp.path().join("profile-dom"),
        &["--virtual-time-budget=5000", "--dump-dom", &url],
    );
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_else(|| panic!("no body in {dom}"));
    assert!(
        body.contains("data-equity-paths-drawn=\"2\""),
        "both equity paths have a drawn length: {body}"
    );
    assert!(
        body.contains(&format!("data-trade-rows=\"{trades}\"")),
        "the trade table has the run's {trades} trades: {body}"
    );
    let shot = tmp.path().join("report.png");
    chromium(
        &tmp.path().join("profile-shot"),
        &[
            "--window-size=1100,1400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn every_backtest_is_a_trial_of_its_family_on_the_log_and_deflates_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let run = |file: &str| -> Value {
        common::data(&ok(
            &d,
            &["--create", "backtest", file, "--days", "30", "--json"],
        ))
        .unwrap()
    };
    let first = run(CLEAN);
    assert_eq!(first["family"], "file:CleanMomentumStrategy");
    assert_eq!(first["trials"], 1);
    let second = run(CLEAN);
    assert_eq!(second["trials"], 2, "the first run is counted");
    // The same Sharpe, deflated over more trials.
    assert_eq!(second["metrics"]["sharpe"], first["metrics"]["sharpe"]);
    assert!(
        second["metrics"]["deflated_sharpe"].as_f64().unwrap()
            < first["metrics"]["deflated_sharpe"].as_f64().unwrap(),
        "{first} {second}"
    );
    // Another family has trials of its own.
    assert_eq!(run(SMA_CROSS)["trials"], 1);
    let stages = std::fs::read_to_string(d.join("strategy_stages.jsonl")).unwrap();
    let trials: Vec<Value> = stages
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["kind"] == "backtest.trial")
        .collect();
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0]["data"]["family"], "file:CleanMomentumStrategy");
    assert_eq!(trials[0]["data"]["bars"], 720);
    ok(&d, &["audit", "verify"]);
}

/// A second backtest of the same file runs no rustc and compiles nothing: the module comes
/// from `DATA_DIR/cache` (found without looking for rustc or the jail, here made impossible to
/// find) and wasmtime's machine code from `DATA_DIR/cache/native`. Both runs trade alike, and
/// each says where its time went (the < 50 ms target is a release-build figure in the notes).
#[test]
fn a_second_backtest_of_a_file_runs_no_rustc_and_compiles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/strategies/clean_momentum.rs")
        .display()
        .to_string();
    let args = [
        "--create",
        "backtest",
        &file,
        "--days",
        "60",
        "--timings",
        "--json",
    ];
    let first = common::data(&ok(d, &args)).unwrap();
    let native: Vec<_> = std::fs::read_dir(d.join("cache/native"))
        .expect("wasmtime's cache directory")
        .collect();
    assert!(!native.is_empty(), "nothing cached in cache/native");
    let out = common::run_with(
        d,
        &args,
        &[
            ("RUSTC", "/nonexistent/rustc"),
            ("STRATAGEM_BWRAP", "/nonexistent/bwrap"),
            ("PATH", "/nonexistent"),
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let second = common::data(&common::stdout(&out)).unwrap();
    // The same trades and figures (the deflated Sharpe counts one more trial of the family).
    for key in [
        "sharpe",
        "total_return",
        "max_drawdown",
        "trades",
        "turnover",
    ] {
        assert_eq!(second["metrics"][key], first["metrics"][key], "{key}");
    }
    assert_eq!(second["fills"], first["fills"]);
    assert_eq!(second["trials"], 2);
    for run in [&first, &second] {
        let t = &run["timings"];
        assert!(t["before_first_bar_ms"].as_f64().unwrap() > 0.0, "{t}");
        assert!(t["run_ms"].as_f64().unwrap() > 0.0, "{t}");
        assert!(t["bars_per_second"].as_f64().unwrap() > 0.0, "{t}");
    }
    eprintln!(
        "before the first bar: {} ms, then {} ms (debug build)",
        first["timings"]["before_first_bar_ms"], second["timings"]["before_first_bar_ms"]
    );
}

/// `--walk-forward K`: K folds over K + 1 equal blocks, each with its in-sample figure (the
/// blocks before it) beside its out-of-sample one. The in-sample Sharpe of fold k is exactly
/// the Sharpe of a backtest of those bars alone (a strategy sees one closed bar at a time, so
/// the bars after cannot change it).
#[test]
fn walk_forward_folds_match_backtests_of_their_in_sample_bars() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let csv = |rows: usize, name: &str| -> String {
        let path = tmp.path().join(name);
        std::fs::write(&path, lines[..=rows].join("\n") + "\n").unwrap();
        path.display().to_string()
    };
    let all = csv(1_000, "all.csv");
    let full = backtest_json(&d, &[CLEAN, "--data", &all, "--walk-forward", "4"]);
    let folds = full["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 4, "{full}");
    for (k, f) in folds.iter().enumerate() {
        let k = k + 1;
        assert_eq!(f["train_end"], k * 1_000 / 5);
        assert_eq!(f["test_end"], (k + 1) * 1_000 / 5);
        assert_eq!(f["chosen"], 0);
        assert_eq!(f["test"]["bars"], 200);
    }
    assert_eq!(full["out_of_sample"]["bars"], 800);
    for k in [2usize, 4] {
        let first = csv(k * 200, &format!("first_{k}.csv"));
        let alone = backtest_json(&d, &[CLEAN, "--data", &first]);
        let in_sample = folds[k - 1]["train_sharpe"].as_f64().unwrap();
        let sharpe = alone["metrics"]["sharpe"].as_f64().unwrap();
        assert!(
            (in_sample - sharpe).abs() <= 1e-9 * sharpe.abs().max(1.0),
            "fold {k}: {in_sample} vs {sharpe}"
        );
    }
    let refused = common::fails(
        &d,
        &["backtest", CLEAN, "--data", &all, "--walk-forward", "40"],
    );
    assert!(refused.contains("folds are from 1 to 20"), "{refused}");
}
