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

/// Thousands of nested levels (parentheses, blocks, generic types) would overflow the
/// parser's stack and kill the process: they are refused before anything parses them, with
/// the line named, by `scan` and by `validate` (layer 1).
#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let parens = format!(
        "const X: f64 = {}1.0{};\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let blocks = format!(
        "fn f() -> i32 {{ {} 1 {} }}\n",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    // 80,000 levels: 100,000 would pass the 256 KiB size cap first.
    let generics = format!(
        "type T = {}u8{};\n",
        "A<".repeat(80_000),
        ">".repeat(80_000)
    );
    for (name, text) in [
        ("parens", parens),
        ("blocks", blocks),
        ("generics", generics),
    ] {
        let file = tmp.path().join(format!("{name}.rs"));
        std::fs::write(&file, format!("// {name}\n{text}")).unwrap();
        let out = scan(&file, false);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("security.too_deep") && text.contains("line    2"),
            "{name}: {text}"
        );
        let out = common::run(
            &tmp.path().join("data"),
            &["--create", "validate", file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("nested more than 256 levels deep"),
            "{name}: {text}"
        );
    }
    // Ordinary code is far below the limit.
    let clean =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs");
    assert!(scan(&clean, false).status.success());
}
