//! Bad input of every kind named in the core's issue — a corrupted or truncated store, an event
//! of a future schema version, a data directory held by another process, an unwritable
//! directory — gives a clear error naming the problem, never a panic, and loses nothing.

mod common;

use std::process::Stdio;

use common::{bin, fails, ok, submit};
use stratagem_events::record::{decode_record, encode_record};
use stratagem_events::{ActorStarted, Event, SCHEMA_VERSION};

fn events_tree(d: &std::path::Path) -> (sled::Db, sled::Tree) {
    let db = sled::open(d.join("events/db")).unwrap();
    let tree = db.open_tree("events").unwrap();
    (db, tree)
}

#[test]
fn a_data_directory_held_by_a_running_process_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    submit(&d, "first");
    // A real second process holds the directory: a long append-load.
    let mut holder = bin()
        .arg("--data-dir")
        .arg(&d)
        .args([
            "debug",
            "append-load",
            "--batches",
            "100000",
            "--max-batch",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep reading its output, or it would die of a broken pipe.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(holder.stdout.take().unwrap()));
    let first_line = lines.next().unwrap().unwrap();
    assert!(first_line.starts_with("ack "), "{first_line}");
    let drain = std::thread::spawn(move || lines.count());
    let err = fails(&d, &["submit", "--title", "t", "--hypothesis", "h"]);
    // Reading still works: `status` shows the state the holder keeps current, and says so.
    let status: serde_json::Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["held_by_another_process"], true);
    assert!(
        status["autonomy_state"]["opportunities_discovered"]
            .as_u64()
            .unwrap()
            >= 1,
        "{status}"
    );
    assert!(ok(&d, &["status"]).starts_with("another stratagem process holds"));
    holder.kill().unwrap();
    drain.join().unwrap();
    holder.wait().unwrap();
    assert!(
        err.contains("is in use by another stratagem process"),
        "{err}"
    );
    assert!(err.contains(&d.display().to_string()), "{err}");
    // Once the holder is gone the directory opens, and everything it acknowledged is there.
    assert!(ok(&d, &["audit", "verify"]).starts_with("chain ok"));
}

#[test]
fn an_unwritable_data_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // A path through a regular file can never be created, even by root.
    let file = tmp.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let d = file.join("data");
    // `submit` creates a data directory: here it cannot.
    let err = fails(&d, &["submit", "--title", "t", "--hypothesis", "h"]);
    assert!(
        err.contains("cannot create directory") && err.contains("not-a-directory"),
        "{err}"
    );
}

#[test]
fn a_read_only_data_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    submit(&d, "first");
    // Make a projection file impossible to replace: a directory where the temporary file goes.
    std::fs::create_dir(d.join("autonomy_state.json.tmp")).unwrap();
    let err = fails(&d, &["submit", "--title", "t", "--hypothesis", "h"]);
    assert!(
        err.contains("cannot write") && err.contains("autonomy_state.json.tmp"),
        "{err}"
    );
    // The projections are brought up to date before anything is appended, so the refusal
    // stored nothing, and what was recorded before is intact.
    std::fs::remove_dir(d.join("autonomy_state.json.tmp")).unwrap();
    let status: serde_json::Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["opportunities_discovered"], 1);
}

#[test]
fn an_event_of_a_future_schema_version_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    submit(&d, "first");
    submit(&d, "second");
    {
        let (db, tree) = events_tree(&d);
        let last = decode_record(&tree.get(2u64.to_be_bytes()).unwrap().unwrap()).unwrap();
        let event = Event::from(ActorStarted {
            actor: "newer".into(),
        });
        let (bytes, _) = encode_record(
            3,
            uuid::Uuid::now_v7(),
            0,
            SCHEMA_VERSION + 1,
            event.kind(),
            &event.encode_payload().unwrap(),
            &last.hash,
        );
        tree.insert(3u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let err = fails(&d, &["status"]);
    assert!(
        err.contains(
            "event 3 is unreadable: schema version 2 is newer than this build supports (1)"
        ),
        "{err}"
    );
    let out = common::run(&d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stdout(&out).contains("chain BROKEN at event 3: payload unreadable"));
    // The two events before it are intact.
    assert!(common::stdout(&out).contains("2 events before it verified"));
}

#[test]
fn a_store_that_lost_acknowledged_events_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..4 {
        submit(&d, &format!("idea {i}"));
    }
    {
        let (db, tree) = events_tree(&d);
        tree.remove(4u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = fails(&d, &["submit", "--title", "t", "--hypothesis", "h"]);
    assert!(err.contains("is truncated or corrupted: it ends at sequence 3, but events up to 4 were acknowledged"), "{err}");
    // Refused, not overwritten: event 4's slot is still empty and 1..3 are intact.
    let (_db, tree) = events_tree(&d);
    assert_eq!(tree.len(), 3);
}

#[test]
fn a_corrupted_last_record_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        submit(&d, &format!("idea {i}"));
    }
    {
        let (db, tree) = events_tree(&d);
        let bytes = tree.get(3u64.to_be_bytes()).unwrap().unwrap().to_vec();
        tree.insert(3u64.to_be_bytes(), &bytes[..bytes.len() / 2])
            .unwrap();
        db.flush().unwrap();
    }
    let err = fails(&d, &["status"]);
    assert!(
        err.contains("event 3 is unreadable: malformed record: truncated"),
        "{err}"
    );
}

#[test]
fn damaged_database_files_are_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..20 {
        submit(&d, &format!("idea {i}"));
    }
    // Cut sled's log file to its first page (truncated), or scramble it (corrupted).
    let db_file = d.join("events/db/db");
    let pristine = std::fs::read(&db_file).unwrap();
    let mut scrambled = pristine.clone();
    for b in scrambled.iter_mut().step_by(7).take(3000) {
        *b ^= 0x5a;
    }
    for damaged in [pristine[..4096].to_vec(), Vec::new(), scrambled] {
        std::fs::write(&db_file, &damaged).unwrap();
        let err = fails(&d, &["status"]);
        assert!(
            err.contains("cannot open the data directory")
                && err.contains("its files are corrupted or cut short"),
            "{err}"
        );
    }
    // Nothing was written over the damage: restoring the bytes restores every event.
    std::fs::write(&db_file, &pristine).unwrap();
    assert!(ok(&d, &["audit", "verify"]).starts_with("chain ok: 20 events"));
}

#[test]
fn a_mistyped_data_directory_is_refused_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("mistyped");
    for args in [
        &["audit", "verify"][..],
        &["status"][..],
        &["opportunities"][..],
        &["review", "list"][..],
    ] {
        let out = common::run(&d, args);
        assert_eq!(out.status.code(), Some(66), "{args:?}");
        let err = common::stderr(&out);
        assert!(
            err.contains("no data directory at") && err.contains("--create"),
            "{err}"
        );
        assert!(!d.exists(), "{args:?} created {}", d.display());
    }
    // Made when asked.
    let made = common::ok(&d, &["--create", "audit", "verify"]);
    assert!(made.starts_with("chain ok: 0 events"), "{made}");
}
