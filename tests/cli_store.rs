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
