//! Reads while the daemon runs: `status`, `opportunities`, `review list` and `audit verify`
//! go through the daemon's read API (`DATA_DIR/daemon.sock`) while it holds the data
//! directory, and print exactly what they print offline once it has stopped.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{bin, offline, run_with, stdout};

/// A person approves before LIMITED: a strategy waits for review (the daemon and the reads
/// share the setting).
const SETTINGS: &[(&str, &str)] = &[("REQUIRE_APPROVAL_BEFORE", "limited")];

/// The reads compared, each in text and in JSON.
const READS: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["opportunities", "--limit", "5"],
    &["opportunities", "--json"],
    &[
        "opportunities",
        "--status",
        "held",
        "--offset",
        "2",
        "--limit",
        "3",
        "--json",
    ],
    &["review", "list"],
    &["review", "list", "--json"],
    &["audit", "verify"],
    &["audit", "verify", "--json"],
];

#[test]
fn reads_while_the_daemon_runs_equal_the_reads_after_it_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    // A person approves before LIMITED: a strategy waits for review.
    let mut child = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--offline"])
        .arg(offline())
        .env("RUN_TICK_SECONDS", "1")
        .env("METRICS_ADDR", "off")
        .env("CONSOLE_ADDR", "off")
        .env("REQUIRE_APPROVAL_BEFORE", "limited")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for an idle cycle: the first one did the work, the log does not move any more.
    common::StdoutLines::of(&mut child).until(Duration::from_secs(120), "no idle cycle", |seen| {
        seen.iter().any(|l| l.contains("(idle,"))
    });
    assert!(data.join("daemon.sock").exists(), "the read API's socket");

    let during: Vec<(i32, String)> = READS
        .iter()
        .map(|args| {
            let out = run_with(data, args, SETTINGS);
            (out.status.code().unwrap(), stdout(&out))
        })
        .collect();
    // The daemon holds the directory: these came from it.
    let status = common::data(&during[1].1).unwrap();
    assert!(status["log"]["events"].as_u64().unwrap() > 100, "{status}");
    let waiting = common::data(&during[6].1).unwrap();
    assert_eq!(
        waiting["total"], 1,
        "a strategy waits before LIMITED: {waiting}"
    );
    assert!(during[7].1.starts_with("chain ok:"), "{}", during[7].1);

    // Stopped: the same reads, offline.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!data.join("daemon.sock").exists(), "the socket is removed");
    for (args, (code, text)) in READS.iter().zip(&during) {
        let out = run_with(data, args, SETTINGS);
        assert_eq!(out.status.code(), Some(*code), "{args:?}");
        assert_eq!(
            &stdout(&out),
            text,
            "{args:?} differs from the daemon's answer"
        );
    }
}
