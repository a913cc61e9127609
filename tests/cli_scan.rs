//! `stratagem scan` through the real binary.

mod common;

use common::bin;
use serde_json::Value;

fn scan(path: &std::path::Path, json: bool) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("scan").arg(path);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

#[test]
fn a_strategy_that_reads_etc_passwd_is_rejected_and_nothing_of_the_file_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    // Every spelling in the corpus, in one file.
    let path = tmp.path().join("reader.rs");
    std::fs::write(
        &path,
        "use core::include_str as r;\nconst A: &str = r!(\"/etc/passwd\");\nconst B: &str = r#include_str!(\"/etc/passwd\");\n#[doc = include_str!(\"/etc/passwd\")]\npub struct S;\n",
    )
    .unwrap();
    let out = scan(&path, false);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("REJECTED")
            && text.contains("security.macro")
            && text.contains("reads a file at compile time"),
        "{text}"
    );
    for line in ["1", "3", "4"] {
        assert!(
            text.contains(&format!("line {line:>4}")),
            "line {line} not named: {text}"
        );
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let first_entry = passwd.lines().next().unwrap_or("root:x:0:0");
    assert!(
        !text.contains(first_entry) && !text.contains("root:"),
        "{text}"
    );
    let json: Value = common::data(&String::from_utf8_lossy(&scan(&path, true).stdout)).unwrap();
    assert_eq!(json["layer"], "security");
    let errors = json["errors"].as_array().unwrap();
    assert!(errors.len() >= 3, "{errors:?}");
    assert!(
        errors.iter().all(|f| f["code"] == "security.macro"),
        "{errors:?}"
    );
}

#[test]
fn a_clean_strategy_scans_clean() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs");
    let out = scan(&path, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("clean"));
}

#[test]
fn unreadable_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = tmp.path().join("blob.rs");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let out = scan(&binary, false);
    assert_eq!(out.status.code(), Some(65), "bad input data");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not UTF-8 text"));
    let huge = tmp.path().join("huge.rs");
    std::fs::write(&huge, vec![b'/'; 300 * 1024]).unwrap();
    let out = scan(&huge, false);
    assert_eq!(out.status.code(), Some(65), "bad input data");
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 262144 bytes"));
    let out = scan(&tmp.path().join("missing.rs"), false);
    assert_eq!(out.status.code(), Some(66), "missing input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}
