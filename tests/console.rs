//! The operator's console over a data directory made by the offline main job: its pages and
//! their JSON, served by `stratagem console` on a loopback port and read over real HTTP.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bin, stdout};
use serde_json::Value;

/// A GET (or anything else) over one connection: the status code and the body.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("content-length: 0\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// `stratagem console` on `data`, with `env`; its address once it listens.
fn console(data: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = bin()
        .arg("--data-dir")
        .arg(data)
        .arg("console")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("console on http://")
        .and_then(|r| r.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    (child, addr)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let code = child.wait().unwrap();
    assert!(code.success(), "{code:?}");
}

/// The offline main job, with one hand-submitted idea whose title is a script; its funnel.
fn main_job(data: &Path) -> Value {
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args([
            "submit",
            "--title",
            "<script>document.title='pwned'</script>",
            "--hypothesis",
            "<img src=x onerror=alert(1)> momentum in BTC over 24 hours",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--once", "--json", "--offline"])
        .arg(common::offline())
        .output()
        .unwrap();
    assert!(out.status.success());
    common::data(&stdout(&out)).unwrap()["funnel"].clone()
}

#[test]
fn the_console_serves_the_funnel_the_criteria_and_each_strategys_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let funnel = main_job(data);
    let (child, addr) = console(data, &[("CONSOLE_ADDR", "127.0.0.1:0")]);

    let (code, page) = http(&addr, "GET", "/", &[]);
    assert_eq!(code, 200, "{page}");
    // Every figure of the funnel is `run --once --json`'s.
    for (key, value) in funnel.as_object().unwrap() {
        let cell = format!("data-step=\"{key}\"><b>{value}</b>");
        assert!(page.contains(&cell), "{cell} missing in:\n{page}");
    }
    for criterion in [
        "discoveries per day",
        "validation pass rate",
        "COLD → WARM",
        "WARM → FULL",
        "discovery → decision",
        "security-scanned code",
        "audit trail",
        "human approval optional",
    ] {
        assert!(page.contains(criterion), "{criterion} missing");
    }
    assert!(
        page.contains("stage.rolled_back"),
        "the rollbacks are alerts"
    );

    // The script in a title is text, wherever it shows.
    let (code, page) = http(&addr, "GET", "/opportunities", &[]);
    assert_eq!(code, 200);
    assert!(
        page.contains("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;&#x2f;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>document.title"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");

    // A FULL strategy's page: every step of its trace, and an equity chart with drawn paths.
    let full = common::full_strategy(data);
    let (code, page) = http(&addr, "GET", &format!("/strategies/{full}"), &[]);
    assert_eq!(code, 200, "{page}");
    let (_, json) = http(&addr, "GET", &format!("/api/trace/{full}"), &[]);
    let trace: Value = serde_json::from_str(&json).unwrap();
    let steps = trace["steps"].as_array().unwrap();
    assert!(steps.len() > 20, "{trace}");
    for step in steps {
        let seq = format!("<td>{}</td>", step["seq"]);
        assert!(page.contains(&seq), "step {seq} missing");
    }
    for phase in [
        "source",
        "score",
        "generation",
        "validation",
        "cold",
        "warm",
        "limited",
        "full",
        "monitor",
    ] {
        assert!(
            page.contains(&format!("data-phase=\"{phase}\"")),
            "{phase} missing"
        );
    }
    assert!(page.contains("<path class=\"equity\" d=\"M"), "{page}");
    assert!(page.contains("<pre id=\"code\">"), "the code is shown");

    // The JSON beside the pages: the same status as `status --json`.
    let (code, json) = http(&addr, "GET", "/api/status", &[]);
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["kpis"]["window_days"], 7);
    let (code, _) = http(
        &addr,
        "GET",
        "/strategies/01900000-0000-7000-8000-000000000000",
        &[],
    );
    assert_eq!(code, 404);
    stop(child);
}

#[test]
fn off_loopback_the_console_needs_its_token_and_every_request_carries_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["submit", "--title", "an idea", "--hypothesis", "h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .arg("console")
        .env("CONSOLE_ADDR", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("is not a loopback address: set CONSOLE_TOKEN"),
        "{}",
        common::stderr(&out)
    );
    let (child, addr) = console(
        data,
        &[
            ("CONSOLE_ADDR", "0.0.0.0:0"),
            ("CONSOLE_TOKEN", "s3cret-token"),
        ],
    );
    let addr = addr.replace("0.0.0.0", "127.0.0.1");
    assert_eq!(http(&addr, "GET", "/", &[]).0, 401);
    assert_eq!(
        http(
            &addr,
            "GET",
            "/",
            &[("authorization", "Bearer wrong-token")]
        )
        .0,
        401
    );
    assert_eq!(
        http(
            &addr,
            "GET",
            "/",
            &[("authorization", "Bearer s3cret-token")]
        )
        .0,
        200
    );
    stop(child);
}

/// The events of an SSE stream: reads until `n` `head` events came, or the time is up.
fn sse_heads(stream: &mut std::net::TcpStream, n: usize) -> Vec<u64> {
    let mut heads = Vec::new();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while heads.len() < n && std::time::Instant::now() < deadline {
        let Ok(read) = stream.read(&mut buf) else {
            continue;
        };
        if read == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..read]));
        heads = text
            .split("event: head\ndata: ")
            .skip(1)
            .filter_map(|rest| rest.split('\n').next()?.trim().parse().ok())
            .collect();
    }
    heads
}

#[test]
fn a_person_approves_in_the_review_queue_with_the_forms_token_and_open_pages_hear_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let settings = [("REQUIRE_APPROVAL_BEFORE", "limited")];
    let out = bin()
        .arg("--data-dir")
        .arg(data)
        .args(["run", "--once", "--offline"])
        .arg(common::offline())
        .envs(settings)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let (child, addr) = console(data, &[("CONSOLE_ADDR", "127.0.0.1:0"), settings[0]]);
    let (code, page) = http(&addr, "GET", "/review", &[]);
    assert_eq!(code, 200);
    let waiting = page
        .split("data-strategy=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("nobody waits: {page}"))
        .to_string();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 64, "{token}");

    // An open page's event stream: the head now, then each move.
    let mut sse = std::net::TcpStream::connect(&addr).unwrap();
    sse.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sse.write_all(
        format!("GET /events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let first = sse_heads(&mut sse, 1);
    assert_eq!(first.len(), 1, "no head event");

    // Without the form's token, or with another, nothing is recorded.
    let post = |body: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(
            format!(
                "POST /review/{waiting} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let answer = post("decision=approve&reviewer=Mallory&note=");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("CSRF token is missing or wrong"),
        "{answer}"
    );
    let forged = post(&format!(
        "decision=approve&reviewer=Mallory&csrf={}",
        "0".repeat(64)
    ));
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
    let (_, json) = http(&addr, "GET", &format!("/api/trace/{waiting}"), &[]);
    assert!(!json.contains("review.approved"), "{json}");

    // With it: a `review.approved` with the reviewer's name, and the open stream hears of it.
    let answer = post(&format!(
        "decision=approve&reviewer=Ada+Lovelace&note=read+the+code&csrf={token}"
    ));
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(
        answer.contains("approved before LIMITED by Ada Lovelace"),
        "{answer}"
    );
    let (_, json) = http(&addr, "GET", &format!("/api/trace/{waiting}"), &[]);
    let trace: Value = serde_json::from_str(&json).unwrap();
    let review = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "review.approved")
        .unwrap_or_else(|| panic!("{trace}"));
    assert_eq!(review["data"]["reviewer"], "Ada Lovelace");
    assert_eq!(review["data"]["before_stage"], "limited");
    let moved = sse_heads(&mut sse, 1);
    assert!(
        moved.len() == 1 && moved[0] > first[0],
        "{first:?} then {moved:?}"
    );
    // Nobody waits now.
    let (_, page) = http(&addr, "GET", "/review", &[]);
    assert!(page.contains("nobody waits"), "{page}");
    // Stopped with its event stream still open: the console ends the stream and exits.
    stop(child);
}
