//! The CLI's one convention, table-driven: every command with `--json`, in a success and a
//! failure case, prints one envelope `{"ok", "data", "error": {"code", "message", "exit"}}` on
//! stdout and exits with the code of the README's table (0 ok; 1 the command's own negative
//! verdict; 2 manual review; 64 usage; 65 bad input data; 66 missing input; 69 unavailable;
//! 70 internal; 74 I/O).

mod common;

use std::path::Path;

use common::{bin, envelope, offline, ok};
use serde_json::Value;

/// One row: what runs, where, and what it must end with.
struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// The exit code.
    exit: i32,
    /// The envelope's `error.code` (`None`: no error, `ok` is true).
    error: Option<&'static str>,
}

fn case(name: &'static str, args: &[&str], exit: i32, error: Option<&'static str>) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        exit,
        error,
    }
}

fn strategy_file() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/strategies/clean_momentum.rs")
        .display()
        .to_string()
}

#[test]
fn every_command_speaks_one_envelope_with_its_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let off = offline().display().to_string();
    ok(&data, &["run", "--once", "--offline", &off]);
    let opportunity = common::submit_idea(&data, "Hourly momentum", "trends persist");
    let clean = strategy_file();
    let hostile = tmp.path().join("hostile.rs");
    std::fs::write(
        &hostile,
        std::fs::read_to_string(&clean).unwrap().replace(
            "pub struct",
            "const LEAK: &str = include_str!(\"/etc/passwd\");\npub struct",
        ),
    )
    .unwrap();
    let hostile = hostile.display().to_string();
    let export = tmp.path().join("export").display().to_string();
    let a_file = tmp.path().join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let under_a_file = a_file.join("out").display().to_string();
    let unknown = "01900000-0000-7000-8000-000000000000";

    let mut cases = vec![
        case("status", &["status"], 0, None),
        case(
            "submit",
            &[
                "submit",
                "--title",
                "Pairs",
                "--hypothesis",
                "spread reverts",
            ],
            0,
            None,
        ),
        case(
            "submit: an empty title",
            &["submit", "--title", " ", "--hypothesis", "h"],
            65,
            Some("bad_data"),
        ),
        case("templates", &["templates"], 0, None),
        case(
            "templates: an unknown flag",
            &["templates", "--bogus"],
            64,
            Some("usage"),
        ),
        case(
            "generate",
            &[
                "generate",
                "--opportunity",
                &opportunity,
                "--template",
                "momentum",
                "--mode",
                "template",
            ],
            0,
            None,
        ),
        case(
            "generate: an unknown opportunity",
            &["generate", "--opportunity", unknown, "--mode", "template"],
            65,
            Some("bad_data"),
        ),
        case("scan", &["scan", &clean], 0, None),
        case("scan: findings", &["scan", &hostile], 1, Some("findings")),
        case("validate", &["validate", &clean], 0, None),
        case(
            "validate: rejected",
            &["validate", &hostile],
            1,
            Some("rejected"),
        ),
        case(
            "validate: a missing file",
            &["validate", "/no/such/strategy.rs"],
            66,
            Some("missing"),
        ),
        case("backtest", &["backtest", &clean, "--days", "7"], 0, None),
        case(
            "backtest: a missing bar file",
            &["backtest", &clean, "--data", "/no/such/bars.csv"],
            66,
            Some("missing"),
        ),
        case(
            "stage: not an id",
            &["stage", "not-an-id", "cold"],
            64,
            Some("usage"),
        ),
        case(
            "stage: an unknown strategy",
            &["stage", unknown, "cold"],
            65,
            Some("bad_data"),
        ),
        case(
            "trace: not an id",
            &["trace", "not-an-id"],
            64,
            Some("usage"),
        ),
        case(
            "trace: an unknown strategy",
            &["trace", unknown],
            65,
            Some("bad_data"),
        ),
        case(
            "discover",
            &["discover", "--source", "manual", "--offline", &off],
            0,
            None,
        ),
        case(
            "discover: an unknown source",
            &["discover", "--source", "bogus"],
            64,
            Some("usage"),
        ),
        case("run --once", &["run", "--once", "--offline", &off], 0, None),
        case(
            "run --once: a missing recording folder",
            &["run", "--once", "--offline", "/no/such/dir"],
            66,
            Some("missing"),
        ),
        case("opportunities", &["opportunities", "--limit", "3"], 0, None),
        case(
            "opportunities: an unknown status",
            &["opportunities", "--status", "bogus"],
            64,
            Some("usage"),
        ),
        case("review list", &["review", "list"], 0, None),
        case(
            "review approve: an unknown strategy",
            &["review", "approve", unknown],
            65,
            Some("bad_data"),
        ),
        case(
            "review reject: an unknown strategy",
            &["review", "reject", unknown, "--reason", "no"],
            65,
            Some("bad_data"),
        ),
        case(
            "review reopen: an unknown strategy",
            &["review", "reopen", unknown, "--reason", "again"],
            65,
            Some("bad_data"),
        ),
        case("monitor", &["monitor"], 0, None),
        case("config show", &["config", "show"], 0, None),
        case("audit verify", &["audit", "verify"], 0, None),
        case(
            "audit export",
            &["audit", "export", "--out", &export],
            0,
            None,
        ),
        case(
            "audit export: into a file",
            &["audit", "export", "--out", &under_a_file],
            74,
            Some("io"),
        ),
        case("audit replay", &["audit", "replay"], 0, None),
        case("a missing data directory", &["status"], 66, Some("missing")),
    ];
    // Settings that are bad: a usage error, before anything runs.
    let mut bad = case("monitor: a bad setting", &["monitor"], 64, Some("usage"));
    bad.env.push(("MONITOR_MAX_DRAWDOWN", "lots".into()));
    cases.push(bad);
    let mut bad = case(
        "config show: a bad setting",
        &["config", "show"],
        64,
        Some("usage"),
    );
    bad.env.push(("COLD_DAYS", "soon".into()));
    cases.push(bad);

    let missing = tmp.path().join("no-such-data");
    for c in &cases {
        let dir = if c.name == "a missing data directory" {
            &missing
        } else {
            &data
        };
        let out = bin()
            .arg("--data-dir")
            .arg(dir)
            .args(&c.args)
            .arg("--json")
            .envs(c.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        let v = envelope(&out);
        let what = format!("{}: {v}", c.name);
        assert_eq!(out.status.code(), Some(c.exit), "{what}");
        assert_eq!(v["ok"], c.exit == 0, "{what}");
        match c.error {
            None => {
                assert!(v["error"].is_null(), "{what}");
                assert!(!v["data"].is_null(), "{what}");
            }
            Some(code) => {
                assert_eq!(v["error"]["code"], code, "{what}");
                assert_eq!(v["error"]["exit"], c.exit, "{what}");
                assert!(
                    !v["error"]["message"].as_str().unwrap_or("").is_empty(),
                    "{what}"
                );
            }
        }
    }

    // The audit's own negative verdicts.
    let marker = data.join("events/acknowledged-head");
    let kept = std::fs::read(&marker).unwrap();
    std::fs::write(&marker, "garbage").unwrap();
    let out = common::run(&data, &["audit", "verify", "--json"]);
    let v = envelope(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["error"]["code"], "verify_failed", "{v}");
    assert_eq!(v["data"]["findings"][0]["file"], "events/acknowledged-head");
    std::fs::write(&marker, kept).unwrap();
    let trail = data.join("strategy_stages.jsonl");
    let mut text = std::fs::read_to_string(&trail).unwrap();
    text.push_str("{\"forged\":true}\n");
    std::fs::write(&trail, text).unwrap();
    let out = common::run(&data, &["audit", "replay", "--json"]);
    let v = envelope(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["error"]["code"], "different", "{v}");

    // Lists say how many there are and where the next page starts.
    let out = common::run(&data, &["opportunities", "--limit", "2", "--json"]);
    let page = envelope(&out)["data"].clone();
    let total = page["total"].as_u64().unwrap();
    assert!(total > 2, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], 2);
    let out = common::run(
        &data,
        &[
            "opportunities",
            "--limit",
            "2",
            "--offset",
            &(total - 1).to_string(),
            "--json",
        ],
    );
    let last = envelope(&out)["data"].clone();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next"].is_null());

    // Output that cannot be written is an I/O error, not a success.
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["status"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("cannot write the output"));
}

/// Times are RFC 3339 strings, and numbers with a unit carry it in the key.
#[test]
fn times_are_rfc3339_and_units_are_in_the_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(
        &data,
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            offline().to_str().unwrap(),
        ],
    );
    let status = common::data(&ok(&data, &["status", "--json"])).unwrap();
    let manual = &status["sources"]["manual"];
    let at = manual["last_checked_at"].as_str().unwrap();
    assert!(
        at.ends_with('Z') && at.contains('T') && at.len() >= 20,
        "{at}"
    );
    let text = status.to_string();
    assert!(!text.contains("_micros"), "{text}");
    let report = common::data(&ok(&data, &["validate", &strategy_file(), "--json"])).unwrap();
    assert!(report["layers"][0]["duration_us"].is_u64(), "{report}");
    let _ = Value::Null;
}
