//! LLM and hybrid generation through the real binary against real HTTP servers on loopback that
//! speak the Anthropic Messages API and the OpenAI chat-completions API.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::http::{LoopbackServer, Reply};
use common::{bin, ok};
use serde_json::{json, Value};

const KEY: &str = "test-key-0c9f3e71";

fn clean_code() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/strategies/clean_momentum.rs"),
    )
    .unwrap()
}

fn anthropic_reply(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 900, "output_tokens": 700}
        }),
    )
}

fn openai_reply(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "local-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 800, "completion_tokens": 600, "total_tokens": 1400}
        }),
    )
}

/// Runs `stratagem` with only the given code-generation settings in its environment.
fn stratagem(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CODEGEN_RETRY_BACKOFF_MS", "20");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn submit(data: &Path) -> String {
    common::submit_idea(data, "Hourly momentum", "trends persist")
}

/// A fresh data directory with one submitted opportunity: (its guard, its path, the id).
fn fresh_data_dir() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = submit(&d);
    (tmp, d, id)
}

fn generated(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    common::data(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

fn no_file_contains(dir: &Path, needle: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            no_file_contains(&path, needle);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds the key",
                path.display()
            );
        }
    }
}

#[test]
fn anthropic_llm_mode_speaks_the_messages_api_and_records_everything_but_the_key() {
    let server = LoopbackServer::start(vec![anthropic_reply(&format!(
        "Here it is:\n```rust\n{}```\n",
        clean_code()
    ))]);
    let (_tmp, d, id) = fresh_data_dir();
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
    ];
    let out = generated(&stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm", "--json"],
        &env,
    ));
    assert_eq!(out["mode"], "llm");
    assert_eq!(out["model"], "claude-test");
    assert_eq!(out["attempts"], 1);
    assert_eq!(out["tokens_used"], 1600);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    let body = r.json();
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["max_tokens"], 2000);
    assert!(body["system"]
        .as_str()
        .unwrap()
        .contains("stratagem strategy SDK"));
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("Hourly momentum"));
    // The audit trail replays the generation without the model; the key is nowhere.
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(d.join("strategy_generation.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["data"]["mode"], "llm");
    assert!(line["data"]["prompt"]
        .as_str()
        .unwrap()
        .contains("Hourly momentum"));
    assert!(line["data"]["reply"]
        .as_str()
        .unwrap()
        .starts_with("Here it is:"));
    no_file_contains(&d, KEY);
    let path = out["path"].as_str().unwrap();
    assert_eq!(
        stratagem(&d, &["validate", path], &[]).status.code(),
        Some(0)
    );
}

#[test]
fn a_429_with_retry_after_is_waited_out() {
    let server = LoopbackServer::start(vec![
        Reply::json(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        )
        .header("retry-after", "1"),
        anthropic_reply(&format!("```rust\n{}```", clean_code())),
    ]);
    let (_tmp, d, id) = fresh_data_dir();
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
    ];
    generated(&stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm", "--json"],
        &env,
    ));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
}

#[test]
fn code_that_fails_validation_is_repaired_with_our_summary() {
    let bad = clean_code().replace("let Some(mean) = self.average() else { return Ok(None) };", "let Some(mean) = self.average() else { return Ok(None) };\n        let _peek = unsafe { std::ptr::read(&mean) };");
    let server = LoopbackServer::start(vec![
        anthropic_reply(&format!("```rust\n{bad}```")),
        anthropic_reply(&format!("```rust\n{}```", clean_code())),
    ]);
    let (_tmp, d, id) = fresh_data_dir();
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
    ];
    let out = generated(&stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm", "--json"],
        &env,
    ));
    assert_eq!(out["attempts"], 2);
    let repair = server.requests()[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        repair.contains("rejected by the validator") && repair.contains("security.unsafe"),
        "{repair}"
    );
    assert!(
        !repair.contains("error[E"),
        "never rustc's own text: {repair}"
    );
    let path = out["path"].as_str().unwrap();
    assert_eq!(
        stratagem(&d, &["validate", path], &[]).status.code(),
        Some(0)
    );
}

#[test]
fn an_openai_compatible_server_without_a_key_works() {
    let server =
        LoopbackServer::start(vec![openai_reply(&format!("```rust\n{}```", clean_code()))]);
    let (_tmp, d, id) = fresh_data_dir();
    let base = format!("{}/v1", server.url);
    let out = generated(&stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm", "--json"],
        &[
            ("CODEGEN_OPENAI_BASE_URL", &base),
            ("CODEGEN_MODEL", "qwen-coder"),
        ],
    ));
    assert_eq!(out["model"], "local-test");
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(body["model"], "qwen-coder");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
}

#[test]
fn hybrid_mode_has_the_model_write_only_the_signal_logic() {
    let region = "let confidence = (change.abs() / self.params.threshold).min(1.0);\nif change > self.params.threshold {\n    return Ok(Some(Signal::new(Direction::Long, confidence)));\n}\nOk(None)";
    let server = LoopbackServer::start(vec![openai_reply(&format!("```rust\n{region}\n```"))]);
    let (_tmp, d, id) = fresh_data_dir();
    let base = format!("{}/v1", server.url);
    let out = generated(&stratagem(
        &d,
        &[
            "generate",
            "--opportunity",
            &id,
            "--mode",
            "hybrid",
            "--template",
            "momentum",
            "--json",
        ],
        &[("CODEGEN_OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", KEY)],
    ));
    assert_eq!(out["mode"], "hybrid");
    assert_eq!(out["template"], "momentum");
    let r = &server.requests()[0];
    assert_eq!(
        r.header("authorization").map(|a| a.starts_with("Bearer ")),
        Some(true)
    );
    let prompt = r.json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("// BEGIN SIGNAL LOGIC") && prompt.contains("pub struct MomentumStrategy"),
        "{prompt}"
    );
    let source = std::fs::read_to_string(out["path"].as_str().unwrap()).unwrap();
    assert!(
        source.contains("        // BEGIN SIGNAL LOGIC\n        let confidence")
            && !source.contains("Direction::Short, confidence"),
        "{source}"
    );
    assert_eq!(
        stratagem(&d, &["validate", out["path"].as_str().unwrap()], &[])
            .status
            .code(),
        Some(0)
    );
    no_file_contains(&d, KEY);
}

#[test]
fn server_errors_end_in_a_clear_message_and_record_the_failed_attempt_but_no_strategy() {
    let server = LoopbackServer::start(vec![Reply::json(
        500,
        json!({"error": {"message": "overloaded upstream"}}),
    )]);
    let (_tmp, d, id) = fresh_data_dir();
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
    ];
    let out = stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm"],
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(69),
        "the model server is unavailable"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answered HTTP 500: overloaded upstream") && !err.contains(KEY),
        "{err}"
    );
    assert_eq!(
        server.requests().len(),
        4,
        "retried up to the attempt limit"
    );
    let unauthorized = LoopbackServer::start(vec![Reply::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    )]);
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", unauthorized.url.as_str()),
    ];
    let out = stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm"],
        &env,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered HTTP 401: invalid x-api-key"));
    assert_eq!(unauthorized.requests().len(), 1, "a 401 is not retried");
    let status: Value = common::data(&ok(&d, &["status", "--json"])).unwrap();
    assert_eq!(
        status["log"]["events"], 3,
        "the submission and the two failed attempts"
    );
    let audit = std::fs::read_to_string(d.join("strategy_generation.jsonl")).unwrap();
    let attempts: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(attempts.len(), 2, "{audit}");
    for (a, status) in attempts.iter().zip(["500", "401"]) {
        assert_eq!(a["kind"], "generation.attempted", "{a}");
        assert_eq!(a["data"]["outcome"], "failed");
        assert!(a["data"]["reason"].as_str().unwrap().contains(status));
        assert_eq!(a["data"]["input_tokens"], 0);
    }
}

#[test]
fn without_a_model_llm_and_hybrid_stop_with_a_clear_message() {
    let (_tmp, d, id) = fresh_data_dir();
    for mode in ["llm", "hybrid"] {
        let out = stratagem(
            &d,
            &[
                "generate",
                "--opportunity",
                &id,
                "--mode",
                mode,
                "--template",
                "momentum",
            ],
            &[],
        );
        assert_eq!(
            out.status.code(),
            Some(64),
            "asked for what is not configured"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "generation mode {mode} needs a language model: set ANTHROPIC_API_KEY"
            )),
            "{err}"
        );
    }
    // Without a model the default mode is template (no silent fall-back for llm/hybrid).
    let out = generated(&stratagem(
        &d,
        &[
            "generate",
            "--opportunity",
            &id,
            "--template",
            "momentum",
            "--json",
        ],
        &[],
    ));
    assert_eq!(out["mode"], "template");
}

#[test]
fn a_model_reply_that_reads_etc_passwd_is_recorded_then_rejected_before_rustc_and_leaks_nothing() {
    let reader = clean_code().replace(
        "pub struct MomentumParams {",
        "const LEAK: &str = core::include_str!(\"/etc/passwd\");\n\npub struct MomentumParams {",
    );
    let server = LoopbackServer::start(vec![anthropic_reply(&format!("```rust\n{reader}```"))]);
    let (_tmp, d, id) = fresh_data_dir();
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
        ("CODEGEN_MAX_ATTEMPTS", "1"),
    ];
    let out = generated(&stratagem(
        &d,
        &["generate", "--opportunity", &id, "--mode", "llm", "--json"],
        &env,
    ));
    let validated = stratagem(&d, &["validate", out["path"].as_str().unwrap()], &[]);
    assert_eq!(validated.status.code(), Some(1));
    let text = String::from_utf8_lossy(&validated.stdout);
    assert!(
        text.contains("REJECTED (1/6 layers passed; layer 2 (security)")
            && text.contains("reads a file at compile time"),
        "{text}"
    );
    // No compile happened for it (only the SDK cache of earlier tests could exist), and no
    // line of the real file is in any output, event or projection.
    let passwd = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_else(|_| "root:x:0:0:root:/root:/bin/bash\n".into());
    for line in passwd.lines().filter(|l| l.len() > 8) {
        assert!(!text.contains(line));
        no_file_contains(&d, line);
    }
}

#[test]
fn the_daily_token_budget_counted_from_the_log_stops_generation() {
    let server = LoopbackServer::start(vec![anthropic_reply(&format!(
        "```rust\n{}```",
        clean_code()
    ))]);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let first = submit(&d);
    let second = submit(&d);
    let env = [
        ("ANTHROPIC_API_KEY", KEY),
        ("CODEGEN_ANTHROPIC_BASE_URL", server.url.as_str()),
        ("CODEGEN_DAILY_TOKEN_BUDGET", "1500"),
    ];
    generated(&stratagem(
        &d,
        &[
            "generate",
            "--opportunity",
            &first,
            "--mode",
            "llm",
            "--json",
        ],
        &env,
    ));
    let out = stratagem(
        &d,
        &["generate", "--opportunity", &second, "--mode", "llm"],
        &env,
    );
    assert_eq!(out.status.code(), Some(69), "the budget is spent for today");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the daily token budget is spent (1600 of 1500 tokens used today"),
        "{err}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "no request once the budget is spent"
    );
}
