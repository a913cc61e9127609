//! The event-sourced core through the real binary: submit, status, audit verify / replay /
//! export, and tampering that the audit must catch.

mod common;

use common::{fails, ok, run, stdout, submit};
use serde_json::Value;

#[test]
fn three_submissions_show_in_status_and_the_audit_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        assert!(submit(&d, &format!("Idea {i}")).starts_with("submitted opportunity "));
    }
    let status: Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(status["opportunities_discovered"], 3);
    assert_eq!(status["opportunities_submitted"], 0);
    assert_eq!(status["log"]["events"], 3);
    for key in [
        "strategy_discovery_active",
        "opportunities_scored",
        "strategies_in_validation",
        "strategies_approved",
        "strategies_rejected",
        "strategies_implemented",
    ] {
        assert!(status.get(key).is_some(), "missing {key}");
    }
    let verify = ok(&d, &["audit", "verify"]);
    assert!(verify.starts_with("chain ok: 3 events"), "{verify}");
    let replay = ok(&d, &["audit", "replay"]);
    assert!(replay.starts_with("identical"), "{replay}");
    // The file the seed names, with exactly its keys plus the stage counts.
    let state: Value =
        serde_json::from_slice(&std::fs::read(d.join("autonomy_state.json")).unwrap()).unwrap();
    assert_eq!(state["opportunities_discovered"], 3);
    assert_eq!(state.as_object().unwrap().len(), 9);
    let trail = std::fs::read_to_string(d.join("strategy_opportunities.jsonl")).unwrap();
    let lines: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["seq"], 3);
    assert_eq!(lines[2]["kind"], "opportunity.discovered");
    assert_eq!(lines[2]["data"]["source"], "manual");
    assert_eq!(lines[2]["data"]["title"], "Idea 2");
}

#[test]
fn export_rebuilds_the_trail_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..4 {
        submit(&d, &format!("Idea {i}"));
    }
    let out = tmp.path().join("export");
    let printed: Value = common::data(&ok(
        &d,
        &["audit", "export", "--json", "--out", out.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(printed.as_array().unwrap().len(), 6);
    for name in [
        "autonomy_state.json",
        "strategy_opportunities.jsonl",
        "strategy_generation.jsonl",
        "strategy_validation.jsonl",
        "strategy_stages.jsonl",
        "operations.jsonl",
    ] {
        assert_eq!(
            std::fs::read(d.join(name)).unwrap(),
            std::fs::read(out.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn verify_names_the_event_whose_stored_bytes_were_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..5 {
        submit(&d, &format!("Idea {i}"));
    }
    {
        let db = sled::open(d.join("events/db")).unwrap();
        let tree = db.open_tree("events").unwrap();
        let mut bytes = tree.get(4u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let title = bytes.windows(6).position(|w| w == b"Idea 3").unwrap();
        bytes[title + 5] = b'9'; // "Idea 3" becomes "Idea 9"
        tree.insert(4u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let out = run(&d, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("chain BROKEN at event 4: hash mismatch"),
        "{text}"
    );
    let json: Value = common::data(&stdout(&run(&d, &["audit", "verify", "--json"]))).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["broken_at"], 4);
    assert_eq!(json["events"], 3);
}

#[test]
fn replay_reports_a_live_projection_edited_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        submit(&d, &format!("Idea {i}"));
    }
    let path = d.join("strategy_opportunities.jsonl");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Idea 1", "Idea X");
    std::fs::write(&path, edited).unwrap();
    let out = run(&d, &["audit", "replay"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("DIFFERENT") && text.contains("strategy_opportunities.jsonl: line 2"),
        "{text}"
    );
}

#[test]
fn projections_deleted_or_cut_short_are_rebuilt_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        submit(&d, &format!("Idea {i}"));
    }
    std::fs::remove_file(d.join("autonomy_state.json")).unwrap();
    let trail = d.join("strategy_opportunities.jsonl");
    let text = std::fs::read(&trail).unwrap();
    std::fs::write(&trail, &text[..text.len() / 2]).unwrap();
    submit(&d, "Idea 3");
    assert!(ok(&d, &["audit", "replay"]).starts_with("identical"));
    assert_eq!(std::fs::read_to_string(&trail).unwrap().lines().count(), 4);
}

#[test]
fn bad_submissions_are_refused_with_the_field_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let err = fails(&d, &["submit", "--title", "  ", "--hypothesis", "h"]);
    assert!(err.contains("--title is empty"), "{err}");
    let err = fails(
        &d,
        &[
            "submit",
            "--title",
            "t",
            "--hypothesis",
            "h",
            "--url",
            "file:///etc/passwd",
        ],
    );
    assert!(err.contains("is not an http(s) URL"), "{err}");
    let long = "x".repeat(301);
    let err = fails(&d, &["submit", "--title", &long, "--hypothesis", "h"]);
    assert!(err.contains("longer than 300 characters"), "{err}");
    // Nothing was recorded by the refusals.
    // Nothing recorded: not even a data directory was made.
    assert!(!d.join("events").exists());
    let err = fails(&d, &["status"]);
    assert!(err.contains("no data directory at"), "{err}");
}

#[test]
fn replay_reports_a_forged_line_and_an_edited_state_then_repairs_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        submit(&d, &format!("Idea {i}"));
    }
    // A line appended by hand to an audit file, and the state edited.
    let trail = d.join("strategy_opportunities.jsonl");
    let mut text = std::fs::read_to_string(&trail).unwrap();
    let lines = text.lines().count();
    text.push_str("{\"kind\":\"opportunity.discovered\",\"title\":\"forged\"}\n");
    std::fs::write(&trail, &text).unwrap();
    let state = d.join("autonomy_state.json");
    let edited = std::fs::read_to_string(&state).unwrap().replace(
        "\"opportunities_discovered\": 3",
        "\"opportunities_discovered\": 30",
    );
    assert_ne!(edited, std::fs::read_to_string(&state).unwrap());
    std::fs::write(&state, &edited).unwrap();

    // Reported, with file and line, and nothing changed.
    let out = run(&d, &["audit", "replay"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stdout(&out);
    let forged_line = format!("strategy_opportunities.jsonl: line {}", lines + 1);
    assert!(said.contains(&forged_line), "{said}");
    assert!(
        said.contains("forged") && said.contains("autonomy_state.json"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&trail).unwrap(),
        text,
        "replay wrote"
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        edited,
        "replay wrote"
    );
    let json: Value = common::data(&stdout(&run(&d, &["audit", "replay", "--json"]))).unwrap();
    assert_eq!(json["found"]["identical"], false);
    let diffs = json["found"]["differences"].as_array().unwrap();
    assert!(diffs
        .iter()
        .any(|x| x["file"] == "strategy_opportunities.jsonl"
            && x["line"] == lines as u64 + 1
            && x["expected"].is_null()
            && x["found"].as_str().unwrap().contains("forged")));

    // Repaired when asked; then identical.
    let out = run(&d, &["audit", "replay", "--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("repaired"), "{}", stdout(&out));
    assert!(ok(&d, &["audit", "replay"]).starts_with("identical"));
    assert_eq!(
        std::fs::read_to_string(&trail).unwrap().lines().count(),
        lines
    );
}

#[test]
fn projections_behind_the_log_are_lag_not_a_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for i in 0..3 {
        submit(&d, &format!("Idea {i}"));
    }
    // As a crash leaves them: the last line cut mid-write.
    let trail = d.join("strategy_opportunities.jsonl");
    let text = std::fs::read(&trail).unwrap();
    std::fs::write(&trail, &text[..text.len() - 10]).unwrap();
    let said = ok(&d, &["audit", "replay"]);
    assert!(said.starts_with("identical"), "{said}");
}
