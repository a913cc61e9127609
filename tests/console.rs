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

/// A form POSTed over one connection: the whole answer (status line, headers, body).
fn post_form(addr: &str, path: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The `review.approved` step of a strategy's trace, as the console's JSON gives it.
fn approval_of(addr: &str, strategy: &str) -> Value {
    let (_, json) = http(addr, "GET", &format!("/api/trace/{strategy}"), &[]);
    let trace: Value = serde_json::from_str(&json).unwrap();
    trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "review.approved")
        .cloned()
        .unwrap_or_else(|| panic!("{trace}"))
}

/// The review queue page's first waiting strategy and the form's CSRF token.
fn waiting_and_token(page: &str) -> (String, String) {
    let attribute = |before: &str| {
        page.split(before)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no {before} in {page}"))
            .to_string()
    };
    (
        attribute("data-strategy=\""),
        attribute("name=\"csrf\" value=\""),
    )
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
    main_job_with(data, &[])
}

/// As [`main_job`], with settings.
fn main_job_with(data: &Path, env: &[(&str, &str)]) -> Value {
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
        .envs(env.iter().copied())
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
    // Filtered by source and by status: only those rows, the filter kept in the form.
    let (_, page) = http(&addr, "GET", "/opportunities?source=manual", &[]);
    assert!(
        page.contains("<option value=\"manual\" selected>"),
        "{page}"
    );
    assert!(page.contains("<td>manual</td>"), "{page}");
    for other in [
        "arxiv",
        "reddit",
        "twitter",
        "edgar",
        "defillama",
        "network",
    ] {
        assert!(
            !page.contains(&format!("<td>{other}</td>")),
            "{other} shown"
        );
    }
    let (_, page) = http(&addr, "GET", "/opportunities?status=generated", &[]);
    assert!(page.contains("match (status generated)"), "{page}");
    assert!(!page.contains("<td>held</td>"), "{page}");
    assert!(page.contains("<td>generated</td>"), "{page}");
    assert!(
        page.contains("→ <a href=\"/strategies/"),
        "each idea links to the strategies made from it"
    );
    let (code, why) = http(&addr, "GET", "/opportunities?status=sleeping", &[]);
    assert_eq!(code, 400, "{why}");
    assert!(why.contains("unknown status \"sleeping\""), "{why}");

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
    // The idea as stated: its needs, the fit decision, and which stated rules the strategy
    // implements.
    assert!(
        page.contains("<p id=\"needs\">needs (read by rules): 1 leg(s) (BTC); ohlcv data; hourly bars; z-score signal"),
        "{page}"
    );
    assert!(
        page.contains(
            "the mean_reversion template covers its z-score signal and every stated rule"
        ),
        "{page}"
    );
    assert!(
        page.contains("data-implemented=\"yes\"><td>signal</td><td>implemented</td>"),
        "{page}"
    );
    // The code, highlighted; each validation layer; the five sub-scores; every stage run with
    // its gate, the paper runs drawn against their baseline.
    assert!(
        page.contains("<pre id=\"code\" class=\"rust\"><span class=\"c\">//"),
        "the code is shown highlighted"
    );
    assert!(page.contains("<span class=\"k\">fn</span>"));
    for layer in [
        "syntax",
        "security",
        "conventions",
        "integration",
        "coverage",
        "sandbox",
    ] {
        assert!(page.contains(&format!(" {layer}</td>")), "{layer} missing");
    }
    for score in [
        "novelty",
        "market fit",
        "complexity",
        "capital efficiency",
        "risk",
    ] {
        assert!(
            page.contains(&format!("<td>{score}</td>")),
            "{score} missing"
        );
    }
    for stage in ["COLD", "WARM", "LIMITED", "FULL"] {
        assert!(
            page.contains(&format!("<div class=\"run\" data-stage=\"{stage}\">")),
            "{stage} run missing"
        );
    }
    assert!(page.contains("</b>: beats baseline buy_and_hold"), "{page}");
    // Every run is drawn against its baseline, from the curve recorded with its completion.
    assert_eq!(
        page.matches("<path class=\"run-equity\" d=\"M").count(),
        page.matches("<div class=\"run\" data-stage=").count(),
        "every run is drawn"
    );
    assert_eq!(
        page.matches("<path class=\"run-baseline\" d=\"M").count(),
        page.matches("<div class=\"run\" data-stage=").count()
    );
    assert!(!page.contains("no curve recorded"), "{page}");

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
    // A browser asking for a page without it gets the sign-in form, which shows nothing else.
    let (code, page) = http(&addr, "GET", "/", &[("accept", "text/html")]);
    assert_eq!(code, 401);
    assert!(
        page.contains("<form method=\"post\" action=\"/login\">"),
        "{page}"
    );
    assert!(!page.contains("Funnel"), "{page}");
    // Signing in: a wrong token is refused; the right one gives the session cookie, which is
    // then enough, and a cookie of another value is not.
    let sign_in = |token: &str| post_form(&addr, "/login", &format!("token={token}"));
    let refused = sign_in("guess");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(!refused.to_lowercase().contains("set-cookie"), "{refused}");
    let signed = sign_in("s3cret-token");
    assert!(signed.starts_with("HTTP/1.1 303"), "{signed}");
    let cookie = signed
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("{signed}"));
    assert!(cookie.contains("HttpOnly; SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap();
    assert!(!session.contains("s3cret"), "the cookie is not the token");
    assert_eq!(http(&addr, "GET", "/", &[("cookie", session)]).0, 200);
    assert_eq!(
        http(&addr, "GET", "/", &[("cookie", "stratagem_console=00")]).0,
        401
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
    let (waiting, token) = waiting_and_token(&page);
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
    let post = |body: &str| post_form(&addr, &format!("/review/{waiting}"), body);
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
    let review = approval_of(&addr, &waiting);
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

/// Debian's chromedriver on a free loopback port, driving headless Chromium; stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}): apt-get install -y chromium chromium-driver (scripts/test does)")
            });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || http(&format!("127.0.0.1:{port}"), "GET", "/status", &[]).0 != 200
        {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver does not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url }
    }

    async fn browser(&self) -> fantoccini::Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"],
            }),
        );
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a headless Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the browser tests leave their screenshots.
fn artefacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `check` in the page every 100 ms until it returns true, for up to 20 s.
async fn until(page: &fantoccini::Client, check: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if page.execute(check, vec![]).await.unwrap() == Value::Bool(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_the_console_shows_the_funnel_and_the_provenance_escapes_titles_and_approves_live(
) {
    use fantoccini::Locator;
    // Two data directories by the offline main job: as shipped, and with a person's approval
    // required before LIMITED (so one strategy waits in the review queue).
    let (plain, waits) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let settings = [("REQUIRE_APPROVAL_BEFORE", "limited")];
    let (funnel, _) = std::thread::scope(|s| {
        let other = s.spawn(|| main_job_with(waits.path(), &settings));
        (main_job(plain.path()), other.join().unwrap())
    });
    let data = plain.path();
    let (child, addr) = console(data, &[("CONSOLE_ADDR", "127.0.0.1:0")]);
    let base = format!("http://{addr}");
    let driver = Driver::start();
    let page = driver.browser().await;

    // The overview: the funnel's figures are `run --once --json`'s.
    page.goto(&format!("{base}/")).await.unwrap();
    for (key, value) in funnel.as_object().unwrap() {
        let shown = page
            .find(Locator::Css(&format!("[data-step=\"{key}\"] b")))
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .text()
            .await
            .unwrap();
        assert_eq!(shown, value.to_string(), "{key}");
    }
    let shot = page.screenshot().await.unwrap();
    assert_eq!(&shot[1..4], b"PNG");
    std::fs::write(artefacts().join("overview.png"), &shot).unwrap();

    // A hostile title is text, and the page's title stays the console's.
    page.goto(&format!("{base}/opportunities")).await.unwrap();
    let hostile = "<script>document.title='pwned'</script>";
    let cells = page.find_all(Locator::Css("td")).await.unwrap();
    let mut shown_as_text = false;
    for cell in cells {
        if cell.text().await.unwrap().contains(hostile) {
            shown_as_text = true;
            break;
        }
    }
    assert!(shown_as_text, "the script's text is not on the page");
    assert_eq!(
        page.title().await.unwrap(),
        "Opportunities · stratagem console"
    );

    // A FULL strategy: every step of its trace, and an equity chart whose paths are drawn.
    let full = common::full_strategy(data);
    let (_, json) = http(&addr, "GET", &format!("/api/trace/{full}"), &[]);
    let trace: Value = serde_json::from_str(&json).unwrap();
    page.goto(&format!("{base}/strategies/{full}"))
        .await
        .unwrap();
    let rows = page
        .find_all(Locator::Css("#trace tr[data-phase]"))
        .await
        .unwrap();
    assert_eq!(rows.len(), trace["steps"].as_array().unwrap().len());
    let drawn = page
        .execute(
            "return Array.from(document.querySelectorAll('#equity path.equity')).map(p => p.getTotalLength());",
            vec![],
        )
        .await
        .unwrap();
    let lengths: Vec<f64> = serde_json::from_value(drawn).unwrap();
    assert!(
        !lengths.is_empty() && lengths.iter().all(|l| *l > 10.0),
        "{lengths:?}"
    );
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artefacts().join("strategy.png"), &shot).unwrap();

    stop(child);

    // The review queue: a POST without the form's token is refused, in the page as anywhere.
    let (child, addr) = console(
        waits.path(),
        &[("CONSOLE_ADDR", "127.0.0.1:0"), settings[0]],
    );
    let base = format!("http://{addr}");
    page.goto(&format!("{base}/review")).await.unwrap();
    let row = page
        .find(Locator::Css("#queue tr[data-strategy]"))
        .await
        .expect("a strategy waits for review");
    let waiting = row.attr("data-strategy").await.unwrap().unwrap();
    let status = page
        .execute(
            "return fetch('/review/' + arguments[0], {method: 'POST', body: new URLSearchParams({decision: 'approve', reviewer: 'Mallory'})}).then(r => r.status);",
            vec![Value::String(waiting.clone())],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);

    // Approved in the page: the event is recorded with the name, and the open page shows it
    // without a reload (a value set on the page survives).
    page.execute("window.stillThisPage = true; return true;", vec![])
        .await
        .unwrap();
    let form = row.find(Locator::Css("form")).await.unwrap();
    for (field, text) in [("reviewer", "Grace Hopper"), ("note", "read the code")] {
        let input = form
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap();
        input.send_keys(text).await.unwrap();
    }
    form.find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        until(
            &page,
            "return document.querySelector('#queue tr[data-strategy]') === null && window.stillThisPage === true;"
        )
        .await,
        "the page did not update in place"
    );
    let review = approval_of(&addr, &waiting);
    assert_eq!(review["data"]["reviewer"], "Grace Hopper");
    assert_eq!(
        page.title().await.unwrap(),
        "Review queue · stratagem console"
    );
    page.close().await.unwrap();
    drop(driver);
    stop(child);
}

#[test]
fn the_audit_page_verifies_the_chain_and_browses_filters_and_exports_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    main_job(data);
    let full = common::full_strategy(data);
    let (child, addr) = console(data, &[("CONSOLE_ADDR", "127.0.0.1:0")]);

    // The whole log, exported: one JSON line per event, in order, from #1 to the head.
    let (code, all) = http(&addr, "GET", "/audit/export.jsonl", &[]);
    assert_eq!(code, 200);
    let lines: Vec<Value> = all
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let head = lines.len() as u64;
    assert!(head > 500, "{head}");
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], n as u64 + 1);
        assert_eq!(line["hash"].as_str().unwrap().len(), 64);
    }

    // The chain: every event verified, and the head's hash is the last event's.
    let (code, page) = http(&addr, "GET", "/audit", &[]);
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("intact: {head} event(s) verified")),
        "{page}"
    );
    let last_hash = lines.last().unwrap()["hash"].as_str().unwrap();
    assert!(page.contains(last_hash), "{last_hash}");
    // The browser: the newest 100, newest first, and a link to the older ones.
    assert!(page.contains(&format!("<a href=\"/audit/events/{head}\">{head}</a>")));
    assert!(
        page.contains(&format!("/audit?before={}", head - 99)),
        "{page}"
    );

    // By kind: exactly the promotions, in the page and in its export.
    let promoted = lines
        .iter()
        .filter(|l| l["kind"] == "stage.promoted")
        .count();
    assert!(promoted >= 4, "{promoted}");
    let (_, page) = http(&addr, "GET", "/audit?kind=stage.promoted", &[]);
    assert_eq!(page.matches("<td>stage.promoted</td>").count(), promoted);
    assert_eq!(
        page.matches("<td>").count() / 5,
        promoted,
        "only promotions"
    );
    let (_, export) = http(&addr, "GET", "/audit/export.jsonl?kind=stage.promoted", &[]);
    assert_eq!(
        export.lines().filter(|l| l.starts_with('{')).count(),
        promoted
    );
    // A family of kinds.
    let stages = lines
        .iter()
        .filter(|l| l["kind"].as_str().unwrap().starts_with("stage."))
        .count();
    let (_, export) = http(&addr, "GET", "/audit/export.jsonl?kind=stage.", &[]);
    assert_eq!(
        export.lines().filter(|l| l.starts_with('{')).count(),
        stages
    );

    // By strategy: the events that name it, and nothing else.
    let naming = |l: &&Value| {
        ["strategy_id", "parent_strategy_id", "opportunity_id"]
            .iter()
            .any(|k| l["data"][*k] == full.as_str())
    };
    let about = lines.iter().filter(naming).count();
    let (code, export) = http(
        &addr,
        "GET",
        &format!("/audit/export.jsonl?strategy={full}"),
        &[],
    );
    assert_eq!(code, 200);
    let exported: Vec<Value> = export
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), about);
    assert!(exported.iter().all(|l| naming(&l)));
    let (_, page) = http(
        &addr,
        "GET",
        &format!("/audit?strategy={full}&kind=stage.promoted"),
        &[],
    );
    let its_promotions = exported
        .iter()
        .filter(|l| l["kind"] == "stage.promoted")
        .count();
    assert!(its_promotions >= 3, "COLD→WARM→LIMITED→FULL");
    assert_eq!(
        page.matches("<td>stage.promoted</td>").count(),
        its_promotions
    );

    // By time: nothing after tomorrow; everything from the epoch on; a bad time is refused.
    let (_, page) = http(&addr, "GET", "/audit?from=2999-01-01", &[]);
    assert!(page.contains("no event matches"), "{page}");
    let (_, export) = http(
        &addr,
        "GET",
        "/audit/export.jsonl?from=1970-01-01&to=2999-01-01",
        &[],
    );
    assert_eq!(
        export.lines().filter(|l| l.starts_with('{')).count() as u64,
        head
    );
    let (code, why) = http(&addr, "GET", "/audit?from=yesterday", &[]);
    assert_eq!(code, 400);
    assert!(why.contains("from=\"yesterday\" is not a time"), "{why}");

    // One event: its envelope, its hashes and its payload.
    let (code, page) = http(&addr, "GET", "/audit/events/1", &[]);
    assert_eq!(code, 200);
    assert!(page.contains(lines[0]["hash"].as_str().unwrap()));
    assert!(
        page.contains(&"0".repeat(64)),
        "the first event links to zeros"
    );
    assert_eq!(
        http(&addr, "GET", &format!("/audit/events/{}", head + 1), &[]).0,
        404
    );
    stop(child);
}

#[test]
fn the_daemon_serves_the_console_and_its_read_api_on_one_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut daemon = common::daemon(data, 100_000)
        .env("CONSOLE_ADDR", "127.0.0.1:0")
        .env("RUN_TICK_SECONDS", "1")
        .env("REQUIRE_APPROVAL_BEFORE", "limited")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(daemon.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("console on http://")
        .and_then(|r| r.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    // Its cycles go on printing; they are read (and dropped) so the daemon never blocks.
    std::thread::spawn(move || for _ in out.lines() {});

    // The read API answers on the console's server as on the socket, once the first cycle
    // published the read models; until then the pages ask to come back.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status: Value = loop {
        let (code, body) = http(&addr, "GET", "/v1/status", &[]);
        if code == 200 {
            break serde_json::from_str(&body).unwrap();
        }
        assert_eq!(code, 503, "{body}");
        assert!(std::time::Instant::now() < deadline, "no first cycle");
        std::thread::sleep(Duration::from_millis(200));
    };
    let found = status["opportunities_discovered"].as_u64().unwrap();
    assert!(found > 100, "{status}");
    let (code, page) = http(&addr, "GET", "/", &[]);
    assert_eq!(code, 200);
    let discovered = format!("data-step=\"discovered\"><b>{found}</b>");
    assert!(page.contains(&discovered), "{page}");
    let (code, page) = http(&addr, "GET", "/audit", &[]);
    assert_eq!(code, 200);
    assert!(page.contains("intact: "), "{page}");

    // A decision in the daemon's console is handed to it and recorded at its next cycle.
    let (_, page) = http(&addr, "GET", "/review", &[]);
    let (waiting, token) = waiting_and_token(&page);
    let answer = post_form(
        &addr,
        &format!("/review/{waiting}"),
        &format!("decision=approve&reviewer=Ada&note=ok&csrf={token}"),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(answer.contains("handed to the daemon"), "{answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, json) = http(&addr, "GET", &format!("/v1/trace/{waiting}"), &[]);
        if json.contains("\"review.approved\"") {
            assert!(json.contains("\"reviewer\":\"Ada\""), "{json}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not recorded: {json}");
        std::thread::sleep(Duration::from_millis(250));
    }
    stop(daemon);
}
