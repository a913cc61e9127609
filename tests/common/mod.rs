//! Helpers shared by the end-to-end tests: run the real binary on a real data directory.
#![allow(dead_code)]

pub mod http;
pub mod ideas;
pub mod venue;
pub mod ws;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Prefixes of every setting the binary reads: a test starts from none of them (the
/// developer's shell must not change what a test sees) and sets what it needs.
const SETTINGS: &[&str] = &[
    "STRATAGEM_",
    "DISCOVERY_",
    "OPPORTUNITY_",
    "SLACK_",
    "TWITTER_",
    "X_BEARER",
    "REDDIT_",
    "CODEGEN_",
    "ANTHROPIC_",
    "OPENAI_",
    "COLD_",
    "WARM_",
    "LIMITED_",
    "STAGE_",
    "LIVE_",
    "MONITOR_",
    "VALIDATOR_",
    "REQUIRE_",
    "RUN_",
    "METRICS_",
    "NATS_",
];

/// The binary under test, with no setting inherited from the environment.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratagem"));
    for (key, _) in std::env::vars() {
        if SETTINGS.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `stratagem --data-dir DIR ARGS…`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `stratagem --data-dir DIR ARGS…` with these settings (and no inherited ones); it
/// must not panic.
pub fn run_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = bin()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(
        !stderr(&out).contains("panicked"),
        "{args:?} panicked: {}",
        stderr(&out)
    );
    out
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and requires success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs and requires failure without a panic; returns stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        !out.status.success(),
        "{args:?} should fail: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

/// Submits a manual idea.
pub fn submit(dir: &Path, title: &str) -> String {
    ok(
        dir,
        &[
            "submit",
            "--title",
            title,
            "--hypothesis",
            "prices trend after news",
            "--url",
            "https://arxiv.org/abs/2401.00001",
        ],
    )
}

/// A strategy of `template` generated for an idea titled `title` and validated (approved for
/// COLD): its id and source file.
pub fn approved_idea(dir: &Path, template: &str, title: &str) -> (String, PathBuf) {
    let opportunity = submit_idea(dir, title, "h");
    let generated = data(&ok(
        dir,
        &[
            "generate",
            "--opportunity",
            &opportunity,
            "--template",
            template,
            "--json",
        ],
    ))
    .unwrap();
    let path = generated["path"].as_str().unwrap();
    ok(dir, &["validate", path]);
    (
        generated["strategy_id"].as_str().unwrap().to_string(),
        PathBuf::from(path),
    )
}

/// Submits an idea by hand; its opportunity id (from the `--json` envelope).
pub fn submit_idea(dir: &Path, title: &str, hypothesis: &str) -> String {
    let v = data(&ok(
        dir,
        &[
            "submit",
            "--title",
            title,
            "--hypothesis",
            hypothesis,
            "--json",
        ],
    ))
    .unwrap();
    v["opportunity_id"].as_str().unwrap().to_string()
}

/// `discover --source manual` over the shipped recordings (the submissions scored too).
pub fn discover_manual(dir: &Path) -> String {
    ok(
        dir,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            offline().to_str().unwrap(),
        ],
    )
}

/// The row of opportunity `id` in a page of `opportunities --json`.
pub fn row_of(page: &serde_json::Value, id: &str) -> serde_json::Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("no opportunity {id} in {page}"))
        .clone()
}

/// The shipped recordings of the sources (`data/sources`), for `--offline`.
pub fn offline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources")
}

/// `discover --source manual` over the shipped recordings, announcing to the Slack `webhook`
/// without a pause between messages, with `extra` settings; it must succeed (the pipeline
/// carries on whatever Slack does).
pub fn discover_with_slack(data: &Path, webhook: &str, extra: &[(&str, &str)]) -> Output {
    let mut env = vec![
        ("SLACK_WEBHOOK_URL", webhook),
        ("SLACK_MIN_INTERVAL_MS", "0"),
    ];
    env.extend_from_slice(extra);
    let out = run_with(
        data,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            offline().to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "the pipeline carries on: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The daemon over the shipped recordings on the simulated clock: `cycles` simulated hours,
/// back to back, without the metrics server.
pub fn daemon(data: &Path, cycles: u32) -> Command {
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(["run", "--offline"])
        .arg(offline())
        .env("RUN_SIMULATED_HOURS_PER_CYCLE", "1")
        .env("RUN_TICK_SECONDS", "0")
        .env("RUN_CYCLES", cycles.to_string())
        .env("METRICS_ADDR", "off")
        .env("CONSOLE_ADDR", "off");
    cmd
}

/// `audit verify` and `audit replay` both succeed on `data`.
pub fn audit_clean(data: &Path) {
    for args in [["audit", "verify"], ["audit", "replay"]] {
        let out = run(data, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

/// A command's `--json` result: the `data` of the envelope every command prints
/// (`{"ok", "data", "error"}`), checked to be one.
pub fn data(text: &str) -> serde_json::Result<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    assert!(
        v.get("ok").is_some_and(|o| o.is_boolean())
            && v.get("data").is_some()
            && v.get("error").is_some(),
        "not the JSON envelope: {text}"
    );
    Ok(v["data"].take())
}

/// A command's `--json` envelope, whole.
pub fn envelope(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: not JSON: {}{}", stdout(out), stderr(out)))
}

/// A child's stdout, line by line, read on a thread of its own (a daemon's cycle lines).
pub struct StdoutLines {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl StdoutLines {
    /// Takes `child`'s piped stdout.
    pub fn of(child: &mut std::process::Child) -> StdoutLines {
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        StdoutLines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Reads until `done` holds of the lines seen; panics, naming `what`, after `within`.
    pub fn until(
        &mut self,
        within: std::time::Duration,
        what: &str,
        done: impl Fn(&[String]) -> bool,
    ) {
        let deadline = std::time::Instant::now() + within;
        while !done(&self.seen) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {:?}",
                self.seen
            );
            if let Ok(l) = self.rx.recv_timeout(std::time::Duration::from_millis(200)) {
                self.seen.push(l);
            }
        }
    }

    /// Reads what still comes, until nothing has for `quiet`.
    pub fn rest(&mut self, quiet: std::time::Duration) {
        while let Ok(l) = self.rx.recv_timeout(quiet) {
            self.seen.push(l);
        }
    }
}

/// How a flag strategy finds a bar's flag.
pub enum FlagKey {
    /// The n-th bar it sees takes the n-th flag.
    Order(Vec<i8>),
    /// The bar whose close is this takes its flag (works in any window of the bars).
    Close(Vec<(f64, i8)>),
}

/// A strategy that carries the future: it trades one written-in up/down flag per bar (the
/// look-ahead of a table of flags).
pub fn flag_table_strategy(flags: &[i8]) -> String {
    flag_strategy(FlagKey::Order(flags.to_vec()))
}

/// A strategy trading a table of flags, found by `key`.
pub fn flag_strategy(key: FlagKey) -> String {
    let (table, lookup) = match key {
        FlagKey::Order(flags) => {
            let list: Vec<String> = flags.iter().map(ToString::to_string).collect();
            (
                format!(
                    "const FLAGS: [i8; {}] = [{}];",
                    flags.len(),
                    list.join(", ")
                ),
                "FLAGS.get(self.seen - 1).copied()",
            )
        }
        FlagKey::Close(pairs) => {
            let list: Vec<String> = pairs.iter().map(|(c, f)| format!("({c:?}, {f})")).collect();
            (
                format!(
                    "const FLAGS: [(f64, i8); {}] = [{}];",
                    pairs.len(),
                    list.join(", ")
                ),
                "FLAGS\n            .iter()\n            .find(|(close, _)| (close - bar.close).abs() < 1e-9)\n            .map(|(_, flag)| *flag)",
            )
        }
    };
    format!(
        r#"//! Trades the flag of each bar.
use stratagem_sdk::prelude::*;

{table}

/// Parameters.
pub struct FlagParams {{
    /// Confidence of every signal.
    pub conviction: f64,
}}

impl Default for FlagParams {{
    fn default() -> Self {{
        FlagParams {{ conviction: 1.0 }}
    }}
}}

/// Follows the table.
pub struct FlagStrategy {{
    params: FlagParams,
    seen: usize,
}}

impl FlagStrategy {{
    fn next_flag(&mut self, bar: &Bar) -> Option<i8> {{
        self.seen += 1;
        {lookup}
    }}
}}

impl Strategy for FlagStrategy {{
    fn new() -> Self {{
        FlagStrategy {{ params: FlagParams::default(), seen: 0 }}
    }}

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {{
        if bar.close <= 0.0 {{
            return Err(StrategyError::new("a bar without a positive close"));
        }}
        let Some(flag) = self.next_flag(bar) else {{
            return Ok(None);
        }};
        let direction = if flag > 0 {{ Direction::Long }} else {{ Direction::Short }};
        Ok(Some(Signal::new(direction, self.params.conviction)))
    }}

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {{
        if !GoalValidator::gate(signal.confidence)? {{
            return Ok(None);
        }}
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        log_info!("{{:?}} {{:.6}}", signal.direction, quantity);
        Ok(Some(Order::market(signal.direction, quantity)))
    }}
}}
"#
    )
}

/// The future of the last `n` embedded hourly bars, as a look-ahead strategy would carry it:
/// for each bar, whether the next one (the bar its order fills in) closes at or above its open.
pub fn next_bar_flags(n: usize) -> Vec<i8> {
    next_bar_flags_by_close(n)
        .into_iter()
        .map(|(_, f)| f)
        .collect()
}

/// [`next_bar_flags`], each with the close of its bar (for a table keyed by close).
pub fn next_bar_flags_by_close(n: usize) -> Vec<(f64, i8)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv"
    ))
    .unwrap();
    let bars: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect();
    let window = &bars[bars.len() - n..];
    (0..window.len())
        .map(|i| {
            let flag = match window.get(i + 1) {
                Some((open, close)) if close >= open => 1,
                _ => -1,
            };
            (window[i].1, flag)
        })
        .collect()
}

/// The first strategy the log of `data` promoted to FULL (its stages' audit file).
#[allow(dead_code)]
pub fn full_strategy(data: &Path) -> String {
    let stages = std::fs::read_to_string(data.join("strategy_stages.jsonl")).unwrap();
    stages
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == "stage.promoted" && v["data"]["to"] == "full")
        .expect("a strategy promoted to FULL")["data"]["strategy_id"]
        .as_str()
        .unwrap()
        .to_string()
}
