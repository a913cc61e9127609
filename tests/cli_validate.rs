//! `stratagem validate` through the real binary: exit 0 approved, 1 rejected, 2 manual review.

mod common;

use std::path::{Path, PathBuf};

use common::bin;

fn clean() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs")
}

fn validate(data: &Path, file: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(["--create", "validate"])
        .arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn approved_rejected_and_manual_review_have_their_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = validate(&data, &clean(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("decision: APPROVED for COLD (6/6 layers passed"));

    let silent = tmp.path().join("silent.rs");
    std::fs::write(
        &silent,
        std::fs::read_to_string(clean())
            .unwrap()
            .replace("log_info!(\"long signal, edge {edge:.4}\");", ""),
    )
    .unwrap();
    let out = validate(&data, &silent, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("warning: no logging") && text(&out).contains("MANUAL REVIEW"));
    let out = validate(&data, &silent, &[("VALIDATOR_REQUIRE_LOGGING", "1")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: no logging")
            && text(&out).contains("REJECTED (3/6 layers passed; layer 4 (integration)")
    );

    let hostile = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/include_str_passwd.rs");
    let out = validate(&data, &hostile, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("reads a file at compile time") && !text(&out).contains("root:"));

    let json: serde_json::Value = common::data(&String::from_utf8_lossy(
        &bin()
            .arg("--data-dir")
            .arg(&data)
            .args(["validate", "--json"])
            .arg(clean())
            .output()
            .unwrap()
            .stdout,
    ))
    .unwrap();
    assert_eq!(json["decision"], "approved");
    assert_eq!(json["layers"].as_array().unwrap().len(), 6);
    assert_eq!(json["strategy_type"], "CleanMomentumStrategy");
}

#[test]
fn a_bad_setting_is_refused_with_its_key_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = validate(
        tmp.path(),
        &clean(),
        &[("VALIDATOR_SANDBOX_TIMEOUT_SECONDS", "soon")],
    );
    assert_eq!(
        out.status.code(),
        Some(64),
        "a bad setting is a usage error"
    );
    assert!(
        text(&out)
            .contains("VALIDATOR_SANDBOX_TIMEOUT_SECONDS=\"soon\" is not a number of seconds"),
        "{}",
        text(&out)
    );
    let out = validate(
        tmp.path(),
        &clean(),
        &[("VALIDATOR_REQUIRE_LOGGING", "maybe")],
    );
    assert!(
        text(&out).contains("VALIDATOR_REQUIRE_LOGGING=\"maybe\" is not a boolean"),
        "{}",
        text(&out)
    );
}

#[test]
fn without_a_jail_a_given_file_is_not_compiled_unless_the_operator_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // No bubblewrap where the binary looks for it.
    let no_jail = ("STRATAGEM_BWRAP", "/nonexistent/bwrap");
    let out = validate(&data, &clean(), &[no_jail]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("apt-get install bubblewrap") && said.contains("VALIDATOR_ALLOW_UNJAILED=1"),
        "{said}"
    );
    assert!(!said.contains("APPROVED"), "{said}");

    // Allowed: compiled, and it says so.
    let out = validate(
        &data,
        &clean(),
        &[no_jail, ("VALIDATOR_ALLOW_UNJAILED", "1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("rustc runs without a jail"), "{said}");
    assert!(said.contains("decision: APPROVED for COLD"), "{said}");

    // With the jail (the default here), nothing is said about it.
    let out = validate(&data, &clean(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("without a jail"));
}

#[test]
fn a_strategy_that_carries_a_table_of_flags_is_held_for_a_person() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    for entries in [5_000, 500] {
        let file = tmp.path().join(format!("flags_{entries}.rs"));
        let flags: Vec<i8> = (0..entries)
            .map(|i| if (i * 7) % 5 < 3 { 1 } else { -1 })
            .collect();
        std::fs::write(&file, common::flag_table_strategy(&flags)).unwrap();
        let out = common::run(&d, &["--create", "validate", file.to_str().unwrap()]);
        let text = common::stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "manual review: {text}{}",
            common::stderr(&out)
        );
        assert!(
            text.contains(&format!("a constant table of {entries} literal entries"))
                && text.contains("conventions.constant_table"),
            "{text}"
        );
    }
}

/// The look-ahead: one flag per bar of the validation window saying whether the bar
/// its order fills in closes up. The sandbox's own run of it is too good to believe.
#[test]
fn a_table_of_the_validation_windows_future_is_held_as_implausible() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    // The validator's window: the last 1,000 recorded bars.
    let flags = common::next_bar_flags(1_000);
    let file = tmp.path().join("future.rs");
    std::fs::write(&file, common::flag_table_strategy(&flags)).unwrap();
    let out = common::run(&d, &["--create", "validate", file.to_str().unwrap()]);
    let text = common::stdout(&out);
    assert_eq!(out.status.code(), Some(2), "manual review: {text}");
    assert!(
        text.contains("implausible: check for look-ahead (Sharpe")
            && text.contains("sandbox.implausible"),
        "{text}"
    );
}
