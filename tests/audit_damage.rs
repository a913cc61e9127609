//! `audit verify` names the damage and writes nothing: a byte flipped in each kind of file
//! under `events/` (sled's log, its config, its page-table snapshot, the acknowledged-head
//! marker), a log that lost its tail with and without the marker, a marker missing or damaged
//! — each reported with the file, the offset where known and the events affected, in text and
//! `--json`, on a data directory mounted read-only (a mount namespace of its own, `unshare`),
//! and every byte of the directory the same afterwards.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ok, stdout};
use serde_json::Value;

/// A data directory after two `run --once` (the second open of the store makes sled write its
/// page-table snapshot), shared by the cases: each works on a copy.
fn fixture(tmp: &Path) -> PathBuf {
    let d = tmp.join("fixture");
    for _ in 0..2 {
        ok(
            &d,
            &[
                "run",
                "--once",
                "--offline",
                common::offline().to_str().unwrap(),
            ],
        );
    }
    assert!(
        snapshot_file(&d).is_some(),
        "sled wrote no snapshot: {:?}",
        std::fs::read_dir(d.join("events/db"))
            .unwrap()
            .collect::<Vec<_>>()
    );
    d
}

fn snapshot_file(d: &Path) -> Option<String> {
    std::fs::read_dir(d.join("events/db"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file of the directory and its bytes.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// `stratagem --data-dir DIR ARGS…` with DIR mounted read-only (a private mount namespace:
/// even root cannot write there).
fn read_only(data: &Path, args: &[&str]) -> Output {
    let bin = common::bin();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-rm",
        "sh",
        "-c",
        r#"mount --bind -o ro "$0" "$0" && exec "$@""#,
    ])
    .arg(data)
    .arg(bin.get_program())
    .arg("--data-dir")
    .arg(data)
    .args(args);
    for (k, v) in bin.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().expect("unshare runs")
}

/// Verifies `data` read-only, in text and JSON; nothing in it changes. Returns the exit code,
/// the text and the findings.
fn verify(data: &Path) -> (i32, String, Vec<Value>) {
    let before = fingerprint(data);
    let text = read_only(data, &["audit", "verify"]);
    let json = read_only(data, &["audit", "verify", "--json"]);
    assert_eq!(
        fingerprint(data),
        before,
        "verify wrote to the data directory"
    );
    assert_eq!(text.status.code(), json.status.code());
    let v: Value =
        common::data(&stdout(&json)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&json)));
    assert_eq!(v["ok"], text.status.code() == Some(0));
    (
        text.status.code().unwrap(),
        stdout(&text),
        v["findings"].as_array().unwrap().clone(),
    )
}

fn flip(file: &Path, at: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
}

fn head(data: &Path) -> u64 {
    let text = std::fs::read_to_string(data.join("events/acknowledged-head")).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn every_kind_of_damage_is_named_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = fixture(tmp.path());
    let last = head(&fixture);
    let case = |name: &str| {
        let d = tmp.path().join(name);
        copy(&fixture, &d);
        d
    };

    // Intact, read-only: ok.
    let d = case("intact");
    let (code, text, findings) = verify(&d);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!("chain ok: {last} events")),
        "{text}"
    );
    assert!(findings.is_empty());
    // The other reads work there too, and write nothing.
    let before = fingerprint(&d);
    for args in [
        &["status", "--json"][..],
        &["status"][..],
        &["audit", "replay"][..],
    ] {
        let out = read_only(&d, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            common::stderr(&out)
        );
    }
    let status: Value = common::data(&stdout(&read_only(&d, &["status", "--json"]))).unwrap();
    assert_eq!(status["log"]["events"], last);
    assert!(stdout(&read_only(&d, &["audit", "replay"])).starts_with("identical"));
    assert_eq!(
        fingerprint(&d),
        before,
        "a read wrote to the data directory"
    );

    // sled's log: a byte of a record in the middle of the log, in every copy of it (sled
    // keeps older versions of a page until it reuses their space). A record starts with its
    // format byte and its sequence number; the flipped byte is in its id.
    let d = case("log");
    let db = d.join("events/db/db");
    let bytes = std::fs::read(&db).unwrap();
    let mut head = vec![1u8];
    head.extend_from_slice(&(last / 2).to_be_bytes());
    let copies: Vec<u64> = bytes
        .windows(head.len())
        .enumerate()
        .filter(|(_, w)| *w == head.as_slice())
        .map(|(i, _)| i as u64)
        .collect();
    assert!(!copies.is_empty(), "the record is in sled's file");
    for at in &copies {
        flip(&db, *at as usize + 12);
    }
    let (code, text, findings) = verify(&d);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("DAMAGE"), "{text}");
    let f = &findings[0];
    assert_eq!(f["severity"], "error", "{findings:?}");
    assert_eq!(f["file"], "events/db/db", "{findings:?}");
    // Named by where the damaged record is, and the events sled cannot read past it.
    let offset = f["offset"].as_u64().unwrap();
    assert!(copies.contains(&offset), "{offset} not in {copies:?}");
    let (first, to) = (
        f["seqs"][0].as_u64().unwrap(),
        f["seqs"][1].as_u64().unwrap(),
    );
    assert!(first <= last && to >= first, "{findings:?}");
    assert!(text.contains("events/db/db at byte"), "{text}");

    // sled's config.
    let d = case("conf");
    flip(&d.join("events/db/conf"), 10);
    let (code, text, findings) = verify(&d);
    assert_eq!(code, 1, "{text}");
    assert_eq!(findings[0]["file"], "events/db/conf", "{findings:?}");
    assert!(
        findings[0]["recovery"]
            .as_str()
            .unwrap()
            .contains("delete events/db/conf"),
        "{findings:?}"
    );
    assert!(
        text.contains(&format!("{last} events verify without it")),
        "{text}"
    );

    // sled's page-table snapshot.
    let d = case("snapshot");
    let snap = snapshot_file(&d).unwrap();
    let len = std::fs::metadata(d.join("events/db").join(&snap))
        .unwrap()
        .len() as usize;
    flip(&d.join("events/db").join(&snap), len / 2);
    let (code, text, findings) = verify(&d);
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        findings[0]["file"],
        format!("events/db/{snap}"),
        "{findings:?}"
    );
    assert!(text.contains("page-table snapshot"), "{text}");

    // The marker: a flipped byte, then empty. The chain is walked all the same.
    for (name, damage) in [("marker", None), ("marker-empty", Some(""))] {
        let d = case(name);
        let marker = d.join("events/acknowledged-head");
        match damage {
            None => flip(&marker, 3),
            Some(text) => std::fs::write(&marker, text).unwrap(),
        }
        let (code, text, findings) = verify(&d);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.starts_with(&format!("chain intact: {last} events")),
            "{text}"
        );
        assert_eq!(findings[0]["file"], "events/acknowledged-head");
        assert!(
            findings[0]["recovery"]
                .as_str()
                .unwrap()
                .contains("delete events/acknowledged-head"),
            "{findings:?}"
        );
    }

    // The marker missing, the log whole: a warning, not damage.
    let d = case("no-marker");
    std::fs::remove_file(d.join("events/acknowledged-head")).unwrap();
    let (code, text, findings) = verify(&d);
    assert_eq!(code, 0, "{text}");
    assert_eq!(findings[0]["severity"], "warning");
    assert!(
        text.contains("the acknowledged-head marker is missing"),
        "{text}"
    );

    // The log lost its last 3 events: with the marker, damage naming them; without it, a
    // warning naming both figures (the projections went further).
    for (name, marker) in [("cut", true), ("cut-no-marker", false)] {
        let d = case(name);
        {
            let db = sled::open(d.join("events/db")).unwrap();
            let tree = db.open_tree("events").unwrap();
            for seq in last - 2..=last {
                tree.remove(seq.to_be_bytes()).unwrap();
            }
            db.flush().unwrap();
        }
        if !marker {
            std::fs::remove_file(d.join("events/acknowledged-head")).unwrap();
        }
        let (code, text, findings) = verify(&d);
        let f = &findings[0];
        assert_eq!(
            f["seqs"],
            serde_json::json!([last - 2, last]),
            "{findings:?}"
        );
        if marker {
            assert_eq!(code, 1, "{text}");
            assert_eq!(f["severity"], "error");
            assert!(
                text.contains(&format!("the log ends at event {}", last - 3)),
                "{text}"
            );
        } else {
            assert_eq!(code, 0, "{text}");
            assert_eq!(f["severity"], "warning");
            assert!(
                text.contains(&format!(
                    "the log ends at event {} while the projections were written up to event {last}",
                    last - 3
                )),
                "{text}"
            );
        }
    }
}
