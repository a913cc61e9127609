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
