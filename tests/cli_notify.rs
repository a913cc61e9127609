//! Slack notifications through the real binary against a webhook server on loopback: the seed's
//! messages arrive after their decisions are recorded; a webhook that is down or refuses never
//! stops the pipeline, each failure is an event, and the webhook URL (the secret) is written
//! nowhere.

mod common;

use std::path::Path;
use std::process::Output;

use common::http::{LoopbackServer, Reply};
use common::{offline, stderr, stdout};
use serde_json::Value;

const SECRET: &str = "XyZsecret42";

fn stratagem(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = common::run_with(data, args, env);
    assert!(
        !stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET),
        "the webhook URL leaked"
    );
    out
}

/// The delivery outcomes on the log (`notification.sent` / `notification.failed`).
fn operations(data: &Path) -> Vec<Value> {
    notification_lines(data)
        .into_iter()
        .filter(|l| l["kind"] == "notification.sent" || l["kind"] == "notification.failed")
        .collect()
}

fn notification_lines(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("operations.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| {
            l["kind"]
                .as_str()
                .unwrap_or("")
                .starts_with("notification.")
        })
        .collect()
}

fn waiting(data: &Path) -> u64 {
    let status: Value =
        common::data(&stdout(&stratagem(data, &["status", "--json"], &[]))).unwrap();
    status["notifications_waiting"].as_u64().unwrap()
}

/// No file of the data directory (the sled log included) holds the secret.
fn secret_written_nowhere(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            secret_written_nowhere(&path);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the webhook URL",
                path.display()
            );
        }
    }
}

fn discover(data: &Path, webhook: &str, extra: &[(&str, &str)]) -> Output {
    let out = common::discover_with_slack(data, webhook, extra);
    assert!(
        !stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET),
        "the webhook URL leaked"
    );
    out
}

#[test]
fn submitted_opportunities_are_announced_with_the_seeds_message() {
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![Reply::bytes(200, "text/html", "ok")]);
    let webhook = format!("{}/services/T000/B000/{SECRET}", server.url);
    discover(tmp.path(), &webhook, &[]);
    let r = server.requests();
    assert_eq!(r.len(), 2, "one message per submitted idea");
    assert_eq!(
        (r[0].method.as_str(), r[0].path.as_str()),
        ("POST", "/services/T000/B000/XyZsecret42")
    );
    assert_eq!(r[0].header("content-type"), Some("application/json"));
    let texts: Vec<String> = r
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts.contains(&"🔍 Strategy Opportunity Discovered\nTitle: Time-series momentum on hourly BTC with a volatility filter\nScore: 0.81\nImplementation: Low (complexity 1/10)".to_string()), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("🔍 Strategy Opportunity Discovered\nTitle: Fade 2-sigma moves of BTC back to the 48-hour mean\nScore: 0.72")), "{texts:?}");
    let ops = operations(tmp.path());
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| o["kind"] == "notification.sent"
        && o["data"]["message_kind"] == "opportunity_discovered"));
    // Each was queued first (the outbox on the log), with its text.
    let queued: Vec<Value> = notification_lines(tmp.path())
        .into_iter()
        .filter(|l| l["kind"] == "notification.queued")
        .collect();
    assert_eq!(queued.len(), 2);
    assert!(texts.contains(&queued[0]["data"]["text"].as_str().unwrap().to_string()));
    assert_eq!(waiting(tmp.path()), 0, "the outbox is empty");
    secret_written_nowhere(tmp.path());
}

#[test]
fn a_webhook_that_is_down_or_refuses_is_recorded_and_never_stops_the_pipeline() {
    // Down: a port nobody listens on.
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let webhook = format!("http://127.0.0.1:{port}/services/T000/B000/{SECRET}");
    discover(tmp.path(), &webhook, &[("SLACK_MAX_ATTEMPTS", "2")]);
    // The first message failed (both attempts); the courier paused, and the command ended
    // without waiting: both messages stay in the outbox.
    let ops = operations(tmp.path());
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["kind"], "notification.failed");
    assert_eq!(ops[0]["data"]["error"], "connection failed");
    assert_eq!(ops[0]["data"]["attempts"], 2);
    let status: Value =
        common::data(&stdout(&stratagem(tmp.path(), &["status", "--json"], &[]))).unwrap();
    assert_eq!(status["opportunities_submitted"], 2, "the decisions stand");
    assert_eq!(
        status["notifications_waiting"], 2,
        "both wait in the outbox"
    );
    secret_written_nowhere(tmp.path());
    // The webhook comes back: the next command delivers what waited, in order.
    let server = LoopbackServer::start(vec![Reply::bytes(200, "text/html", "ok")]);
    discover(
        tmp.path(),
        &format!("{}/services/T000/B000/{SECRET}", server.url),
        &[],
    );
    let texts: Vec<String> = server
        .requests()
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("🔍 Strategy Opportunity Discovered"));
    assert_eq!(waiting(tmp.path()), 0, "the outbox is empty");

    // Refused: Slack's bare-string errors, not retried (a 404 will not heal); the courier
    // pauses and the second message waits for the next command.
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![Reply::bytes(404, "text/html", "channel_not_found")]);
    discover(
        tmp.path(),
        &format!("{}/services/T000/B000/{SECRET}", server.url),
        &[],
    );
    assert_eq!(server.requests().len(), 1);
    let ops = operations(tmp.path());
    assert!(
        ops.iter()
            .all(|o| o["data"]["error"] == "HTTP 404: channel_not_found"
                && o["data"]["attempts"] == 1),
        "{ops:?}"
    );

    // Rate limited once, then accepted.
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![
        Reply::bytes(429, "text/html", "rate_limited").header("retry-after", "1"),
        Reply::bytes(200, "text/html", "ok"),
    ]);
    discover(
        tmp.path(),
        &format!("{}/services/T000/B000/{SECRET}", server.url),
        &[],
    );
    let r = server.requests();
    assert_eq!(r.len(), 3);
    assert!(r[1].at.duration_since(r[0].at) >= std::time::Duration::from_millis(900));
    assert!(operations(tmp.path())
        .iter()
        .all(|o| o["kind"] == "notification.sent"));
}

#[test]
fn validation_and_promotion_are_announced() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let server = LoopbackServer::start(vec![Reply::bytes(200, "text/html", "ok")]);
    let webhook = format!("{}/services/T000/B000/{SECRET}", server.url);
    let env = [
        ("SLACK_WEBHOOK_URL", webhook.as_str()),
        ("SLACK_MIN_INTERVAL_MS", "0"),
    ];
    let submitted: Value = common::data(&stdout(&stratagem(
        data,
        &[
            "submit",
            "--title",
            "Hourly BTC mean reversion",
            "--hypothesis",
            "Fade 1.5-sigma stretches from the 48-hour mean",
            "--json",
        ],
        &[],
    )))
    .unwrap();
    let id = submitted["opportunity_id"].as_str().unwrap();
    let generated: Value = common::data(&stdout(&stratagem(
        data,
        &[
            "generate",
            "--opportunity",
            id,
            "--template",
            "mean_reversion",
            "--mode",
            "template",
            "--json",
        ],
        &[],
    )))
    .unwrap();
    let path = generated["path"].as_str().unwrap();
    let strategy = generated["strategy_id"].as_str().unwrap();
    let name = Path::new(path)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(stratagem(data, &["validate", path], &env).status.success());
    let out = stratagem(data, &["stage", strategy, "cold"], &env);
    assert!(out.status.success(), "{}", stdout(&out));
    let texts: Vec<String> = server
        .requests()
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts[0], format!("✅ Strategy Validation Passed\nStrategy: {name}\nLayers: 6/6 passed\nRecommendation: APPROVE for COLD"));
    assert!(
        texts[1].starts_with(&format!(
            "⬆️ Strategy Promoted\nStrategy: {name}\nCOLD → WARM\nGate: sharpe "
        )),
        "{texts:?}"
    );
    let kinds: Vec<Value> = operations(data)
        .iter()
        .map(|o| o["data"]["message_kind"].clone())
        .collect();
    assert_eq!(kinds, ["validation_passed", "stage_promoted"]);
    secret_written_nowhere(data);
}

#[test]
fn the_watching_scorer_announces_too() {
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![Reply::bytes(200, "text/html", "ok")]);
    let webhook = format!("{}/services/T000/B000/{SECRET}", server.url);
    let out = stratagem(
        tmp.path(),
        &[
            "discover",
            "--source",
            "manual",
            "--offline",
            offline().to_str().unwrap(),
            "--watch",
            "--for",
            "2",
        ],
        &[
            ("SLACK_WEBHOOK_URL", webhook.as_str()),
            ("SLACK_MIN_INTERVAL_MS", "0"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        operations(tmp.path())
            .iter()
            .filter(|o| o["kind"] == "notification.sent")
            .count(),
        2
    );
}
