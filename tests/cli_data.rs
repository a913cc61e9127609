//! `data download | list | export` against loopback servers speaking Binance's and Coinbase
//! Exchange's REST formats, serving real BTC hourly bars (`data/`): paged requests, exact
//! storage, reruns that ask only for what is new, `Retry-After` on 429 and 418, and a download
//! killed with SIGKILL mid-way that a rerun completes to the same bytes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::http::{LoopbackServer, Recorded, Reply};
use common::venue::query;
use stratagem_actors::market::parse_timestamp;

/// The real hourly BTC bars of `data/` (open time, open, high, low, close, volume).
fn real_bars() -> Vec<(i64, [f64; 5])> {
    common::venue::real_bars("coinbase_btcusd_1h_2017-07-01_2019-10-17.csv")
}

/// A loopback venue: the first answers are `faults` (status and `Retry-After`, with the venue's
/// error `fault_body`), then `answer` (given the request and how many it served before);
/// answers after the first are `delay` slow.
fn venue(
    faults: Vec<(u16, &'static str)>,
    fault_body: serde_json::Value,
    delay: Option<Duration>,
    answer: impl Fn(&Recorded, usize) -> Reply + Send + 'static,
) -> LoopbackServer {
    let faults = Mutex::new(faults);
    let served = Mutex::new(0usize);
    LoopbackServer::respond(move |r: &Recorded| {
        if let Some((status, after)) = faults.lock().unwrap().pop() {
            return Some(Reply::json(status, fault_body.clone()).header("retry-after", after));
        }
        let mut n = served.lock().unwrap();
        *n += 1;
        let reply = answer(r, *n);
        Some(match delay {
            Some(d) if *n > 1 => reply.delayed(d),
            _ => reply,
        })
    })
}

/// Answers `/api/v3/klines` as Binance does (strings for prices, times in ms, at most `limit`,
/// the request weight used in a header).
fn binance(
    bars: Vec<(i64, [f64; 5])>,
    faults: Vec<(u16, &'static str)>,
    delay: Option<Duration>,
) -> LoopbackServer {
    let busy = serde_json::json!({"code": -1003, "msg": "Too many requests"});
    venue(faults, busy, delay, move |r, n| {
        assert!(r.path.starts_with("/api/v3/klines?"), "{}", r.path);
        let q = query(&r.path);
        assert_eq!(
            (q["symbol"].as_str(), q["interval"].as_str()),
            ("BTCUSDT", "1h")
        );
        Reply::json(200, common::venue::binance_klines(&bars, &r.path, 3600))
            .header("x-mbx-used-weight-1m", &(n * 2).to_string())
    })
}

/// Answers `/products/BTC-USD/candles` as Coinbase Exchange does: at most 300 candles,
/// newest first, `[time, low, high, open, close, volume]`.
fn coinbase(
    bars: Vec<(i64, [f64; 5])>,
    faults: Vec<(u16, &'static str)>,
    delay: Option<Duration>,
) -> LoopbackServer {
    let busy = serde_json::json!({"message": "slow down"});
    venue(faults, busy, delay, move |r, _| {
        assert!(
            r.path.starts_with("/products/BTC-USD/candles?"),
            "{}",
            r.path
        );
        let q = query(&r.path);
        assert_eq!(q["granularity"], "3600");
        let start = parse_timestamp(&q["start"].replace("%3A", ":")).unwrap();
        let end = parse_timestamp(&q["end"].replace("%3A", ":")).unwrap();
        let mut rows: Vec<serde_json::Value> = bars
            .iter()
            .filter(|(t, _)| *t >= start && *t <= end)
            .take(300)
            .map(|(t, [o, h, l, c, v])| serde_json::json!([t, l, h, o, c, v]))
            .collect();
        rows.reverse();
        Reply::json(200, serde_json::Value::Array(rows))
    })
}

fn list(data: &Path) -> serde_json::Value {
    let out = common::run(data, &["data", "list", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::envelope(&out)["data"].clone()
}

/// Every file of the store's series directories, with its bytes.
fn store_files(data: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&data.join("market"), &data.join("market"), &mut out);
    out
}

fn download(data: &Path, url_key: &str, url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["data", "download", "--json"];
    all.extend_from_slice(args);
    let out = common::run_with(data, &all, &[(url_key, url)]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::envelope(&out)["data"].clone()
}

/// `data download` of Coinbase's hourly BTC-USD from the recording's first bar to `until`.
fn coinbase_args(until: &str) -> Vec<&str> {
    vec![
        "--venue",
        "coinbase",
        "--symbol",
        "BTC-USD",
        "--interval",
        "1h",
        "--since",
        "2017-07-01T11:00:00Z",
        "--until",
        until,
    ]
}

const BINANCE_ARGS: [&str; 8] = [
    "--venue",
    "binance",
    "--symbol",
    "BTCUSDT",
    "--interval",
    "1h",
    "--since",
    "2017-07-01T11:00:00Z",
];

#[test]
fn binance_klines_are_paged_stored_once_and_only_the_new_ones_asked_for_again() {
    let bars = real_bars();
    let first = bars[0].0;
    let until = (first + 2500 * 3600).to_string();
    let server = binance(bars.clone(), Vec::new(), None);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut args = BINANCE_ARGS.to_vec();
    args.extend(["--until", until.as_str()]);
    let done = download(data, "BINANCE_REST_URL", &server.url, &args);
    assert_eq!(
        (done["requests"].as_u64(), done["bars"].as_u64()),
        (Some(3), Some(2500)),
        "{done}"
    );
    let starts: Vec<i64> = server
        .requests()
        .iter()
        .map(|r| query(&r.path)["startTime"].parse().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            first * 1000,
            (first + 1000 * 3600) * 1000,
            (first + 2000 * 3600) * 1000
        ]
    );
    let listed = list(data);
    assert_eq!(listed[0]["series"], "binance/BTCUSDT/1h");
    assert_eq!(
        (listed[0]["bars"].as_u64(), listed[0]["gaps"].as_u64()),
        (Some(2500), Some(0))
    );
    assert_eq!(
        listed[0]["last_open_time"].as_i64(),
        Some(first + 2499 * 3600)
    );
    // Nothing new: no request. Then 100 more hours: one request, from where the store ends.
    let again = download(data, "BINANCE_REST_URL", &server.url, &args);
    assert_eq!(again["requests"].as_u64(), Some(0), "{again}");
    let later = (first + 2600 * 3600).to_string();
    let mut more = BINANCE_ARGS.to_vec();
    more.extend(["--until", later.as_str()]);
    let grown = download(data, "BINANCE_REST_URL", &server.url, &more);
    assert_eq!(
        (grown["requests"].as_u64(), grown["bars"].as_u64()),
        (Some(1), Some(100))
    );
    let last = server
        .requests()
        .last()
        .map(|r| query(&r.path)["startTime"].clone());
    assert_eq!(last, Some(((first + 2500 * 3600) * 1000).to_string()));
    // The stored prices are the venue's, and the export reads back into a backtest.
    let out_csv = data.join("btcusdt_1h.csv");
    let mut export = vec!["data", "export"];
    export.extend_from_slice(&BINANCE_ARGS[..6]);
    export.extend(["--out", out_csv.to_str().unwrap()]);
    common::ok(data, &export);
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2601);
    assert_eq!(lines[0], "timestamp,open,high,low,close,volume");
    let [o, h, l, c, _] = bars[0].1;
    assert_eq!(
        lines[1],
        format!("2017-07-01T11:00:00Z,{o},{h},{l},{c},114.6")
    );
    // The same bars as Parquet, for pandas and polars.
    let out_parquet = data.join("btcusdt_1h.parquet");
    let mut export = vec!["data", "export"];
    export.extend_from_slice(&BINANCE_ARGS[..6]);
    export.extend([
        "--format",
        "parquet",
        "--out",
        out_parquet.to_str().unwrap(),
    ]);
    common::ok(data, &export);
    let from_parquet = stratagem_actors::bars::parquet::read(&out_parquet).unwrap();
    assert_eq!(from_parquet.len(), 2600);
    for (b, line) in from_parquet.iter().zip(&lines[1..]) {
        let csv_line = format!(
            "{},{},{},{},{},{}",
            time::OffsetDateTime::from_unix_timestamp(b.open_time)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        );
        assert_eq!(&csv_line, line);
    }
    let strategy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/strategies/clean_momentum.rs"
    );
    let bt = common::ok(
        data,
        &[
            "--create",
            "backtest",
            strategy,
            "--data",
            out_csv.to_str().unwrap(),
            "--json",
        ],
    );
    let bt = common::data(&bt).unwrap();
    assert_eq!(bt["bars"].as_u64(), Some(2600), "{bt}");
    // The store itself is a data source, with the same result as its export.
    let direct = common::ok(
        data,
        &[
            "backtest",
            strategy,
            "--data",
            "store:binance/BTCUSDT/1h",
            "--json",
        ],
    );
    let mut direct = common::data(&direct).unwrap();
    // The second run of the file is its family's second trial: only the DSR deflates more.
    let (dsr_first, dsr_second) = (
        bt["metrics"]["deflated_sharpe"].as_f64().unwrap(),
        direct["metrics"]["deflated_sharpe"].as_f64().unwrap(),
    );
    assert!(dsr_second < dsr_first, "{dsr_second} vs {dsr_first}");
    direct["metrics"]["deflated_sharpe"] = bt["metrics"]["deflated_sharpe"].clone();
    assert_eq!(direct["metrics"], bt["metrics"]);
    // `data update` keeps the configured series current: one request for what is new.
    let out = common::run_with(
        data,
        &["data", "update", "--json"],
        &[
            ("BINANCE_REST_URL", server.url.as_str()),
            ("MARKETS", "binance/BTCUSDT/1h"),
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let updated = &common::envelope(&out)["data"][0];
    // The recording ends in 2019: the rest of it in full pages, then one page that is not full
    // covers everything up to now.
    let rest = bars.len() as u64 - 2600;
    assert_eq!(
        (updated["requests"].as_u64(), updated["bars"].as_u64()),
        (Some(rest / 1000 + 1), Some(rest)),
        "{updated}"
    );
}

#[test]
fn retry_after_of_a_429_and_a_418_is_honoured() {
    let bars = real_bars();
    let until = (bars[0].0 + 500 * 3600).to_string();
    // Popped from the end: a 429 first, then a 418 (Binance's ban), each asking for 1 s.
    let server = binance(bars, vec![(418, "1"), (429, "1")], None);
    let tmp = tempfile::tempdir().unwrap();
    let mut args = BINANCE_ARGS.to_vec();
    args.extend(["--until", until.as_str()]);
    let done = download(tmp.path(), "BINANCE_REST_URL", &server.url, &args);
    assert_eq!(done["bars"].as_u64(), Some(500), "{done}");
    let at: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 3);
    for pair in at.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(950),
            "{:?}",
            pair[1] - pair[0]
        );
    }
    // A wait longer than the download may take ends it with the venue's words; nothing stored.
    let banned = binance(real_bars(), vec![(418, "7200")], None);
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_with(
        tmp.path(),
        &[&["data", "download"][..], &args[..]].concat(),
        &[("BINANCE_REST_URL", banned.url.as_str())],
    );
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("asks to wait 7200 s"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(banned.requests().len(), 1);
}

/// Downloads 2,500 hourly bars with `args` from the server `start` makes (`Some(delay)`: pages
/// after the first are that slow), kills the download with SIGKILL once its first page
/// (`page` bars) is stored, reruns it, and compares the store with an uninterrupted download's.
fn killed_and_rerun(
    url_key: &str,
    dir: &str,
    args: &[&str],
    page: u64,
    start: &dyn Fn(Option<Duration>) -> LoopbackServer,
) {
    let clean = tempfile::tempdir().unwrap();
    let server = start(None);
    let whole = download(clean.path(), url_key, &server.url, args);
    let slow = start(Some(Duration::from_secs(3)));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut child = common::bin()
        .arg("--data-dir")
        .arg(data)
        .args([&["data", "download"][..], args].concat())
        .env(url_key, &slow.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let coverage = data.join("market").join(dir).join("coverage.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !coverage.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(coverage.exists(), "the first page was stored");
    std::thread::sleep(Duration::from_millis(200));
    // SIGKILL: no chance to tidy up.
    child.kill().unwrap();
    child.wait().unwrap();
    let cut = list(data);
    assert_eq!(
        cut[0]["bars"].as_u64(),
        Some(page),
        "killed after one page: {cut}"
    );
    let rerun = download(data, url_key, &server.url, args);
    assert_eq!(
        rerun["requests"].as_u64().unwrap() + 1,
        whole["requests"].as_u64().unwrap(),
        "the rerun asks for every page but the one stored: {rerun}"
    );
    assert_eq!(store_files(data), store_files(clean.path()));
}

#[test]
fn a_download_killed_mid_way_is_completed_by_a_rerun_to_the_same_bytes() {
    let bars = real_bars();
    let until = (bars[0].0 + 2500 * 3600).to_string();
    let mut args = BINANCE_ARGS.to_vec();
    args.extend(["--until", until.as_str()]);
    let b = bars.clone();
    killed_and_rerun(
        "BINANCE_REST_URL",
        "binance/BTCUSDT/1h",
        &args,
        1000,
        &move |delay| binance(b.clone(), Vec::new(), delay),
    );
    let args = coinbase_args(&until);
    killed_and_rerun(
        "COINBASE_REST_URL",
        "coinbase/BTC-USD/1h",
        &args,
        300,
        &move |delay| coinbase(bars.clone(), Vec::new(), delay),
    );
}

#[test]
fn coinbase_candles_are_paged_by_300_stored_once_and_honour_retry_after() {
    let bars = real_bars();
    let first = bars[0].0;
    let until = (first + 2500 * 3600).to_string();
    let server = coinbase(bars.clone(), vec![(429, "1")], None);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let args = coinbase_args(&until);
    let done = download(data, "COINBASE_REST_URL", &server.url, &args);
    // ⌈2500 / 300⌉ = 9 pages, and the one the 429 turned away.
    assert_eq!(
        (done["requests"].as_u64(), done["bars"].as_u64()),
        (Some(9), Some(2500)),
        "{done}"
    );
    assert_eq!(server.requests().len(), 10);
    let listed = list(data);
    assert_eq!(listed[0]["series"], "coinbase/BTC-USD/1h");
    assert_eq!(
        (listed[0]["bars"].as_u64(), listed[0]["gaps"].as_u64()),
        (Some(2500), Some(0))
    );
    let again = download(data, "COINBASE_REST_URL", &server.url, &args);
    assert_eq!(again["requests"].as_u64(), Some(0));
}

/// `data follow` stores closed klines from the stream as they close: the bars between the
/// store's end and the stream's first bar are downloaded first, a drop is reconnected and what it
/// missed fetched from REST, and the store ends byte for byte as a plain download of those bars.
#[test]
fn following_the_stream_keeps_the_store_whole_across_a_late_start_and_a_drop() {
    let bars = real_bars();
    let first = bars[0].0;
    let rest = binance(bars.clone(), Vec::new(), None);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let until = (first + 2500 * 3600).to_string();
    let mut args = BINANCE_ARGS.to_vec();
    args.extend(["--until", until.as_str()]);
    download(data, "BINANCE_REST_URL", &rest.url, &args);
    let candle = |i: usize| common::ws::binance_kline(bars[i].0 * 1000, 3_600_000, bars[i].1);
    // The stream starts 3 bars after the store's end, and breaks after 2 candles; it resumes 2
    // candles later.
    let ws = common::ws::serve_connections(
        vec![vec![candle(2503), candle(2504)], vec![candle(2507)]],
        false,
        "/ws",
    );
    let out = common::run_with(
        data,
        &[
            "data",
            "follow",
            "--venue",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
            "--bars",
            "8",
            "--json",
        ],
        &[
            ("BINANCE_REST_URL", rest.url.as_str()),
            ("BINANCE_WS_URL", ws.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let followed = &common::envelope(&out)["data"];
    assert_eq!(followed["bars"].as_u64(), Some(8), "{followed}");
    let listed = list(data);
    assert_eq!(
        (listed[0]["bars"].as_u64(), listed[0]["gaps"].as_u64()),
        (Some(2508), Some(0)),
        "{listed}"
    );
    // REST was asked for the late start (2500–2502) and for the drop (2505–2506).
    let starts: Vec<i64> = rest.requests()[3..]
        .iter()
        .map(|r| query(&r.path)["startTime"].parse().unwrap())
        .collect();
    assert_eq!(
        starts,
        [(first + 2500 * 3600) * 1000, (first + 2505 * 3600) * 1000]
    );
    let clean = tempfile::tempdir().unwrap();
    let until = (first + 2508 * 3600).to_string();
    let mut args = BINANCE_ARGS.to_vec();
    args.extend(["--until", until.as_str()]);
    download(clean.path(), "BINANCE_REST_URL", &rest.url, &args);
    assert_eq!(store_files(data), store_files(clean.path()));
}
