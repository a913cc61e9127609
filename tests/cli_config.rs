//! The configuration: a TOML file, then the environment, then flags; `config show` never prints
//! a secret; a bad configuration is refused with its key named.

mod common;

use std::path::Path;
use std::process::Output;

use common::{stderr, stdout};
use serde_json::Value;

fn stratagem(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    common::run_with(data, args, env)
}

const FILE: &str = r#"
# stratagem.toml
anthropic_api_key = "sk-ant-file-secret-88"

[discovery]
arxiv_enabled = false
reddit_subreddits = ["algotrading", "quant", "options"]
twitter_queries = ["momentum, crypto", "sharpe ratio"]
edgar_contact_email = "quant@example.com"

[opportunity]
min_score_for_submission = 0.7

[slack]
webhook_url = "https://hooks.slack.com/services/T1/B2/file-secret-77"
"#;

#[test]
fn the_file_fills_in_what_the_environment_does_not_and_secrets_stay_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("stratagem.toml"), FILE).unwrap();
    let out = stratagem(
        data,
        &["config", "show", "--json"],
        &[
            ("TWITTER_BEARER_TOKEN", "AAAA-env-secret-99"),
            ("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", "0.6"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for secret in ["file-secret-77", "file-secret-88", "env-secret-99"] {
        assert!(
            !text.contains(secret) && !stderr(&out).contains(secret),
            "{secret} printed"
        );
    }
    let v: Value = common::data(&text).unwrap();
    let setting = |k: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(setting("DISCOVERY_ARXIV_ENABLED")["value"], "0");
    assert_eq!(setting("DISCOVERY_ARXIV_ENABLED")["origin"], "file");
    assert_eq!(
        setting("DISCOVERY_REDDIT_SUBREDDITS")["value"],
        "algotrading,quant,options"
    );
    assert_eq!(
        setting("DISCOVERY_TWITTER_QUERIES")["value"],
        "momentum, crypto;sharpe ratio"
    );
    // The environment overrides the file.
    assert_eq!(
        setting("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION")["value"],
        "0.6"
    );
    assert_eq!(
        setting("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION")["origin"],
        "env"
    );
    assert_eq!(setting("SLACK_WEBHOOK_URL")["value"], "***");
    assert_eq!(setting("TWITTER_BEARER_TOKEN")["value"], "***");
    assert_eq!(setting("ANTHROPIC_API_KEY")["origin"], "file");
    // Every part resolved and checked; no Rust `Debug` text in the JSON.
    assert_eq!(v["checked"].as_array().unwrap().len(), 9, "{v}");
    assert!(!text.contains("ScorerConfig {"), "{text}");
    // The text form shows the parts as resolved.
    let shown = stdout(&stratagem(
        data,
        &["config", "show"],
        &[("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", "0.6")],
    ));
    assert!(shown.contains("min_score: 0.6"), "{shown}");

    // And the commands use it: arXiv is off by the file.
    let offline = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources");
    let out = stratagem(
        data,
        &[
            "discover",
            "--source",
            "arxiv",
            "--offline",
            offline.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        stdout(&out).contains("disabled (DISCOVERY_ARXIV_ENABLED=0)"),
        "{}",
        stdout(&out)
    );
    // …unless the environment says otherwise.
    let out = stratagem(
        data,
        &[
            "discover",
            "--source",
            "arxiv",
            "--offline",
            offline.to_str().unwrap(),
        ],
        &[("DISCOVERY_ARXIV_ENABLED", "1")],
    );
    assert!(
        stdout(&out).contains("arxiv           12    12"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_bad_configuration_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |toml: &str, env: &[(&str, &str)], expected: &str| {
        let file = tmp.path().join("bad.toml");
        std::fs::write(&file, toml).unwrap();
        let out = stratagem(
            tmp.path(),
            &["--config", file.to_str().unwrap(), "config", "show"],
            env,
        );
        assert!(!out.status.success(), "{toml} was accepted");
        assert!(
            stderr(&out).contains(expected),
            "expected {expected:?} in {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("hunter2"), "a secret in an error");
    };
    check(
        "[discovery]\narxiv_enabld = false\n",
        &[],
        "unknown setting discovery.arxiv_enabld (DISCOVERY_ARXIV_ENABLD)",
    );
    check(
        "[discovery]\narxiv_enabled = \"maybe\"\n",
        &[],
        "DISCOVERY_ARXIV_ENABLED=\"maybe\" is not 1/0",
    );
    check(
        "[opportunity]\nnovelty_weight = 0.5\n",
        &[],
        "the OPPORTUNITY_*_WEIGHT values sum to 1.250, not 1",
    );
    check("[cold]\nmin_sharpe = \"high\"\n", &[], "COLD_MIN_SHARPE");
    check(
        "[slack]\nwebhook_url = \"hunter2\"\n",
        &[],
        "SLACK_WEBHOOK_URL is not an http(s) URL",
    );
    check(
        "[discovery.arxiv]\nenabled = true\n",
        &[],
        "[discovery] arxiv is a table",
    );
    check("not toml at all =", &[], "is not valid TOML");
    check("[monitor]\nmax_drawdown = 3\n", &[], "MONITOR_MAX_DRAWDOWN");
    check("[live]\ndays = 0\n", &[], "LIVE_DAYS");
    check(
        "[stratagem]\nlog_format = \"xml\"\n",
        &[],
        "STRATAGEM_LOG_FORMAT=\"xml\" is not human or json",
    );
    // The same setting twice: refused, both spellings named.
    check(
        "discovery_arxiv_enabled = true\n[discovery]\narxiv_enabled = false\n",
        &[],
        "sets DISCOVERY_ARXIV_ENABLED, which",
    );
    // Checked at start, whatever the command: a bad value anywhere is fatal, named.
    for (key, value, expected) in [
        (
            "STRATAGEM_LOG",
            "loud[",
            "STRATAGEM_LOG=\"loud[\" is not a log level",
        ),
        (
            "METRICS_ADDR",
            "everywhere",
            "METRICS_ADDR=\"everywhere\" is not an address",
        ),
        ("COLD_DAYS", "0", "COLD_DAYS"),
    ] {
        let out = stratagem(tmp.path(), &["status"], &[(key, value)]);
        assert!(!out.status.success(), "{key}={value} accepted");
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
    let out = stratagem(tmp.path(), &["--config", "/no/such.toml", "status"], &[]);
    assert!(
        stderr(&out).contains("--config /no/such.toml: no such file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logs_are_human_or_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    // One cycle of the daemon with every source off: it logs each cycle at info.
    let mut env = vec![
        ("STRATAGEM_LOG", "info"),
        ("RUN_CYCLES", "1"),
        ("RUN_SIMULATED_HOURS_PER_CYCLE", "1"),
        ("RUN_TICK_SECONDS", "0"),
        ("METRICS_ADDR", "off"),
        ("CONSOLE_ADDR", "off"),
    ];
    for s in [
        "ARXIV",
        "REDDIT",
        "TWITTER",
        "DEFI_PULSE",
        "SEC_EDGAR",
        "NETWORK",
        "MANUAL",
    ] {
        env.push((
            Box::leak(format!("DISCOVERY_{s}_ENABLED").into_boxed_str()),
            "0",
        ));
    }
    let run = |format: &'static str| {
        let mut env = env.clone();
        env.push(("STRATAGEM_LOG_FORMAT", format));
        let out = stratagem(tmp.path(), &["run"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let json = run("json");
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let cycle = lines
        .iter()
        .find(|l| l["message"] == "cycle done")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(
        (cycle["level"].as_str(), cycle["cycles"].as_u64()),
        (Some("INFO"), Some(1))
    );
    assert!(cycle["timestamp"].is_string(), "{cycle}");
    let human = run("human");
    assert!(
        human
            .lines()
            .any(|l| l.contains("INFO") && l.contains("cycle done") && !l.starts_with('{')),
        "{human}"
    );
}

/// The README's settings table is the code's list: the same keys, the same words.
#[test]
fn the_readme_lists_every_setting_as_the_code_documents_it() {
    use stratagem_actors::workflow::settings::{known_keys, KEYS};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### Every setting")
        .nth(1)
        .expect("a settings table in the README");
    let mut rows = std::collections::BTreeMap::new();
    for line in table.lines().skip_while(|l| !l.starts_with("| `")) {
        let Some(rest) = line.strip_prefix("| `") else {
            break;
        };
        let (key, doc) = rest.split_once("` | ").unwrap();
        rows.insert(
            key.to_string(),
            doc.trim_end_matches(" |").replace("\\|", "|"),
        );
    }
    for (key, doc) in KEYS {
        assert_eq!(rows.get(*key).map(String::as_str), Some(*doc), "{key}");
    }
    let expanded: Vec<String> = known_keys().into_iter().map(|(k, _)| k).collect();
    for key in rows.keys() {
        let known = expanded.contains(key)
            || (key.starts_with("DISCOVERY_<SOURCE>_")
                && expanded
                    .iter()
                    .any(|k| k.ends_with(key.trim_start_matches("DISCOVERY_<SOURCE>"))));
        assert!(
            known,
            "the README lists {key}, which the code does not know"
        );
    }
    assert_eq!(rows.len(), KEYS.len() + 2);
}
