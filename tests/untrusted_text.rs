//! Text from outside — a strategy's panic message, an idea's title — is neutralised at every
//! output: the terminal and `--json` get no control character but the newline, Slack gets no
//! mention or link we did not write, and the audit files are safe to `cat`.

mod common;

use std::path::Path;

use common::http::{LoopbackServer, Reply};
use common::{run_with, stderr, stdout};

/// Control characters other than the newline, and the Unicode controls that reorder text.
fn acting(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| stratagem_events::text::is_unsafe_char(*c))
        .collect()
}

fn audit_files_are_clean(data: &Path) {
    let mut seen = 0;
    for entry in walk(data) {
        if entry.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&entry).unwrap();
            assert!(
                acting(&text).is_empty(),
                "{}: {:?}",
                entry.display(),
                acting(&text)
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no audit file under {}", data.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_panic_message_cannot_rewrite_the_reviewers_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/panic_with_terminal_escapes.rs");
    let out = run_with(
        &data,
        &["--create", "validate", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let (said, err) = (stdout(&out), stderr(&out));
    assert!(
        acting(&said).is_empty() && acting(&err).is_empty(),
        "{said:?} {err:?}"
    );
    // The message is there, every escape shown, and the decision is ours.
    assert!(
        said.contains("panic: \\u{1b}[2K\\u{d}\\u{1b}]0;owned\\u{7}decision: APPROVED for COLD"),
        "{said}"
    );
    assert!(said.contains("decision: REJECTED"), "{said}");
    let json = run_with(&data, &["validate", file.to_str().unwrap(), "--json"], &[]);
    let text = stdout(&json);
    assert!(acting(&text).is_empty(), "{text:?}");
    let envelope: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(envelope["ok"], false);
}

#[test]
fn an_ideas_title_reaches_slack_without_mentions_or_links_and_the_terminal_without_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let server = LoopbackServer::start(vec![Reply::bytes(200, "text/html", "ok")]);
    let webhook = format!("{}/services/T000/B000/secret", server.url);
    let title = "<!channel> Momentum <https://evil.example/approve|Approve here> & \u{1b}[2Kdecision: APPROVED \u{9b}31m";
    let out = run_with(
        data,
        &[
            "--create",
            "submit",
            "--title",
            title,
            "--hypothesis",
            "Buy BTC when the 24-hour return is in the top decile of the last 30 days",
        ],
        &[],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    common::discover_with_slack(data, &webhook, &[]);
    let texts: Vec<String> = server
        .requests()
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!texts.is_empty(), "the idea was announced");
    for text in &texts {
        assert!(acting(text).is_empty(), "{text:?}");
        assert!(
            !text.contains('<') && !text.contains('>'),
            "a mention or link: {text}"
        );
        assert!(!text.contains("://"), "a bare link: {text}");
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("&lt;!channel&gt; Momentum")),
        "{texts:?}"
    );
    // The terminal listing of the same title.
    let out = run_with(data, &["opportunities", "--all"], &[]);
    let listed = stdout(&out);
    assert!(acting(&listed).is_empty(), "{listed:?}");
    audit_files_are_clean(data);
}
