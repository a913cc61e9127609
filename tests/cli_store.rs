//! The event log on NATS JetStream through the binary (`--store`, `store copy`), on real
//! `nats-server` processes: a three-node cluster for the migration both ways, one node for the
//! pipeline run on it.

mod common;
#[path = "../events/tests/common/nats.rs"]
mod nats;

use common::{fails, ok, stderr};
use serde_json::Value;

const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sources");

fn json(out: &str) -> Value {
    let v: Value = serde_json::from_str(out).unwrap();
    assert_eq!(v["ok"], true, "{v:#}");
    v["data"].clone()
}

/// `audit verify`'s line: the event count and head hash.
fn verified(dir: &std::path::Path, store: Option<&str>) -> String {
    let mut args = vec!["audit", "verify"];
    if let Some(s) = store {
        args.extend(["--store", s]);
    }
    let out = ok(dir, &args);
    assert!(out.starts_with("chain ok: "), "{out}");
    out.lines().next().unwrap().to_string()
}

#[test]
fn a_log_copied_to_a_cluster_and_back_verifies_to_the_same_head_hash_and_the_same_audit_files() {
    let cluster = nats::Nats::cluster();
    let tmp = tempfile::tempdir().unwrap();
    let (sled, on_nats, back) = (
        tmp.path().join("sled"),
        tmp.path().join("nats"),
        tmp.path().join("back"),
    );
    ok(&sled, &["run", "--once", "--offline", SOURCES]);
    let stream = format!("nats://{}/MIGRATED", cluster.servers());
    let from_sled = format!("sled:{}", sled.join("events").display());
    let copied = json(&ok(
        tmp.path(),
        &[
            "store", "copy", "--from", &from_sled, "--to", &stream, "--json",
        ],
    ));
    let events = copied["events"].as_u64().unwrap();
    assert!(events > 500, "{copied:#}");
    assert_eq!(copied["copied"], events);
    let head = verified(&sled, None);
    assert!(
        head.contains(copied["head_hash"].as_str().unwrap()),
        "{head}"
    );
    std::fs::create_dir_all(&on_nats).unwrap();
    assert_eq!(
        verified(&on_nats, Some(&stream)),
        head,
        "the same head hash"
    );
    // Three copies of the stream, one on each node.
    assert_eq!(cluster.replicas(), 3);
    // The audit trail rebuilt from the stream is the one rebuilt from sled, file for file.
    let (a, b) = (sled.join("exp"), on_nats.join("exp"));
    ok(&sled, &["audit", "export", "--out", a.to_str().unwrap()]);
    ok(
        &on_nats,
        &[
            "--store",
            &stream,
            "audit",
            "export",
            "--out",
            b.to_str().unwrap(),
        ],
    );
    for file in std::fs::read_dir(sled.join("exp")).unwrap() {
        let name = file.unwrap().file_name();
        assert_eq!(
            std::fs::read(sled.join("exp").join(&name)).unwrap(),
            std::fs::read(on_nats.join("exp").join(&name)).unwrap(),
            "{name:?}"
        );
    }
    // Projections made from the stream replay clean.
    let replay = ok(&on_nats, &["--store", &stream, "audit", "replay"]);
    assert!(replay.starts_with("identical"), "{replay}");
    // And back to sled: the same again.
    let to_sled = format!("sled:{}", back.join("events").display());
    let report = ok(
        tmp.path(),
        &["store", "copy", "--from", &stream, "--to", &to_sled],
    );
    assert!(
        report.contains(&format!("copied {events} events")),
        "{report}"
    );
    assert_eq!(verified(&back, None), head);
    // A second copy finds nothing to do; a copy onto another log is refused.
    let again = json(&ok(
        tmp.path(),
        &[
            "store", "copy", "--from", &stream, "--to", &to_sled, "--json",
        ],
    ));
    assert_eq!(
        (again["already"].as_u64(), again["copied"].as_u64()),
        (Some(events), Some(0))
    );
    let other = tmp.path().join("other");
    ok(&other, &["run", "--once", "--offline", SOURCES]);
    let err = fails(
        tmp.path(),
        &[
            "store",
            "copy",
            "--from",
            &format!("sled:{}", other.join("events").display()),
            "--to",
            &stream,
        ],
    );
    assert!(err.contains("not the start of the log"), "{err}");
}

#[test]
fn the_pipeline_on_a_stream_gives_the_funnel_it_gives_on_sled() {
    let server = nats::Nats::single();
    let tmp = tempfile::tempdir().unwrap();
    let stream = format!("nats://{}/PIPELINE", server.servers());
    let on_sled = json(&ok(
        &tmp.path().join("sled"),
        &["run", "--once", "--offline", SOURCES, "--json"],
    ));
    let on_nats = json(&ok(
        &tmp.path().join("nats"),
        &[
            "--store",
            &stream,
            "run",
            "--once",
            "--offline",
            SOURCES,
            "--json",
        ],
    ));
    assert_eq!(on_nats["funnel"], on_sled["funnel"]);
    assert!(
        on_nats["funnel"]["reached_full"].as_u64().unwrap() >= 1,
        "{on_nats:#}"
    );
    // No event log in the data directory: the stream is the log.
    assert!(!tmp.path().join("nats/events").exists());
    let head = verified(&tmp.path().join("nats"), Some(&stream));
    let status = ok(&tmp.path().join("nats"), &["--store", &stream, "status"]);
    let events = head.split_whitespace().nth(2).unwrap();
    assert!(
        status.contains(&format!("event log     {events} events")),
        "{status}"
    );
    // A second run on the same stream resumes from it: nothing is discovered twice.
    let second = json(&ok(
        &tmp.path().join("nats"),
        &[
            "--store",
            &stream,
            "run",
            "--once",
            "--offline",
            SOURCES,
            "--json",
        ],
    ));
    assert_eq!(
        second["funnel"]["discovered"],
        on_sled["funnel"]["discovered"]
    );
}

#[test]
fn a_store_that_is_not_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, says) in [
        ("sled:", "sled:DIR names the store's directory"),
        ("nats://127.0.0.1:4222", "no stream name"),
        ("nats://127.0.0.1:4222/a.b", "the stream name must be"),
        (
            "postgres://x/y",
            "a store is sled:DIR or nats://HOST:PORT/STREAM",
        ),
    ] {
        let err = fails(tmp.path(), &["--store", store, "status"]);
        assert!(err.contains(says), "{store}: {err}");
    }
    // Nobody listening: named, in seconds.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let began = std::time::Instant::now();
    let out = common::run(
        tmp.path(),
        &["--store", &format!("nats://127.0.0.1:{port}/S"), "status"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot reach the server"),
        "{}",
        stderr(&out)
    );
    assert!(began.elapsed() < std::time::Duration::from_secs(30));
}

/// Collects a child's output lines as they come.
fn collect(pipe: impl std::io::Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let into = text.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut t = into.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

fn wait_for_text(
    text: &std::sync::Arc<std::sync::Mutex<String>>,
    what: &str,
    within: std::time::Duration,
) -> std::time::Instant {
    let began = std::time::Instant::now();
    loop {
        if text.lock().unwrap().contains(what) {
            return std::time::Instant::now();
        }
        assert!(
            began.elapsed() < within,
            "no {what:?} in {within:?}: {}",
            text.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn two_daemons_on_one_stream_one_acts_and_the_other_takes_over_within_the_lease_after_a_kill() {
    use std::process::Stdio;
    use std::time::Duration;
    let server = nats::Nats::single();
    let tmp = tempfile::tempdir().unwrap();
    let stream = format!("nats://{}/LEAD", server.servers());
    let lease = 3;
    let daemon = |dir: &str, cycles: u32, tick: &str| {
        let mut cmd = common::daemon(&tmp.path().join(dir), cycles);
        cmd.args(["--store", &stream])
            .env("LEADER_LEASE_SECONDS", lease.to_string())
            .env("RUN_TICK_SECONDS", tick)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        (child, out, err)
    };
    // The first leads and works, a cycle a second.
    let (mut a, a_out, a_err) = daemon("a", 1_000, "1");
    wait_for_text(&a_err, "leader: ", Duration::from_secs(30));
    wait_for_text(&a_out, "cycle 2 ", Duration::from_secs(60));
    // The second waits: it names the leader and does nothing.
    let (mut b, b_out, b_err) = daemon("b", 4, "0");
    wait_for_text(&b_err, "standby: ", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !b_out.lock().unwrap().contains("cycle "),
        "the standby acted"
    );
    assert!(!tmp.path().join("b/autonomy_state.json").exists());
    // The leader dies without a word: its lease lapses, and the standby takes over within it.
    a.kill().unwrap();
    a.wait().unwrap();
    let killed = std::time::Instant::now();
    let took_over = wait_for_text(&b_err, "leader: ", Duration::from_secs(30));
    let after = took_over - killed;
    eprintln!(
        "the standby led {:.2} s after the leader's SIGKILL (lease {lease} s)",
        after.as_secs_f64()
    );
    // The lease's time, and the standby's polling and the server's expiry timer around it.
    assert!(
        after <= Duration::from_millis(lease * 1000 + 1_000),
        "{after:?}"
    );
    // It carries on from the log and ends its cycles.
    let status = b.wait().unwrap();
    assert!(status.success(), "{}", b_err.lock().unwrap());
    assert!(
        b_out.lock().unwrap().contains("cycle 4 "),
        "{}",
        b_out.lock().unwrap()
    );
    // One log, every transition once.
    let b_dir = tmp.path().join("b");
    let verify = ok(&b_dir, &["--store", &stream, "audit", "verify"]);
    assert!(verify.starts_with("chain ok"), "{verify}");
    let replay = ok(&b_dir, &["--store", &stream, "audit", "replay"]);
    assert!(replay.starts_with("identical"), "{replay}");
    let text = std::fs::read_to_string(b_dir.join("strategy_stages.jsonl")).unwrap();
    let mut runs = std::collections::HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if matches!(
            v["kind"].as_str(),
            Some("stage.started" | "stage.completed")
        ) {
            *runs
                .entry((v["kind"].to_string(), v["data"]["run_id"].to_string()))
                .or_insert(0) += 1;
        }
    }
    assert!(!runs.is_empty(), "{text}");
    for (key, n) in runs {
        assert_eq!(n, 1, "{key:?} recorded {n} times");
    }
}

/// A `stratagem worker` on `stream`, its data directory `dir`; stdout and stderr collected.
fn worker(
    dir: &std::path::Path,
    stream: &str,
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<String>>,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::process::Stdio;
    let mut child = common::bin()
        .arg("--data-dir")
        .arg(dir)
        .args(["--store", stream, "worker"])
        .env("JOB_ACK_SECONDS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    (child, out, err)
}

/// The `validation.decided` events of the log, by strategy.
fn decisions(data: &std::path::Path) -> std::collections::HashMap<String, u32> {
    let text = std::fs::read_to_string(data.join("strategy_validation.jsonl")).unwrap();
    let mut by = std::collections::HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "validation.decided" {
            *by.entry(v["data"]["strategy_id"].to_string()).or_insert(0) += 1;
        }
    }
    by
}

#[test]
fn with_two_workers_the_pipeline_gives_the_funnel_and_state_it_gives_alone_on_sled() {
    let server = nats::Nats::single();
    let tmp = tempfile::tempdir().unwrap();
    let stream = format!("nats://{}/WORK", server.servers());
    let alone = json(&ok(
        &tmp.path().join("alone"),
        &["run", "--once", "--offline", SOURCES, "--json"],
    ));
    let (mut w1, out1, _) = worker(&tmp.path().join("w1"), &stream);
    let (mut w2, out2, _) = worker(&tmp.path().join("w2"), &stream);
    let data = tmp.path().join("coordinator");
    let out = common::run_with(
        &data,
        &[
            "--store",
            &stream,
            "run",
            "--once",
            "--offline",
            SOURCES,
            "--json",
        ],
        &[("REMOTE_WORKERS", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let with_workers = json(&common::stdout(&out));
    assert_eq!(with_workers["funnel"], alone["funnel"]);
    assert_eq!(
        std::fs::read_to_string(data.join("autonomy_state.json")).unwrap(),
        std::fs::read_to_string(tmp.path().join("alone/autonomy_state.json")).unwrap()
    );
    // Every validation was a worker's, once; so was every stage run.
    let (out1, out2) = (out1.lock().unwrap().clone(), out2.lock().unwrap().clone());
    let jobs =
        out1.matches("validated strategy").count() + out2.matches("validated strategy").count();
    let validated = alone["funnel"]["validated"].as_u64().unwrap() as usize;
    assert_eq!(jobs, validated, "{out1}{out2}");
    let stage_jobs = out1.matches("job stage-").count() + out2.matches("job stage-").count();
    let runs = [
        "reached_cold",
        "reached_warm",
        "reached_limited",
        "reached_full",
    ]
    .iter()
    .map(|k| alone["funnel"][k].as_u64().unwrap() as usize)
    .sum::<usize>();
    assert!(
        stage_jobs >= runs,
        "{stage_jobs} stage jobs for {runs} runs: {out1}{out2}"
    );
    eprintln!("{stage_jobs} stage jobs for {runs} stage runs; {jobs} validations");
    for line in out1.lines().chain(out2.lines()) {
        assert!(!line.contains("could not be done"), "{line}");
    }
    for (strategy, n) in decisions(&data) {
        assert_eq!(n, 1, "{strategy}");
    }
    // The same audit files: each holds the same events, kind for kind (their ids and times are
    // each run's own).
    let kinds = |file: &std::path::Path| {
        let mut by = std::collections::BTreeMap::new();
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            *by.entry(v["kind"].as_str().unwrap().to_string())
                .or_insert(0u32) += 1;
        }
        by
    };
    let mut compared = 0;
    for file in alone["audit_files"].as_array().unwrap() {
        let name = std::path::Path::new(file.as_str().unwrap())
            .file_name()
            .unwrap()
            .to_owned();
        if !name.to_string_lossy().ends_with(".jsonl") {
            continue;
        }
        compared += 1;
        assert_eq!(
            kinds(&data.join(&name)),
            kinds(&tmp.path().join("alone").join(&name)),
            "{name:?}"
        );
    }
    assert!(compared >= 4, "{alone:#}");
    w1.kill().unwrap();
    w2.kill().unwrap();
}

#[test]
fn a_worker_killed_in_the_middle_of_a_validation_has_its_job_finished_by_another_once() {
    use std::process::Stdio;
    use std::time::Duration;
    let server = nats::Nats::single();
    let tmp = tempfile::tempdir().unwrap();
    let stream = format!("nats://{}/KILLED", server.servers());
    let (mut first, _, first_err) = worker(&tmp.path().join("w1"), &stream);
    let data = tmp.path().join("coordinator");
    let coordinator = common::bin()
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--store",
            &stream,
            "run",
            "--once",
            "--offline",
            SOURCES,
            "--json",
        ])
        .env("REMOTE_WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first worker dies as soon as it has taken a validation.
    wait_for_text(&first_err, "took job validate-", Duration::from_secs(120));
    first.kill().unwrap();
    first.wait().unwrap();
    let taken = first_err.lock().unwrap().clone();
    let job = taken
        .split("took job ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Another takes it once its deadline passed, and finishes it.
    let (mut second, second_out, _) = worker(&tmp.path().join("w2"), &stream);
    let out = coordinator.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let done = second_out.lock().unwrap().clone();
    assert!(
        done.contains(&format!("job {job} (delivery 2)")),
        "{job}: {done}"
    );
    // One decision for the strategy, and for every other.
    let by = decisions(&data);
    let strategy = job.trim_start_matches("validate-");
    assert_eq!(by.get(&format!("\"{strategy}\"")), Some(&1), "{by:?}");
    for (s, n) in &by {
        assert_eq!(*n, 1, "{s}");
    }
    second.kill().unwrap();
}
