//! `stratagem run --once --offline data/sources`, the README's first command: the whole
//! pipeline on the recorded payloads and the embedded bars, and its recovery — SIGKILLed at
//! random moments and run again, it ends where an uninterrupted run ends, with no step twice.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{audit_clean, bin, daemon, offline, stderr, stdout};
use serde_json::Value;
use stratagem_actors::sources::SourceName;

fn command(data: &Path, json: bool) -> Command {
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(["run", "--once", "--offline"])
        .arg(offline());
    if json {
        cmd.arg("--json");
    }
    cmd
}

fn run_once(data: &Path) -> Value {
    let out = command(data, true).output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    common::data(&stdout(&out)).unwrap()
}

/// Every stage transition of the log, counted by what identifies it: a stage run's start and
/// completion by its run id, a monitor reading by its stay and number, any other transition by
/// (strategy, kind, stage) within one stay — a strategy the monitor rolled back may legitimately
/// earn the same promotion again, once per stay.
fn transitions(data: &Path) -> HashMap<(String, String, String), u32> {
    let mut seen = HashMap::new();
    let mut stays: HashMap<String, u32> = HashMap::new();
    let text = std::fs::read_to_string(data.join("strategy_stages.jsonl")).unwrap_or_default();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let d = &v["data"];
        let strategy = d["strategy_id"]
            .as_str()
            .or(d["parent_strategy_id"].as_str())
            .unwrap_or("")
            .to_string();
        let kind = v["kind"].as_str().unwrap().to_string();
        let stage = d["stage"].as_str().or(d["to"].as_str()).unwrap_or("");
        let stay = stays.get(&strategy).copied().unwrap_or(0);
        let what = match kind.as_str() {
            "stage.started" | "stage.completed" | "stage.curve" => d["run_id"].to_string(),
            "monitor.observed" => format!("{}#{}", d["run_id"], d["observation"]),
            "clone.spawned" => d["opportunity_id"].to_string(),
            _ => format!("{stage}@{stay}"),
        };
        if kind == "stage.rolled_back" {
            *stays.entry(strategy.clone()).or_insert(0) += 1;
        }
        *seen.entry((strategy, kind, what)).or_insert(0) += 1;
    }
    seen
}

/// Regression: the README's first command names a relative data directory. The sandbox runs
/// rustc in a folder of its own, where that path pointed nowhere, so every strategy failed
/// layer 6 ("rustc error") and nothing was approved.
#[test]
fn a_relative_data_directory_works_as_the_readme_uses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(tmp.path())
        .args([
            "--data-dir",
            "demo-data",
            "run",
            "--once",
            "--json",
            "--offline",
        ])
        .arg(offline())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = common::data(&stdout(&out)).unwrap();
    assert_eq!(v["funnel"]["approved"], 2, "{v}");
    assert!(v["funnel"]["reached_cold"].as_u64().unwrap() >= 1, "{v}");
    assert!(tmp.path().join("demo-data/autonomy_state.json").is_file());
}

#[test]
fn the_main_job_prints_the_funnel_and_runs_again_without_repeating_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let out = command(data, false).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("funnel        discovered 157 → scored 157 → submitted 2 → generated 2 → validated 2 → approved 2"), "{text}");
    assert!(text.contains("stages        reached COLD 2,"), "{text}");
    assert!(
        text.contains(&data.join("strategy_stages.jsonl").display().to_string()),
        "{text}"
    );
    let first = std::fs::read_to_string(data.join("autonomy_state.json")).unwrap();
    let transitions_first = transitions(data);
    // Again: sources re-checked, nothing new, no step repeated.
    let again = run_once(data);
    assert_eq!(again["funnel"]["discovered"], 157);
    assert_eq!(
        std::fs::read_to_string(data.join("autonomy_state.json")).unwrap(),
        first
    );
    assert_eq!(transitions(data), transitions_first);
    audit_clean(data);
    sqlite_export_is_the_seeds_database(data);
    retired_stays_out_until_reopened(data);
}

/// `trace` of the main job's FULL strategy: source item → scores → generation → validation →
/// COLD → WARM → LIMITED → FULL → monitor, each step with its event's sequence number, in the
/// log's order; the text shows the same steps.
fn trace_of_the_full_strategy(data: &Path) {
    let full = common::full_strategy(data);
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["trace", &full, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let t = common::data(&stdout(&out)).unwrap();
    assert_eq!(t["strategy_id"], full.as_str());
    let steps = t["steps"].as_array().unwrap();
    let seqs: Vec<u64> = steps.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let first = |phase: &str| {
        steps
            .iter()
            .find(|s| s["phase"] == phase)
            .unwrap_or_else(|| panic!("no {phase} step in {t}"))["seq"]
            .as_u64()
            .unwrap()
    };
    let order = [
        "source",
        "score",
        "generation",
        "validation",
        "cold",
        "warm",
        "limited",
        "full",
        "monitor",
    ];
    let firsts: Vec<u64> = order.iter().map(|p| first(p)).collect();
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "{order:?} first at {firsts:?}"
    );
    // The source item is the idea's discovery, with its title; each of the six layers is there.
    assert_eq!(steps[0]["kind"], "opportunity.discovered", "{t}");
    assert_eq!(steps[0]["data"]["opportunity_id"], t["opportunity_id"]);
    let layers = steps
        .iter()
        .filter(|s| s["kind"] == "validation.layer_finished")
        .count();
    assert_eq!(layers, 6, "{t}");
    for kind in ["stage.completed", "stage.promoted", "monitor.observed"] {
        assert!(steps.iter().any(|s| s["kind"] == kind), "{kind}: {t}");
    }
    let text = stdout(
        &bin()
            .arg("--data-dir")
            .arg(data)
            .args(["trace", &full])
            .output()
            .unwrap(),
    );
    for line in [
        format!("strategy {full} "),
        format!("#{:<7} ", firsts[0]),
        "opportunity.discovered".to_string(),
        "layer 2 security: passed".to_string(),
        "promoted LIMITED → FULL".to_string(),
        "reading 1 in FULL".to_string(),
    ] {
        assert!(text.contains(&line), "{line} missing in:\n{text}");
    }
    // An id the log does not hold is refused, naming it.
    let unknown = "01900000-0000-7000-8000-000000000000";
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["trace", unknown])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("no strategy {unknown} in the log")),
        "{}",
        stderr(&out)
    );
}

/// The seed's eight success criteria after the main job, in `status --json` (`kpis`) and in
/// `status`'s text: each with its target, value and verdict, equal to the funnel's figures.
fn kpis_of_the_main_job(data: &Path, status: &Value) {
    let k = &status["kpis"];
    assert_eq!(k["window_days"], 7, "{k}");
    let names = [
        "discoveries_per_day",
        "validation_pass_rate",
        "cold_to_warm",
        "warm_to_full",
        "discovery_to_decision",
        "security_scanned",
        "audit_trail",
        "human_approval_optional",
    ];
    for name in names {
        let kpi = &k[name];
        assert!(kpi["target"].is_string(), "{name}: {k}");
        assert!(
            ["met", "missed", "no_data"].contains(&kpi["verdict"].as_str().unwrap()),
            "{name}: {k}"
        );
    }
    // 157 discovered in the last 7 days; two validations, both approved; two COLD runs, one
    // promoted to WARM, which reached FULL; every event on the chain.
    assert_eq!(k["discoveries_per_day"]["count"], 157, "{k}");
    let per_day = k["discoveries_per_day"]["value"].as_f64().unwrap();
    assert!((per_day - 157.0 / 7.0).abs() < 1e-9, "{k}");
    assert_eq!(k["validation_pass_rate"]["count"], 2, "{k}");
    assert_eq!(k["validation_pass_rate"]["of"], 2, "{k}");
    assert_eq!(k["cold_to_warm"]["count"], 1, "{k}");
    assert_eq!(k["cold_to_warm"]["of"], 2, "{k}");
    assert_eq!(k["warm_to_full"]["verdict"], "met", "{k}");
    assert_eq!(k["security_scanned"]["verdict"], "met", "{k}");
    assert_eq!(k["audit_trail"]["count"], status["log"]["events"], "{k}");
    assert_eq!(k["audit_trail"]["verdict"], "met", "{k}");
    let l = &k["discovery_to_decision"];
    assert_eq!(l["of"], 2, "{k}");
    assert!(
        l["p95_seconds"].as_f64().unwrap() >= l["p50_seconds"].as_f64().unwrap(),
        "{k}"
    );
    let text = stdout(
        &bin()
            .arg("--data-dir")
            .arg(data)
            .arg("status")
            .output()
            .unwrap(),
    );
    assert!(
        text.contains("success criteria over the 7 days to the last event, "),
        "{text}"
    );
    for line in [
        "discoveries per day      MET      22.43 a day (157 in all)  (target ≥ 1 a day)",
        "validation pass rate     MET      100.0 % (2 of 2)  (target ≥ 50 %)",
        "COLD → WARM              MET      50.0 % (1 of 2)  (target ≥ 20 %)",
        "WARM → FULL              MET      100.0 % (1 of 1)  (target ≥ 10 %)",
        "discovery → decision     MET      p50 ",
        "security-scanned code    MET      100.0 % (2 of 2)  (target 100 %)",
        "audit trail              MET      100.0 % (",
        "human approval optional  MET      100.0 % (",
    ] {
        assert!(text.contains(line), "{line} missing in:\n{text}");
    }
}

/// `audit export --format sqlite` writes the seed's `strategy_opportunities.db`: its two tables
/// with the seed's columns, rows as many as `status` counts, plus strategies, validations and
/// stage runs.
fn sqlite_export_is_the_seeds_database(data: &Path) {
    let out = data.join("sql");
    let run = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["audit", "export", "--format", "sqlite", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let status = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: Value = common::data(&stdout(&status)).unwrap();
    // Discovery ran, and a strategy rejected at COLD counts as rejected.
    assert_eq!(status["strategy_discovery_active"], true, "{status}");
    assert!(
        status["strategies_rejected"].as_u64().unwrap() >= 1,
        "{status}"
    );
    kpis_of_the_main_job(data, &status);
    trace_of_the_full_strategy(data);
    let db = rusqlite::Connection::open_with_flags(
        out.join("strategy_opportunities.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let columns = |table: &str| -> Vec<String> {
        let mut q = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        q.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let have = columns("strategy_opportunities");
    for seed in [
        "id",
        "source",
        "title",
        "alpha_hypothesis",
        "estimated_sharpe",
        "implementation_complexity",
        "capital_efficiency",
        "novelty_score",
        "market_fit_score",
        "composite_score",
        "status",
        "discovered_at",
        "submitted_at",
    ] {
        assert!(have.iter().any(|c| c == seed), "no column {seed}: {have:?}");
    }
    let have = columns("discovery_sources");
    for seed in [
        "id",
        "source",
        "last_checked",
        "check_interval_minutes",
        "enabled",
    ] {
        assert!(have.iter().any(|c| c == seed), "no column {seed}: {have:?}");
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM strategy_opportunities"),
        status["opportunities_discovered"].as_i64().unwrap()
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM strategy_opportunities WHERE submitted_at IS NOT NULL"),
        status["opportunities_submitted"].as_i64().unwrap()
    );
    assert_eq!(count("SELECT COUNT(*) FROM discovery_sources"), 7);
    assert_eq!(
        count("SELECT COUNT(*) FROM discovery_sources WHERE source = 'arxiv' AND check_interval_minutes = 360"),
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM validations WHERE decision = 'approved'"),
        status["strategies_approved"].as_i64().unwrap()
    );
    assert!(count("SELECT COUNT(*) FROM stage_runs WHERE stage = 'full' AND passed = 1") >= 1);
}

/// The event of `kind` about a strategy, from an audit file, as JSON.
fn audit_event(data: &Path, file: &str, kind: &str) -> Value {
    let text = std::fs::read_to_string(data.join(file)).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .unwrap_or_else(|| panic!("no {kind} in {file}"));
    serde_json::from_str(line).unwrap()
}

/// A retired strategy is terminal: validating its file records nothing and says why; a
/// person's `review reopen` lets it back in.
fn retired_stays_out_until_reopened(data: &Path) {
    let retired = audit_event(data, "strategy_stages.jsonl", "strategy.retired");
    let id = retired["data"]["strategy_id"].as_str().unwrap().to_string();
    let generation = std::fs::read_to_string(data.join("strategy_generation.jsonl")).unwrap();
    let generated: Value = generation
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["data"]["strategy_id"] == id.as_str())
        .unwrap();
    let file = data.join(generated["data"]["path"].as_str().unwrap());
    let state = std::fs::read_to_string(data.join("autonomy_state.json")).unwrap();
    let validation = std::fs::read_to_string(data.join("strategy_validation.jsonl")).unwrap();
    let run = |args: &[&str]| {
        bin()
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["validate", file.to_str().unwrap()]);
    assert!(!out.status.success(), "a retired strategy validated again");
    let why = stderr(&out);
    assert!(
        why.contains("is retired") && why.contains(&format!("review reopen {id}")),
        "{why}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("strategy_validation.jsonl")).unwrap(),
        validation,
        "something was recorded"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("autonomy_state.json")).unwrap(),
        state
    );
    // A reason is required; then it is back in, and its validation is recorded.
    assert!(!run(&["review", "reopen", &id, "--reason", " "])
        .status
        .success());
    let out = run(&["review", "reopen", &id, "--reason", "a second look"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reopened"), "{}", stdout(&out));
    let out = run(&["validate", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains(&format!("recorded in the log for strategy {id}")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let reopened = audit_event(data, "strategy_validation.jsonl", "review.reopened");
    assert_eq!(reopened["data"]["reason"], "a second look");
    // Reopening what is not terminal is refused.
    let again = run(&["review", "reopen", &id, "--reason", "twice"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("nothing to reopen"),
        "{}",
        stderr(&again)
    );
    audit_clean(data);
}

#[test]
fn killed_at_random_moments_it_ends_where_an_uninterrupted_run_ends() {
    let reference = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let expected_funnel = run_once(reference.path())["funnel"].clone();
    let horizon = started.elapsed().as_millis() as u64;
    let expected_state =
        std::fs::read_to_string(reference.path().join("autonomy_state.json")).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let (killed, attempts, trials) = kill_repeatedly(|| command(data, true), horizon);
    assert_eq!(
        killed, trials,
        "only {killed} of {attempts} runs were cut short"
    );
    let finished = run_once(data);
    assert_eq!(finished["funnel"], expected_funnel);
    assert_eq!(
        std::fs::read_to_string(data.join("autonomy_state.json")).unwrap(),
        expected_state
    );
    // No stage transition twice: one start, one completion, one promotion per strategy and stage.
    for (key, n) in transitions(data) {
        assert_eq!(n, 1, "{key:?} recorded {n} times");
    }
    audit_clean(data);
}

#[test]
fn a_hand_submission_goes_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Recorded responses: none (each source's folder empty).
    let empty = tmp.path().join("offline");
    for s in [
        "arxiv",
        "reddit",
        "twitter",
        "defillama",
        "edgar",
        "network",
        "manual",
    ] {
        std::fs::create_dir_all(empty.join(s)).unwrap();
    }
    let out = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["submit", "--title", "Bitcoin breakout above the 20-day high"])
        .args(["--hypothesis", "Buy BTC when the close breaks the 20-day Donchian channel high; stop-loss at the channel low; no leverage."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--once", "--json", "--offline"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = common::data(&stdout(&out)).unwrap();
    let f = &v["funnel"];
    // Scored by the rule extractor (breakout, Donchian template), submitted, generated from the
    // donchian_breakout template with its stated 20-day channel, validated, staged.
    assert_eq!(
        (
            f["discovered"].as_u64(),
            f["submitted"].as_u64(),
            f["generated"].as_u64(),
            f["approved"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(f["reached_cold"], 1, "{v}");
    let generation = std::fs::read_to_string(data.join("strategy_generation.jsonl")).unwrap();
    assert!(
        generation.contains("\"template\":\"donchian_breakout\""),
        "{generation}"
    );
    audit_clean(&data);
}

// Needs the chaos hooks (`--features chaos`, as scripts/test runs it).
#[cfg(feature = "chaos")]
#[test]
fn every_pipeline_worker_that_crashes_is_restarted_and_its_queue_rebuilt_from_the_log() {
    let reference = tempfile::tempdir().unwrap();
    let expected = run_once(reference.path())["funnel"].clone();
    // Each worker in turn panics on its first job (the monitor on its first pass); the
    // pipeline supervisor restarts it after its backoff and rebuilds its queue from the read
    // models, so what was waiting for it is still done, once.
    for (chaos, actor) in [
        ("generator", "generator"),
        ("validator", "validator"),
        ("warm", "stage/warm"),
        ("monitor", "monitor"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        let out = command(data, true)
            .env("STRATAGEM_CHAOS_PANIC_STAGE", chaos)
            .output()
            .unwrap();
        assert!(out.status.success(), "{chaos}: {}", stderr(&out));
        let v: Value = common::data(&stdout(&out)).unwrap();
        assert_eq!(v["funnel"], expected, "{chaos}");
        let ops = std::fs::read_to_string(data.join("operations.jsonl")).unwrap();
        let restarted: Vec<Value> = ops
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["kind"] == "actor.restarted")
            .collect();
        assert_eq!(restarted.len(), 1, "{chaos}: {ops}");
        assert_eq!(restarted[0]["data"]["actor"], actor);
        for (key, n) in transitions(data) {
            assert_eq!(n, 1, "{chaos}: {key:?} recorded {n} times");
        }
        audit_clean(data);
    }
}

// Needs the chaos hooks (`--features chaos`, as scripts/test runs it).
#[cfg(feature = "chaos")]
#[test]
fn the_root_supervisor_restarts_a_failed_phase_a_source_and_the_notifier() {
    let reference = tempfile::tempdir().unwrap();
    let expected = run_once(reference.path())["funnel"].clone();
    // Discovery or the pipeline failing to start, a source actor panicking, the notifier
    // panicking mid-delivery (with a webhook nobody answers): each is restarted by its
    // supervisor, recorded once as `actor.restarted`, and the cycle ends as an undisturbed one.
    for (env, actor) in [
        (
            vec![("STRATAGEM_CHAOS_FAIL_PHASE", "discovery")],
            "discovery",
        ),
        (vec![("STRATAGEM_CHAOS_FAIL_PHASE", "pipeline")], "pipeline"),
        (
            vec![("STRATAGEM_CHAOS_PANIC_SOURCE", "reddit")],
            "source/reddit",
        ),
        (
            vec![
                ("STRATAGEM_CHAOS_PANIC_STAGE", "notifier"),
                ("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
                ("SLACK_MIN_INTERVAL_MS", "0"),
                ("SLACK_MAX_ATTEMPTS", "1"),
            ],
            "notifier",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        let out = command(data, true).envs(env.clone()).output().unwrap();
        assert!(out.status.success(), "{env:?}: {}", stderr(&out));
        let v: Value = common::data(&stdout(&out)).unwrap();
        assert_eq!(v["funnel"], expected, "{env:?}");
        let ops: Vec<Value> = std::fs::read_to_string(data.join("operations.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        let restarted: Vec<&Value> = ops
            .iter()
            .filter(|l| l["kind"] == "actor.restarted")
            .collect();
        assert_eq!(restarted.len(), 1, "{env:?}: {restarted:?}");
        assert_eq!(restarted[0]["data"]["actor"], actor);
        if actor == "notifier" {
            // Nothing listens on the webhook: the message in the notifier's hands when it
            // panicked failed, and so did the attempts after it; nothing was held up, and
            // every message waits in the outbox.
            let failed: Vec<&Value> = ops
                .iter()
                .filter(|l| l["kind"] == "notification.failed")
                .collect();
            assert!(!failed.is_empty(), "{ops:?}");
            assert!(failed
                .iter()
                .any(|f| f["data"]["error"] == "the notifier stopped while delivering"));
            assert!(ops.iter().all(|l| l["kind"] != "notification.sent"));
            let queued = ops
                .iter()
                .filter(|l| l["kind"] == "notification.queued")
                .count();
            assert!(queued >= 5, "{queued}");
            let status: Value = common::data(&stdout(
                &Command::new(env!("CARGO_BIN_EXE_stratagem"))
                    .args(["--data-dir", data.to_str().unwrap(), "status", "--json"])
                    .output()
                    .unwrap(),
            ))
            .unwrap();
            assert_eq!(status["notifications_waiting"], queued as u64);
            assert!(!std::fs::read_to_string(data.join("operations.jsonl"))
                .unwrap()
                .contains("127.0.0.1:9"));
        }
        for (key, n) in transitions(data) {
            assert_eq!(n, 1, "{env:?}: {key:?} recorded {n} times");
        }
        audit_clean(data);
    }
}

#[test]
fn the_daemon_cycles_on_its_tick_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(["run", "--offline"])
        .arg(offline())
        .env("RUN_TICK_SECONDS", "1")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("CONSOLE_ADDR", "off");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = common::StdoutLines::of(&mut child);
    out.until(Duration::from_secs(60), "no third cycle", |seen| {
        seen.iter().any(|l| l.starts_with("cycle 3 ("))
    });
    let lines = &out.seen;
    // The first cycle carries the pipeline through; later ones find nothing due or waiting.
    let addr = lines[0]
        .strip_prefix("metrics on http://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("{lines:?}"))
        .to_string();
    assert!(
        lines[1].contains("reached COLD 2, WARM 1, LIMITED 1, FULL 1"),
        "{lines:?}"
    );
    let metrics = http_get(&addr, "/metrics");
    for expected in [
        "HTTP/1.1 200 OK",
        "# TYPE stratagem_events_appended_total counter",
        "stratagem_source_up{source=\"arxiv\"} 1",
        "stratagem_source_checks_total{source=\"reddit\"} 1",
        // The FULL strategy degraded on its stay, was rolled back twice and retired.
        "stratagem_stage_strategies{stage=\"full\"} 0",
        "stratagem_rollbacks_total 2",
        "stratagem_strategies{status=\"retired\"} 1",
        "stratagem_stage_outcomes_total{stage=\"cold\",outcome=\"reached\"} 2",
        "stratagem_queue_depth{queue=\"stage_cold\"} 0",
        "stratagem_opportunities{status=\"held\"}",
        // The seed's success criteria over the default 7 days.
        "stratagem_kpi_value{kpi=\"validation_pass_rate\",window_days=\"7\"} 1",
        "stratagem_kpi_value{kpi=\"cold_to_warm\",window_days=\"7\"} 0.5",
        "stratagem_kpi_target{kpi=\"warm_to_full\",window_days=\"7\"} 0.1",
        "stratagem_kpi_target{kpi=\"discovery_to_decision_p95_seconds\",window_days=\"7\"} 300",
        "stratagem_kpi_met{kpi=\"discoveries_per_day\",window_days=\"7\"} 1",
        "stratagem_kpi_met{kpi=\"audit_trail\",window_days=\"7\"} 1",
        "stratagem_kpi_met{kpi=\"discovery_to_decision\",window_days=\"7\"} 1",
        "stratagem_kpi_discovery_to_decision_seconds{quantile=\"0.95\",window_days=\"7\"}",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing in:\n{metrics}"
        );
    }
    assert!(!metrics.contains("stratagem_cycles_total 0"), "{metrics}");
    // `status` while the daemon holds the log asks its read API: the criteria come with it.
    let held = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let held: Value = common::data(&stdout(&held)).unwrap();
    assert_eq!(held["kpis"]["validation_pass_rate"]["of"], 2, "{held}");
    assert_eq!(held["kpis"]["audit_trail"]["verdict"], "met", "{held}");
    // So does `trace`: the daemon reads its own log for it.
    let full = common::full_strategy(data);
    let traced = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["trace", &full, "--json"])
        .output()
        .unwrap();
    assert!(traced.status.success(), "{}", stderr(&traced));
    let traced: Value = common::data(&stdout(&traced)).unwrap();
    assert_eq!(traced["strategy_id"], full.as_str(), "{traced}");
    assert!(
        traced["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["phase"] == "full"),
        "{traced}"
    );
    assert!(http_get(&addr, "/livez").starts_with("HTTP/1.1 200 OK"));
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200 OK"));
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
    out.rest(Duration::from_millis(500));
    let lines = &out.seen;
    assert!(
        lines.iter().any(|l| l.starts_with("stopped after")),
        "{lines:?}"
    );
    // Each source was checked once: its interval (hours) had not passed again.
    let ops = std::fs::read_to_string(data.join("operations.jsonl")).unwrap();
    assert_eq!(
        ops.lines()
            .filter(|l| l.contains("\"kind\":\"source.checked\""))
            .count(),
        7
    );
    audit_clean(data);
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Seven simulated days unattended: 168 cycles of one simulated hour each, back to back, the
/// sources re-polled from the recordings on their own intervals. Resident memory after the
/// first cycle (wasmtime, the sandbox, caches warm) and at the end must stay flat.
#[test]
fn seven_simulated_days_unattended_keep_memory_flat() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let out = daemon(data, 168).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cycle 168 ("), "{text}");
    // "resident memory A MiB at start, B MiB after the first cycle, C MiB after 24 cycles,
    // D MiB at the end; event log E MiB on disk"
    let line = text
        .lines()
        .find(|l| l.starts_with("resident memory"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mib: Vec<f64> = words
        .windows(2)
        .filter(|w| w[1].starts_with("MiB"))
        .map(|w| w[0].parse().unwrap())
        .collect();
    assert_eq!(mib.len(), 5, "{line}");
    let (first, day, end) = (mib[1], mib[2], mib[3]);
    println!("{line}");
    // Flat: after the first simulated day (caches and allocator settled), the last six days
    // add at most 10 % (a leak of even 60 KiB a cycle would add 8.4 MiB over 144 cycles).
    assert!(end <= day * 1.10 + 2.0, "memory grew: {line}");
    assert!(end <= first * 1.3 + 8.0, "memory grew: {line}");
    // Each source polled on its own interval over 168 simulated hours.
    let ops = std::fs::read_to_string(data.join("operations.jsonl")).unwrap();
    let checks = |s: &str| {
        ops.lines()
            .filter(|l| {
                l.contains("\"kind\":\"source.checked\"")
                    && l.contains(&format!("\"source\":\"{s}\""))
            })
            .count()
    };
    for (source, hours) in [
        ("arxiv", 6),
        ("reddit", 1),
        ("twitter", 1),
        ("defillama", 4),
        ("edgar", 2),
        ("network", 12),
        ("manual", 1),
    ] {
        assert_eq!(checks(source), 168 / hours, "{source}");
    }
    audit_clean(data);
}

/// Starts `make()` again and again, SIGKILLing each run at a random moment within the time a
/// whole run takes, until `STRATAGEM_CHAOS_TRIALS` (20) of them were killed mid-run: early ones
/// die in discovery, generation, rustc, the sandbox or a stage; once the pipeline is through,
/// later (shorter) runs die while the sources are re-checked and recorded. A run that finished
/// first sets the new time a run takes. Returns (killed, attempts, trials).
/// SIGINT and SIGTERM stop `run --once` where it stands, with a message and exit 130; the next
/// run resumes what was in flight and ends where an uninterrupted run ends.
#[test]
fn a_signal_stops_run_once_with_a_message_and_the_next_run_resumes() {
    let reference = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let expected = run_once(reference.path())["funnel"].clone();
    let horizon = started.elapsed().as_millis() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut stopped = Vec::new();
    for attempt in 0..20u64 {
        let mut child = command(data, false)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Somewhere in the first half of a run, once the process is up.
        std::thread::sleep(Duration::from_millis(
            150 + (attempt * 97) % (horizon / 2).max(1),
        ));
        let signal = if attempt % 2 == 0 { "-INT" } else { "-TERM" };
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run --once did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        match status.code() {
            Some(130) => {
                assert!(
                    err.contains("stopped by SIG") && err.contains("resumes"),
                    "{err}"
                );
                stopped.push(signal);
            }
            // The signal came after the run ended: nothing to stop.
            Some(0) => {}
            other => panic!("exit {other:?} after {signal}: {err}"),
        }
        if stopped.contains(&"-INT") && stopped.contains(&"-TERM") {
            break;
        }
    }
    assert!(
        stopped.contains(&"-INT") && stopped.contains(&"-TERM"),
        "stopped by {stopped:?} only"
    );
    assert_eq!(run_once(data)["funnel"], expected);
    for (key, n) in transitions(data) {
        assert_eq!(n, 1, "{key:?} recorded {n} times");
    }
    audit_clean(data);
}

fn kill_repeatedly(make: impl Fn() -> Command, mut horizon: u64) -> (u32, u32, u32) {
    let trials: u32 = std::env::var("STRATAGEM_CHAOS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = fastrand::Rng::with_seed(
        std::env::var("STRATAGEM_CHAOS_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(11),
    );
    let (mut killed, mut attempts) = (0, 0);
    while killed < trials && attempts < trials * 5 {
        attempts += 1;
        let started = std::time::Instant::now();
        let mut child = make()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = started + Duration::from_millis(rng.u64(5..horizon.max(10)));
        let finished = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if finished {
            horizon = started.elapsed().as_millis() as u64;
        } else {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let _ = child.wait();
    }
    (killed, attempts, trials)
}

/// The chaos test of the daemon: offline on the simulated clock, SIGKILLed at 20 random
/// moments and restarted each time; the final state equals an uninterrupted daemon's, no
/// stage transition appears twice, the audit is clean.
#[test]
fn the_daemon_killed_at_random_moments_ends_where_an_uninterrupted_daemon_ends() {
    let reference = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = daemon(reference.path(), 12).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let horizon = started.elapsed().as_millis() as u64;
    let expected = std::fs::read_to_string(reference.path().join("autonomy_state.json")).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let (killed, attempts, trials) = kill_repeatedly(|| daemon(data, 12), horizon);
    assert_eq!(
        killed, trials,
        "only {killed} of {attempts} runs were cut short"
    );
    let out = daemon(data, 12).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data.join("autonomy_state.json")).unwrap(),
        expected
    );
    for (key, n) in transitions(data) {
        assert_eq!(n, 1, "{key:?} recorded {n} times");
    }
    audit_clean(data);
}

/// Regression: an idle cycle reused the last report, and with it the last cycle's checked
/// sources, so on the simulated clock a source checked once was marked checked again at every
/// idle cycle and never fell due again. With only EDGAR on (every 2 h), six simulated hours
/// check it at hours 0, 2 and 4, the cycles between idle.
#[test]
fn an_idle_cycle_checks_no_source_so_sources_still_fall_due() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut cmd = daemon(data, 6);
    for source in SourceName::ALL {
        if source != SourceName::Edgar {
            cmd.env(source.enable_var(), "0");
        }
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cycle "))
        .map(|l| l.split_once(" (").unwrap().1.split(',').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["worked", "idle", "worked", "idle", "worked", "idle"],
        "{text}"
    );
    let ops = std::fs::read_to_string(data.join("operations.jsonl")).unwrap();
    let edgar_checks = ops
        .lines()
        .filter(|l| l.contains("\"kind\":\"source.checked\"") && l.contains("\"source\":\"edgar\""))
        .count();
    assert_eq!(edgar_checks, 3, "{ops}");
    audit_clean(data);
}

/// Slack unreachable costs the pipeline nothing: the decisions' messages wait in the outbox on
/// the log, and the run after the webhook is back delivers every one, in order.
#[test]
fn with_slack_down_the_messages_wait_in_the_outbox_and_go_when_it_is_back() {
    use common::http::{LoopbackServer, Reply};
    let reference = tempfile::tempdir().unwrap();
    let expected = run_once(reference.path())["funnel"].clone();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}/services/T0/B0/x");
    let out = command(data, true)
        .env("SLACK_WEBHOOK_URL", &down)
        .env("SLACK_MIN_INTERVAL_MS", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = common::data(&stdout(&out)).unwrap();
    assert_eq!(v["funnel"], expected, "the same decisions as without Slack");
    let lines = |kind: &str| -> Vec<Value> {
        std::fs::read_to_string(data.join("operations.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["kind"] == kind)
            .collect()
    };
    let queued = lines("notification.queued");
    assert!(queued.len() >= 5, "{}", queued.len());
    assert!(lines("notification.sent").is_empty());
    let waiting = |data: &Path| -> u64 {
        let out = bin()
            .args(["--data-dir", data.to_str().unwrap(), "status", "--json"])
            .output()
            .unwrap();
        common::data(&stdout(&out)).unwrap()["notifications_waiting"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(waiting(data), queued.len() as u64);

    let slack = LoopbackServer::start(vec![Reply::bytes(200, "text/plain", "ok")]);
    let out = command(data, true)
        .env(
            "SLACK_WEBHOOK_URL",
            format!("{}/services/T0/B0/x", slack.url),
        )
        .env("SLACK_MIN_INTERVAL_MS", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let texts: Vec<String> = slack
        .requests()
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    let expected_texts: Vec<String> = queued
        .iter()
        .map(|q| q["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts, expected_texts,
        "every waiting message, in order, once"
    );
    assert_eq!(lines("notification.sent").len(), queued.len());
    assert_eq!(waiting(data), 0);
    audit_clean(data);
}
