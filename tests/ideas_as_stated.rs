//! Ideas tested as stated, through the real binary: the three ideas of the issue submitted as
//! a user writes them, read for their needs, decided by the one template-fit decision, and
//! shown with it in `opportunities`, `generate`, `trace` and the refusal of an idea no
//! template covers.

mod common;

use std::path::Path;
use std::process::Output;

use common::http::{LoopbackServer, Recorded, Reply};
use common::{fails, ok};
use serde_json::{json, Value};

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

const SENTIMENT: (&str, &str) = (
    "Twitter sentiment predicts bitcoin",
    "Go long BTC when the sentiment of tweets about bitcoin turns positive; it has a Sharpe ratio of 2.",
);

#[test]
fn the_three_ideas_are_fitted_honestly_and_say_so_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let trend = common::submit_idea(&d, TREND.0, TREND.1);
    let pairs = common::submit_idea(&d, PAIRS.0, PAIRS.1);
    let carry = common::submit_idea(&d, CARRY.0, CARRY.1);
    let sentiment = common::submit_idea(&d, SENTIMENT.0, SENTIMENT.1);
    common::discover_manual(&d);
    let page = common::data(&ok(&d, &["opportunities", "--all", "--json"])).unwrap();
    let row = |id: &str| common::row_of(&page, id);
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
    // The pair: the template over two series, never a single-series one.
    let p = row(&pairs);
    assert_eq!(p["template"], "pairs_spread", "{p}");
    assert_eq!(p["needs"]["leg_count"], 2, "{p}");
    assert_eq!(p["needs"]["legs"], json!(["ETH", "BTC"]), "{p}");
    // The carry: the perpetual against its spot, reading funding rates.
    let c = row(&carry);
    assert_eq!(c["template"], "funding_carry", "{c}");
    assert_eq!(c["needs"]["legs"], json!(["BTC-PERP", "BTC"]), "{c}");
    assert_eq!(c["needs"]["data"], json!(["ohlcv", "funding_rate"]), "{c}");
    // An idea that reads tweets: held with the reason, never forced into a template that tests
    // another idea, whatever it scored.
    {
        let (id, words) = (&sentiment, "no template fits: needs text data");
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
        text.contains("fit         the pairs_spread template covers its spread z-score signal"),
        "{text}"
    );
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
    // The pair backtests over two recorded series, both legs' fills in its trades CSV.
    let pair = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            &pairs,
            "--mode",
            "template",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(pair["template"], "pairs_spread", "{pair}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let legs = format!(
        "{},{}",
        root.join("coinbase_btcusd_1h_2017-07-01_2019-10-17.csv")
            .display(),
        root.join("eurusd_1h_2017-04-19_2018-02-07.csv").display()
    );
    // `backtest STRATEGY --legs BTC,EURUSD EXTRA… --json`.
    let backtest = |strategy: &str, extra: &[&str]| -> Value {
        let mut args = vec!["backtest", strategy, "--legs", &legs];
        args.extend_from_slice(extra);
        args.push("--json");
        common::data(&ok(&d, &args)).unwrap()
    };
    let fills = tmp.path().join("fills.csv");
    let sheet = tmp.path().join("pair.html");
    let run = backtest(
        pair["strategy_id"].as_str().unwrap(),
        &[
            "--trades-out",
            fills.to_str().unwrap(),
            "--report",
            sheet.to_str().unwrap(),
        ],
    );
    // The tear sheet is the portfolio's: both series named, its equity drawn.
    let html = std::fs::read_to_string(&sheet).unwrap();
    assert!(
        html.contains("(legs, aligned by time)"),
        "the legs are named"
    );
    assert!(html.contains("eurusd_1h_2017-04-19_2018-02-07.csv"));
    // … with a row a leg (its fills and fees) and the book's net and gross exposure.
    assert!(html.contains("<table id=\"legs\">"), "the legs' table");
    assert!(html.contains("id=\"exposure\">net exposure mean"));
    assert!(html.contains("id=\"exposure-chart\""));
    let exposure = &run["exposure"];
    // The spread mostly offsets: its mean net exposure is well inside its mean gross one.
    let (net, gross) = (
        exposure["net_mean"].as_f64().unwrap(),
        exposure["gross_mean"].as_f64().unwrap(),
    );
    assert!(gross > 0.0 && net.abs() < gross / 2.0, "{exposure}");
    assert!(exposure["gross_max"].as_f64().unwrap() >= exposure["net_max_abs"].as_f64().unwrap());
    assert!(run["steps"].as_u64().unwrap() > 3000, "{run}");
    let per_leg = run["legs"].as_array().unwrap();
    assert_eq!(per_leg.len(), 2, "{run}");
    let sum: f64 = per_leg
        .iter()
        .map(|l| l["final_equity"].as_f64().unwrap())
        .sum();
    let total = run["final_equity"].as_f64().unwrap();
    assert!((sum - total).abs() < 1e-6 * total, "{sum} vs {total}");
    let csv = std::fs::read_to_string(&fills).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp,leg,series,quantity,price,fee,position")
    );
    let legs_seen: std::collections::HashSet<&str> =
        lines.map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(legs_seen, ["0", "1"].into_iter().collect());
    // The first leg as a perpetual: its book pays funding at each funding time it holds a
    // position through (rates constructed here, 0.01 % every 8 hours: the mechanics, not a
    // recording), and the run is otherwise the same.
    let rates = tmp.path().join("funding.csv");
    let mut text = String::from("timestamp,funding_rate\n");
    let mut t = 1_498_867_200i64; // 2017-07-01T00:00:00Z
    while t < 1_518_048_000 {
        text.push_str(&format!("{t},0.0001\n"));
        t += 8 * 3600;
    }
    std::fs::write(&rates, text).unwrap();
    // (The arithmetic, payment by payment against the equity, is the book's unit test:
    // `a_perpetuals_book_pays_funding_on_the_position_held_at_each_funding_time`.)
    let funded = backtest(
        pair["strategy_id"].as_str().unwrap(),
        &["--funding", rates.to_str().unwrap()],
    );
    let perp = &funded["legs"][0];
    assert!(perp["funding_payments"].as_u64().unwrap() > 10, "{perp}");
    assert!(perp["funding_paid"].as_f64().unwrap().abs() > 0.0, "{perp}");
    assert_eq!(funded["legs"][1]["funding_payments"], 0);
    assert_ne!(funded["final_equity"], run["final_equity"]);
    // The carry template reads the funding the host gives its perpetual leg (the same series
    // and constructed rates: its mechanics, not a market's), sells the perpetual and buys the
    // spot, and collects the funding the longs pay.
    let carry_strategy = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            &carry,
            "--mode",
            "template",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(
        carry_strategy["template"], "funding_carry",
        "{carry_strategy}"
    );
    let carried = backtest(
        carry_strategy["strategy_id"].as_str().unwrap(),
        &["--funding", rates.to_str().unwrap()],
    );
    let perp = &carried["legs"][0];
    assert!(perp["funding_payments"].as_u64().unwrap() > 100, "{perp}");
    assert!(
        perp["funding_paid"].as_f64().unwrap() < 0.0,
        "a short collects positive funding: {perp}"
    );
    std::fs::write(
        &rates,
        "timestamp,funding_rate\n2017-07-01T00:00:00Z,lots\n",
    )
    .unwrap();
    let err = fails(
        &d,
        &[
            "backtest",
            pair["strategy_id"].as_str().unwrap(),
            "--legs",
            &legs,
            "--funding",
            rates.to_str().unwrap(),
        ],
    );
    assert!(err.contains("row 2: the rate does not read"), "{err}");
    // Given one series, the pair is refused by name.
    let err = fails(&d, &["backtest", pair["strategy_id"].as_str().unwrap()]);
    assert!(err.contains("trades 2 series"), "{err}");
    // Its trace shows the reading, with the fit and the needs.
    let strategy = generated["strategy_id"].as_str().unwrap();
    let trace = ok(&d, &["trace", strategy]);
    assert!(trace.contains("opportunity.read"), "{trace}");
    assert!(
        trace.contains("read by rules: needs 1 leg(s) (BTC); ohlcv data; daily bars; moving-average crossover signal; rules: a stop-loss of 2%"),
        "{trace}"
    );
}

/// An OpenAI-compatible reply whose content is `text`.
fn chat(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "reader-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 700, "completion_tokens": 120}
        }),
    )
}

fn with_model(data: &Path, server: &LoopbackServer, args: &[&str]) -> Output {
    let mut cmd = common::bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CODEGEN_RETRY_BACKOFF_MS", "20")
        .env("CODEGEN_OPENAI_BASE_URL", format!("{}/v1", server.url));
    cmd.output().unwrap()
}

/// The idea text a reading request carries.
fn asked_about(r: &Recorded) -> String {
    r.json()["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const REVERSAL: (&str, &str) = (
    "Short-term reversal in BTC",
    "The short-term reversal effect: buy BTC after it fell more than 5 % over the previous day and sell it a day later.",
);
const GARBLED: (&str, &str) = (
    "Weekly reversal in ETH",
    "Buy the short-term reversal in ETH after a weekly loss.",
);

/// With a model configured, an idea no template covers is read by the model: its JSON is
/// validated and recorded with the reading, a reply that does not validate leaves the rules'
/// reading, and `audit replay` reproduces every reading without calling the model.
#[test]
fn a_model_reads_what_no_template_covers_and_a_replay_needs_no_model() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let reversal = common::submit_idea(&d, REVERSAL.0, REVERSAL.1);
    let garbled = common::submit_idea(&d, GARBLED.0, GARBLED.1);
    let trend = common::submit_idea(&d, TREND.0, TREND.1);
    let server = LoopbackServer::respond(|r| {
        let asked = asked_about(r);
        Some(if asked.contains("Weekly reversal in ETH") {
            // Not the schema: an extra field.
            chat("```json\n{\"family\": \"mean_reversion\", \"confidence\": 0.9}\n```")
        } else {
            chat(
                "```json\n{\"family\": \"mean_reversion\", \"legs\": [\"BTC\"], \"leg_count\": 1, \"data\": [\"ohlcv\"], \"timeframe\": \"daily\", \"orders\": [], \"signal\": \"reversal\", \"rules\": [{\"rule\": \"holding_period\", \"value\": 24, \"phrase\": \"sell it a day later\"}], \"parameters\": [{\"name\": \"lookback\", \"value\": 24}, {\"name\": \"threshold\", \"value\": 0.05}]}\n```",
            )
        })
    });
    let out = with_model(
        &d,
        &server,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            common::offline().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    // Only the ideas the rules fit no template to were asked about (the trend idea fits).
    let asked: Vec<String> = server.requests().iter().map(asked_about).collect();
    assert!(asked.iter().any(|a| a.contains(REVERSAL.0)), "{asked:?}");
    assert!(asked.iter().any(|a| a.contains(GARBLED.0)), "{asked:?}");
    assert!(!asked.iter().any(|a| a.contains(TREND.0)), "{asked:?}");
    // The idea's text went as data, inside its delimiters.
    let reversal_prompt = asked.iter().find(|a| a.contains(REVERSAL.0)).unwrap();
    assert!(reversal_prompt.contains("<idea_data>"), "{reversal_prompt}");
    let calls = server.requests().len();

    let page = common::data(&ok(&d, &["opportunities", "--all", "--json"])).unwrap();
    let row = |id: &str| common::row_of(&page, id);
    let r = row(&reversal);
    assert_eq!(r["read_by"], "model", "{r}");
    assert_eq!(r["needs"]["signal"], "reversal", "{r}");
    assert_eq!(r["needs"]["rules"][0]["rule"], "holding_period", "{r}");
    assert_eq!(r["needs"]["rules"][0]["value"], 24.0, "{r}");
    assert_eq!(r["fit"]["route"], "model", "{r}");
    let reason = r["fit"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no template fits: needs a short-term reversal signal")
            && reason.contains("a model writes it"),
        "{reason}"
    );
    // A reply that does not validate: the rules' reading stands.
    let g = row(&garbled);
    assert_eq!(g["read_by"], "rules", "{g}");
    assert_eq!(g["needs"]["signal"], "reversal", "{g}");
    assert_eq!(row(&trend)["read_by"], "rules");
    // The model's reading is on the log with its reply and its tokens.
    let audit = std::fs::read_to_string(d.join("strategy_opportunities.jsonl")).unwrap();
    let read: Value = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| {
            l["kind"] == "opportunity.read" && l["data"]["opportunity_id"] == reversal.as_str()
        })
        .unwrap();
    assert_eq!(read["data"]["extractor"], "model", "{read}");
    assert_eq!(read["data"]["model"], "reader-test", "{read}");
    assert_eq!(read["data"]["tokens_used"], 820, "{read}");
    assert!(
        read["data"]["reply"]
            .as_str()
            .unwrap()
            .contains("\"signal\": \"reversal\""),
        "{read}"
    );

    // A replay rebuilds every reading from the log alone: no difference, no model call.
    let replay = with_model(&d, &server, &["audit", "replay", "--json"]);
    assert!(
        replay.status.success(),
        "{}{}",
        common::stdout(&replay),
        common::stderr(&replay)
    );
    let report = common::data(&common::stdout(&replay)).unwrap();
    assert_eq!(report["found"]["identical"], true, "{report}");
    assert_eq!(
        report["found"]["differences"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    // Nor does the next cycle read again what is read.
    let again = with_model(
        &d,
        &server,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            common::offline().to_str().unwrap(),
        ],
    );
    assert!(again.status.success(), "{}", common::stderr(&again));
    assert_eq!(
        server.requests().len(),
        calls,
        "no model call after the first reading"
    );
}

/// Binance's funding-rate history, as its USD-M futures API answers
/// `GET /fapi/v1/fundingRate?symbol&startTime&endTime&limit`: the rates of the asked range, 8
/// hours apart, at most `limit` (rates made up here: the client and the store are tested).
fn binance_funding(r: &Recorded) -> Option<Reply> {
    let query = r.path.split_once('?')?.1;
    let get = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let (start, end, limit) = (get("startTime")?, get("endTime")?, get("limit")?);
    let step = 8 * 3600 * 1000;
    let first = (start + step - 1) / step * step;
    let rows: Vec<Value> = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= end)
        .take(limit as usize)
        .map(|t| {
            let rate = if (t / step) % 3 == 0 { "-0.00005000" } else { "0.00010000" };
            json!({"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": rate, "markPrice": "34287.54619963"})
        })
        .collect();
    Some(Reply::json(200, Value::Array(rows)))
}

#[test]
fn funding_history_is_downloaded_into_the_store_page_by_page_and_backtests_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let server = LoopbackServer::respond(binance_funding);
    let funding = |args: &[&str]| -> Value {
        let mut cmd = common::bin();
        cmd.arg("--data-dir")
            .arg(&d)
            .arg("--create")
            .args(["data", "funding", "--symbol", "BTCUSDT"])
            .args(args)
            .arg("--json")
            .env("BINANCE_FUTURES_URL", &server.url);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::data(&common::stdout(&out)).unwrap()
    };
    // 2017-07-01 to 2018-08-01: 1,188 funding times, two pages of at most 1,000.
    let done = funding(&["--since", "2017-07-01", "--until", "2018-08-01"]);
    assert_eq!(done["rates"], 1188, "{done}");
    assert_eq!(done["requests"], 2, "{done}");
    assert_eq!(done["first"], "2017-07-01T00:00:00Z", "{done}");
    let asked: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        asked[0].starts_with("/fapi/v1/fundingRate?symbol=BTCUSDT&startTime=1498867200000&"),
        "{asked:?}"
    );
    // A rerun over part of it adds nothing twice.
    let again = funding(&["--since", "2018-01-01", "--until", "2018-02-01"]);
    assert_eq!(again["stored"], 1188, "{again}");
    let file = std::fs::read_to_string(d.join("market/binance/BTCUSDT/funding.csv")).unwrap();
    assert_eq!(file.lines().count(), 1189);
    assert!(
        file.starts_with("timestamp,funding_rate\n2017-07-01T00:00:00Z,-0.00005\n"),
        "{file}"
    );
    // A backtest of a carry over two series reads them from the store.
    let carry = common::submit_idea(&d, CARRY.0, CARRY.1);
    common::discover_manual(&d);
    let generated = common::data(&ok(
        &d,
        &[
            "generate",
            "--opportunity",
            &carry,
            "--mode",
            "template",
            "--json",
        ],
    ))
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let legs = format!(
        "{},{}",
        root.join("coinbase_btcusd_1h_2017-07-01_2019-10-17.csv")
            .display(),
        root.join("eurusd_1h_2017-04-19_2018-02-07.csv").display()
    );
    let run = common::data(&ok(
        &d,
        &[
            "backtest",
            generated["strategy_id"].as_str().unwrap(),
            "--legs",
            &legs,
            "--funding",
            "store:binance/BTCUSDT",
            "--json",
        ],
    ))
    .unwrap();
    assert!(
        run["legs"][0]["funding_payments"].as_u64().unwrap() > 100,
        "{run}"
    );
    // A series the store has no funding of is refused by name.
    let err = fails(
        &d,
        &[
            "backtest",
            generated["strategy_id"].as_str().unwrap(),
            "--legs",
            &legs,
            "--funding",
            "store:binance/ETHUSDT",
        ],
    );
    assert!(err.contains("no funding rates of ETHUSDT"), "{err}");
}
