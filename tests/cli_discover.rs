//! Discovery through the real binary: the shipped recordings offline, and every source's client
//! against real HTTP servers on loopback — the same code that talks to arXiv, Reddit, X,
//! DefiLlama, EDGAR and GitHub, pointed elsewhere by its base URL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::http::{LoopbackServer, Reply};
use common::{bin, stderr, stdout};
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn recording(rel: &str) -> Vec<u8> {
    std::fs::read(repo(rel)).unwrap()
}

/// Runs `stratagem` with no discovery or scorer settings but the given ones.
fn stratagem(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    // The only panic allowed is the one a chaos test asks for.
    let err = stderr(&out);
    let panics = err.lines().filter(|l| l.contains("panicked")).count();
    let chaos = err.lines().filter(|l| l.starts_with("chaos: the")).count();
    assert_eq!(panics, chaos, "{err}");
    out
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    common::data(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// One `discover --json` and the summary of one source in it.
/// A source that failed makes the command exit 69 (unavailable: every source checked failed).
fn discover(data: &Path, source: &str, env: &[(&str, &str)]) -> Value {
    let out = stratagem(data, &["discover", "--source", source, "--json"], env);
    let envelope = common::envelope(&out);
    let s = envelope["data"]["sources"][0].clone();
    if s["outcome"] == "failed" {
        assert_eq!(out.status.code(), Some(69), "{envelope}");
        assert_eq!(envelope["error"]["code"], "unavailable", "{envelope}");
    } else {
        assert!(out.status.success(), "{envelope}{}", stderr(&out));
    }
    s
}

fn health(data: &Path, source: &str) -> Value {
    json_of(&stratagem(data, &["status", "--json"], &[]))["sources"][source].clone()
}

fn verify_clean(data: &Path) {
    let out = stratagem(data, &["audit", "verify"], &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = stratagem(data, &["audit", "replay"], &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn offline_recordings_become_scored_opportunities_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let offline = repo("data/sources");
    let offline = offline.to_str().unwrap();
    let first = json_of(&stratagem(
        data,
        &["discover", "--offline", offline, "--json"],
        &[],
    ));
    let sources = first["sources"].as_array().unwrap();
    for name in [
        "arxiv",
        "reddit",
        "twitter",
        "defillama",
        "edgar",
        "network",
        "manual",
    ] {
        let s = sources.iter().find(|s| s["source"] == name).unwrap();
        assert!(s["new"].as_u64().unwrap() > 0, "{name}: {s}");
        assert_eq!(s["errors"].as_array().unwrap().len(), 0, "{name}: {s}");
        assert_eq!(s["outcome"], "ok", "{name}");
    }
    // The two inbox ideas fit templates and clear the threshold; the recorded feeds are not
    // trading ideas (software testing papers, r/popular, "tweepy" posts) and are held.
    let manual = sources.iter().find(|s| s["source"] == "manual").unwrap();
    assert_eq!(manual["submitted"], 2);

    let all =
        json_of(&stratagem(data, &["opportunities", "--all", "--json"], &[]))["items"].clone();
    let rows = all.as_array().unwrap();
    let total = rows.len();
    assert!(total > 100, "{total}");
    for row in rows {
        let scores = &row["scores"];
        for sub in [
            "novelty",
            "market_fit",
            "complexity",
            "capital_efficiency",
            "risk",
        ] {
            let v = scores[sub]["value"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{sub} of {row}");
            assert!(
                !scores[sub]["reason"].as_str().unwrap_or("").is_empty(),
                "{sub} of {row}"
            );
        }
        assert!(
            row["composite"].as_f64().is_some()
                && row["external_id"].is_string()
                && row["family"].is_string()
        );
    }
    // Ranked by composite.
    let composites: Vec<f64> = rows
        .iter()
        .map(|r| r["composite"].as_f64().unwrap())
        .collect();
    assert!(composites.windows(2).all(|w| w[0] >= w[1]));
    for name in [
        "arxiv",
        "reddit",
        "twitter",
        "defillama",
        "edgar",
        "network",
        "manual",
    ] {
        assert!(
            rows.iter().any(|r| r["source"] == name),
            "no opportunity from {name}"
        );
    }

    // Twice: nothing new, nothing duplicated.
    let second = json_of(&stratagem(
        data,
        &["discover", "--offline", offline, "--json"],
        &[],
    ));
    for s in second["sources"].as_array().unwrap() {
        assert_eq!(s["new"], 0, "{s}");
        assert_eq!(
            s["fetched"].as_u64(),
            s["duplicates"]
                .as_u64()
                .map(|d| d + u64::from(s["source"] == "defillama")),
            "{s}"
        );
    }
    let again =
        json_of(&stratagem(data, &["opportunities", "--all", "--json"], &[]))["items"].clone();
    assert_eq!(again.as_array().unwrap().len(), total);
    let status = json_of(&stratagem(data, &["status", "--json"], &[]));
    assert_eq!(
        status["opportunities_discovered"].as_u64().unwrap() as usize,
        total
    );
    assert_eq!(status["opportunities_submitted"], 2);
    assert_eq!(status["sources"]["arxiv"]["checks"], 2);
    verify_clean(data);
}

#[test]
fn arxiv_faults_each_end_in_a_clear_source_checked_event() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let feed = recording("data/sources/arxiv/arxiv_api_query_all-testing_m10_2026.xml");
    let atom = "application/atom+xml";
    let quick = |url: &str| -> Vec<(String, String)> {
        vec![
            ("DISCOVERY_ARXIV_BASE_URL".into(), url.into()),
            ("DISCOVERY_MAX_PAGES".into(), "1".into()),
            ("DISCOVERY_HTTP_BACKOFF_MS".into(), "50".into()),
            ("DISCOVERY_HTTP_MAX_WAIT_MS".into(), "5000".into()),
        ]
    };
    let run = |env: Vec<(String, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        discover(data, "arxiv", &env)
    };

    // 200, then 304 for the same query: the validator is sent back.
    let server = LoopbackServer::start(vec![
        Reply::bytes(200, atom, feed.clone()).header("etag", "\"v1\""),
        Reply::bytes(304, atom, Vec::new()),
    ]);
    let s = run(quick(&server.url));
    assert_eq!(
        (
            s["outcome"].as_str(),
            s["fetched"].as_u64(),
            s["new"].as_u64()
        ),
        (Some("ok"), Some(10), Some(10)),
        "{s}"
    );
    let s = run(quick(&server.url));
    assert_eq!(s["outcome"], "not_modified", "{s}");
    assert_eq!(health(data, "arxiv")["last_outcome"], "not_modified");
    let requests = server.requests();
    let first = &requests[0];
    assert!(first.path.starts_with("/api/query?search_query=cat%3Aq-fin.TR+OR+cat%3Aq-fin.CP+OR+cat%3Astat.ML&sortBy=submittedDate&sortOrder=descending&start=0"), "{}", first.path);
    assert!(first
        .header("user-agent")
        .unwrap()
        .starts_with("stratagem/"));
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));

    // 429 with Retry-After: 1, then 200: waited, then read (nothing new by id).
    let server = LoopbackServer::start(vec![
        Reply::bytes(429, "text/plain", "slow down").header("retry-after", "1"),
        Reply::bytes(200, atom, feed.clone()),
    ]);
    let s = run(quick(&server.url));
    assert_eq!(
        (
            s["outcome"].as_str(),
            s["new"].as_u64(),
            s["duplicates"].as_u64()
        ),
        (Some("ok"), Some(0), Some(10)),
        "{s}"
    );
    let r = server.requests();
    assert!(r[1].at.duration_since(r[0].at) >= Duration::from_millis(900));

    // Each failure: its own clear message, recorded, and no crash.
    // (the server's script, extra settings, the message expected)
    type Case<'a> = (Vec<Reply>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![Reply::bytes(429, "text/plain", "later").header("retry-after", "3600")],
            vec![],
            "rate limited: the server asks to wait 3600 s",
        ),
        (
            vec![Reply::bytes(500, "text/plain", "boom")],
            vec![],
            "HTTP 500 (3 attempts): boom",
        ),
        (
            vec![Reply::bytes(200, atom, feed.clone()).delayed(Duration::from_millis(1500))],
            vec![
                ("DISCOVERY_HTTP_TIMEOUT_MS", "300"),
                ("DISCOVERY_HTTP_MAX_ATTEMPTS", "1"),
            ],
            "timed out after 300 ms",
        ),
        (
            vec![Reply::bytes(200, atom, vec![b' '; 100_000])],
            vec![("DISCOVERY_HTTP_MAX_BODY_BYTES", "65536")],
            "response body larger than 65536 bytes",
        ),
        (
            vec![Reply::bytes(200, atom, "<feed><entry>")],
            vec![],
            "malformed arXiv feed",
        ),
        (
            vec![Reply::bytes(
                400,
                atom,
                recording("tests/fixtures/sources/arxiv_api_error_incorrect_id_2026.xml"),
            )],
            vec![],
            "HTTP 400 (1 attempts): incorrect id format for abc",
        ),
    ];
    for (script, extra, expected) in cases {
        let server = LoopbackServer::start(script);
        let mut env = quick(&server.url);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let s = run(env);
        assert_eq!(s["outcome"], "failed", "{expected}: {s}");
        let error = s["errors"][0].as_str().unwrap();
        assert!(
            error.contains(expected),
            "expected {expected:?} in {error:?}"
        );
        let h = health(data, "arxiv");
        assert_eq!(h["last_outcome"], "failed");
        assert!(h["last_error"].as_str().unwrap().contains(expected), "{h}");
    }
    let h = health(data, "arxiv");
    assert_eq!(
        (
            h["checks"].as_u64(),
            h["failures"].as_u64(),
            h["consecutive_failures"].as_u64()
        ),
        (Some(9), Some(6), Some(6)),
        "{h}"
    );
    // Nothing recorded before was lost, and the chain is whole.
    let all =
        json_of(&stratagem(data, &["opportunities", "--all", "--json"], &[]))["items"].clone();
    assert_eq!(all.as_array().unwrap().len(), 10);
    verify_clean(data);
}

#[test]
fn arxiv_pages_newest_first_at_most_one_request_per_three_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![
        Reply::bytes(
            200,
            "application/atom+xml",
            recording("data/sources/arxiv/arxiv_api_query_all-testing_m10_2026.xml"),
        ),
        Reply::bytes(
            200,
            "application/atom+xml",
            recording(
                "data/sources/arxiv/arxiv_api_query_au-del_maestro_AND_ti-checkerboard_2016.xml",
            ),
        ),
    ]);
    let s = discover(
        tmp.path(),
        "arxiv",
        &[
            ("DISCOVERY_ARXIV_BASE_URL", &server.url),
            ("DISCOVERY_ARXIV_PAGE_SIZE", "10"),
        ],
    );
    assert_eq!(
        (s["fetched"].as_u64(), s["new"].as_u64()),
        (Some(11), Some(11)),
        "{s}"
    );
    let r = server.requests();
    assert_eq!(r.len(), 2, "a short second page ends the paging");
    assert!(
        r[0].path.contains("start=0&max_results=10")
            && r[1].path.contains("start=10&max_results=10")
    );
    assert!(
        r[1].at.duration_since(r[0].at) >= Duration::from_millis(2900),
        "{:?}",
        r[1].at.duration_since(r[0].at)
    );
}

#[test]
fn reddit_oauth_app_only_and_rate_limit_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let listing =
        recording("data/sources/reddit/reddit_listing_r-popular_hot_limit100_2026-04-13.json");
    let server = LoopbackServer::start(vec![
        Reply::json(
            200,
            serde_json::json!({"access_token": "tok-123", "token_type": "bearer", "expires_in": 86400}),
        ),
        Reply::bytes(200, "application/json", listing.clone())
            .header("x-ratelimit-remaining", "0.0")
            .header("x-ratelimit-reset", "1"),
        Reply::bytes(200, "application/json", listing.clone()),
    ]);
    let s = discover(
        tmp.path(),
        "reddit",
        &[
            ("DISCOVERY_REDDIT_BASE_URL", &server.url),
            ("DISCOVERY_REDDIT_OAUTH_URL", &server.url),
            ("REDDIT_CLIENT_ID", "app-id"),
            ("REDDIT_CLIENT_SECRET", "app-secret-9"),
        ],
    );
    assert_eq!(
        (
            s["fetched"].as_u64(),
            s["new"].as_u64(),
            s["duplicates"].as_u64()
        ),
        (Some(200), Some(100), Some(100)),
        "{s}"
    );
    let r = server.requests();
    assert_eq!(
        (r[0].method.as_str(), r[0].path.as_str()),
        ("POST", "/api/v1/access_token")
    );
    // Basic base64("app-id:app-secret-9").
    assert_eq!(
        r[0].header("authorization"),
        Some("Basic YXBwLWlkOmFwcC1zZWNyZXQtOQ==")
    );
    assert_eq!(r[0].body, "grant_type=client_credentials");
    assert_eq!(r[1].path, "/r/algotrading/new?limit=100&raw_json=1");
    assert_eq!(r[1].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(r[2].path, "/r/quant/new?limit=100&raw_json=1");
    assert!(
        r[2].at.duration_since(r[1].at) >= Duration::from_millis(900),
        "x-ratelimit-remaining 0 waits for the reset"
    );

    // Without credentials: the public listing.
    let server = LoopbackServer::start(vec![Reply::bytes(200, "application/json", listing)]);
    discover(
        tmp.path(),
        "reddit",
        &[
            ("DISCOVERY_REDDIT_BASE_URL", &server.url),
            ("DISCOVERY_REDDIT_SUBREDDITS", "algotrading"),
        ],
    );
    let r = server.requests();
    assert_eq!(r[0].path, "/r/algotrading/new.json?limit=100&raw_json=1");
    assert!(r[0].header("authorization").is_none());
    verify_clean(tmp.path());
}

#[test]
fn twitter_needs_a_token_and_follows_next_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = stratagem(tmp.path(), &["discover", "--source", "twitter"], &[]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("twitter    disabled: no bearer token (set TWITTER_BEARER_TOKEN)"),
        "{}",
        stdout(&out)
    );

    // X's reset is a whole Unix second: taken just before the check (not before the first
    // command above, whose run on a loaded machine could use up most of the wait).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = (now + 3).to_string();
    let server = LoopbackServer::start(vec![
        Reply::bytes(
            200,
            "application/json",
            recording("data/sources/twitter/twitter_v2_search_recent_query-Tweepy_2022-10-07.json"),
        )
        // X's reset is a Unix time: nothing remaining until then, so the next page waits.
        .header("x-rate-limit-remaining", "0")
        .header("x-rate-limit-reset", &reset),
        Reply::json(
            200,
            serde_json::json!({"data": [{"id": "1578511000000000000", "text": "BTC momentum: 24h breakout long, stop at 3%"}], "meta": {"result_count": 1}}),
        ),
    ]);
    let out = stratagem(
        tmp.path(),
        &["discover", "--source", "twitter", "--json"],
        &[
            ("DISCOVERY_TWITTER_BASE_URL", &server.url),
            ("TWITTER_BEARER_TOKEN", "AAAA-secret-token"),
            ("DISCOVERY_TWITTER_QUERIES", "bitcoin momentum"),
        ],
    );
    assert!(!stdout(&out).contains("secret-token") && !stderr(&out).contains("secret-token"));
    let s = json_of(&out)["sources"][0].clone();
    assert_eq!(
        (s["fetched"].as_u64(), s["new"].as_u64()),
        (Some(11), Some(11)),
        "{s}"
    );
    let r = server.requests();
    assert_eq!(
        r[0].header("authorization"),
        Some("Bearer AAAA-secret-token")
    );
    assert!(
        r[0].path
            .starts_with("/2/tweets/search/recent?query=bitcoin+momentum&max_results=100"),
        "{}",
        r[0].path
    );
    assert!(
        r[1].at.duration_since(r[0].at) >= Duration::from_millis(900),
        "x-rate-limit-remaining 0 waits for x-rate-limit-reset"
    );
    assert!(
        r[1].path
            .ends_with("&next_token=b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"),
        "{}",
        r[1].path
    );
}

#[test]
fn edgar_requires_a_contact_and_paces_its_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = stratagem(tmp.path(), &["discover", "--source", "edgar"], &[]);
    assert!(
        stdout(&out).contains("refused: the SEC requires a contact e-mail"),
        "{}",
        stdout(&out)
    );
    let out = stratagem(
        tmp.path(),
        &["discover", "--source", "edgar"],
        &[("DISCOVERY_EDGAR_CONTACT_EMAIL", "not-an-address")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("DISCOVERY_EDGAR_CONTACT_EMAIL"),
        "{}",
        stderr(&out)
    );

    let atom = || {
        Reply::bytes(
            200,
            "application/atom+xml",
            recording("data/sources/edgar/edgar_getcurrent_atom_count40_2021-04-18.xml"),
        )
    };
    let search = || {
        Reply::bytes(
            200,
            "application/json",
            recording("data/sources/edgar/edgar_efts_fulltext_search_INTC_10-K_2021-04-18.json"),
        )
    };
    let server = LoopbackServer::start(vec![atom(), atom(), search(), search()]);
    let s = discover(
        tmp.path(),
        "edgar",
        &[
            ("DISCOVERY_EDGAR_BASE_URL", &server.url),
            ("DISCOVERY_EDGAR_SEARCH_URL", &server.url),
            ("DISCOVERY_EDGAR_CONTACT_EMAIL", "quant@example.com"),
            ("DISCOVERY_EDGAR_FORMS", "10-K,8-K"),
            ("DISCOVERY_EDGAR_TERMS", "bitcoin;ether"),
        ],
    );
    // Two latest-filings feeds (15 filings each, the same ones) and two searches (5 each).
    assert_eq!(
        (s["fetched"].as_u64(), s["new"].as_u64()),
        (Some(40), Some(20)),
        "{s}"
    );
    let r = server.requests();
    assert_eq!(
        r[0].path,
        "/cgi-bin/browse-edgar?action=getcurrent&type=10-K&count=40&output=atom"
    );
    assert_eq!(
        r[2].path,
        "/LATEST/search-index?q=%22bitcoin%22&forms=10-K%2C8-K"
    );
    assert!(r[0]
        .header("user-agent")
        .unwrap()
        .ends_with("quant@example.com"));
    // At most 10 requests a second: four requests span at least three gaps of 100 ms (measured
    // where the server saw them, so allow for its timestamps' jitter under load).
    assert!(
        r[3].at.duration_since(r[0].at) >= Duration::from_millis(250),
        "at most 10 requests a second: {:?}",
        r[3].at.duration_since(r[0].at)
    );
}

#[test]
fn defillama_lists_new_protocols_and_reads_gas_and_network_reads_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let server = LoopbackServer::start(vec![
        Reply::bytes(
            200,
            "application/json",
            recording("data/sources/defillama/defillama_protocols_subset_from_agentkit.json"),
        ),
        Reply::bytes(
            200,
            "application/json",
            recording("data/sources/defillama/eth_feeHistory_response.json"),
        ),
    ]);
    let rpc = format!("{}/rpc", server.url);
    let s = discover(
        tmp.path(),
        "defillama",
        &[
            ("DISCOVERY_DEFILLAMA_BASE_URL", &server.url),
            ("DISCOVERY_DEFILLAMA_RPC_URL", &rpc),
        ],
    );
    // Two protocols; on a first check only those listed within 7 days of the newest are new.
    assert_eq!(
        (
            s["fetched"].as_u64(),
            s["new"].as_u64(),
            s["outcome"].as_str()
        ),
        (Some(2), Some(1), Some("ok")),
        "{s}"
    );
    let r = server.requests();
    assert_eq!(r[0].path, "/protocols");
    assert_eq!((r[1].method.as_str(), r[1].path.as_str()), ("POST", "/rpc"));
    assert_eq!(r[1].json()["method"], "eth_feeHistory");

    let server = LoopbackServer::start(vec![Reply::bytes(
        200,
        "application/atom+xml",
        recording("data/sources/network/github_releases_atom_hajimehoshi-oto_2021-12-27.xml"),
    )]);
    let s = discover(
        tmp.path(),
        "network",
        &[
            ("DISCOVERY_NETWORK_BASE_URL", &server.url),
            ("DISCOVERY_NETWORK_REPOS", "ethereum/go-ethereum"),
        ],
    );
    assert_eq!(s["new"], 10, "{s}");
    assert_eq!(
        server.requests()[0].path,
        "/ethereum/go-ethereum/releases.atom"
    );
    verify_clean(tmp.path());
}

#[test]
fn bad_scorer_weights_are_refused_before_anything_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let offline = repo("data/sources");
    let out = stratagem(
        tmp.path(),
        &["discover", "--offline", offline.to_str().unwrap()],
        &[("OPPORTUNITY_NOVELTY_WEIGHT", "0.5")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sum to 1.250, not 1"),
        "{}",
        stderr(&out)
    );
    assert!(
        !tmp.path().join("events").exists(),
        "nothing was opened or written"
    );
    let out = stratagem(tmp.path(), &["discover", "--offline", "/no/such/dir"], &[]);
    assert!(stderr(&out).contains("no such folder"), "{}", stderr(&out));
    let out = stratagem(tmp.path(), &["discover", "--source", "myspace"], &[]);
    assert!(
        stderr(&out).contains("unknown source \"myspace\""),
        "{}",
        stderr(&out)
    );
}

// Needs the chaos hooks (`--features chaos`, as scripts/test runs it).
#[cfg(feature = "chaos")]
#[test]
fn watched_sources_are_supervised_actors_restarted_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let offline = repo("data/sources");
    let args = [
        "discover",
        "--offline",
        offline.to_str().unwrap(),
        "--watch",
        "--for",
        "3",
        "--json",
    ];
    // The reddit actor panics on its first check; the supervisor restarts it after its backoff
    // (0.5 s) and the new actor checks again — nothing is lost, and the restart is recorded.
    let v = json_of(&stratagem(
        data,
        &args,
        &[("STRATAGEM_CHAOS_PANIC_SOURCE", "reddit")],
    ));
    let sources = v["sources"].as_array().unwrap();
    for name in [
        "arxiv",
        "reddit",
        "twitter",
        "defillama",
        "edgar",
        "network",
        "manual",
    ] {
        let s = sources
            .iter()
            .find(|s| s["source"] == name)
            .unwrap_or_else(|| panic!("no check of {name}: {v}"));
        assert!(s["new"].as_u64().unwrap() > 0, "{s}");
    }
    let ops = std::fs::read_to_string(data.join("operations.jsonl")).unwrap();
    let lines: Vec<Value> = ops
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let restarted: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "actor.restarted")
        .collect();
    assert_eq!(restarted.len(), 1, "{ops}");
    assert_eq!(restarted[0]["data"]["actor"], "source/reddit");
    assert_eq!(restarted[0]["data"]["attempt"], 1);
    assert!(restarted[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("fails on purpose"));
    // The supervisor, the scorer and the seven sources.
    let started: Vec<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "actor.started")
        .map(|l| l["data"]["actor"].as_str().unwrap())
        .collect();
    assert_eq!(started.len(), 9, "{started:?}");
    assert_eq!(started[..2], ["discovery", "scorer"]);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["kind"] == "source.checked")
            .count(),
        7
    );
    let total = json_of(&stratagem(data, &["opportunities", "--all", "--json"], &[]))["items"]
        .clone()
        .as_array()
        .unwrap()
        .len();

    // Watching again: every source checked once more, nothing new, nothing twice.
    let v = json_of(&stratagem(data, &args, &[]));
    assert!(
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["new"] == 0),
        "{v}"
    );
    let again = json_of(&stratagem(data, &["opportunities", "--all", "--json"], &[]))["items"]
        .clone()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(again, total);
    verify_clean(data);
}
