//! The operator's console: server-rendered pages and their JSON over the read models and the
//! log (`stratagem console`, on `CONSOLE_ADDR`, default `127.0.0.1:8420`).
//!
//! Pages: the overview (the funnel, the seed's success criteria with their verdicts, strategies
//! per stage, source health, recent alerts), the ranked opportunities with their five
//! sub-scores and reasons, and each strategy's provenance (its trace, the source item, the
//! code, an equity chart of its stays). Every page is rendered by minijinja with HTML
//! auto-escaping: text from outside (titles, abstracts, model replies, code) shows as text.
//! Every asset is in the binary; nothing is fetched from elsewhere.
//!
//! Safety: the console binds to loopback unless `CONSOLE_TOKEN` is set; with a token every
//! request must carry it (`Authorization: Bearer …`), compared in constant time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Form;
use axum::Router;
use minijinja::{context, Environment};
use serde::Serialize;
use stratagem_events::projection::rfc3339_micros;
use stratagem_events::store::iter_from;
use stratagem_events::{Event, Projections};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::error::{Result, WorkflowError};
use super::query::StatusReport;
use super::run::Funnel;
use super::trace::{summary_of, trace, Trace};

/// The console's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Where it listens (`CONSOLE_ADDR`).
    pub addr: SocketAddr,
    /// The bearer token every request must carry (`CONSOLE_TOKEN`); required off loopback.
    pub token: Option<String>,
    /// The success criteria's window, days (`KPI_WINDOW_DAYS`).
    pub kpi_window_days: u32,
}

impl ConsoleSettings {
    /// Refuses an address off loopback without a token.
    ///
    /// # Errors
    /// The address is not loopback and no token is set.
    pub fn check(&self) -> Result<()> {
        if !self.addr.ip().is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(WorkflowError::refused(format!(
                "CONSOLE_ADDR={} is not a loopback address: set CONSOLE_TOKEN, which every request must then carry (Authorization: Bearer …)",
                self.addr
            )));
        }
        Ok(())
    }
}

/// What the pages are rendered from.
pub struct Console {
    root: std::path::PathBuf,
    dir: tokio::sync::Mutex<DataDir>,
    env: Environment<'static>,
    settings: ConsoleSettings,
    /// Who waits for a person depends on the stages' settings.
    stages: crate::stages::runner::StageSettings,
    /// Set when the console stops: the event streams end, so open pages do not hold it up.
    stopping: std::sync::atomic::AtomicBool,
    /// The token every state-changing request must carry (a form's hidden field): 256 random
    /// bits drawn when the console starts, so a page of another site cannot forge a decision.
    csrf: String,
}

/// The pages' templates, in the binary.
const TEMPLATES: [(&str, &str); 5] = [
    (
        "review.html",
        include_str!("../../../templates/console/review.html"),
    ),
    (
        "base.html",
        include_str!("../../../templates/console/base.html"),
    ),
    (
        "overview.html",
        include_str!("../../../templates/console/overview.html"),
    ),
    (
        "opportunities.html",
        include_str!("../../../templates/console/opportunities.html"),
    ),
    (
        "strategy.html",
        include_str!("../../../templates/console/strategy.html"),
    ),
];

/// Kinds of events the overview lists as alerts.
const ALERTS: [&str; 6] = [
    "stage.rolled_back",
    "strategy.retired",
    "stage.rejected",
    "risk.state_changed",
    "actor.gave_up",
    "notification.failed",
];

/// How far back from the head the overview looks for alerts, events.
const ALERT_LOOKBACK: u64 = 20_000;

impl Console {
    /// A console over the data directory `dir`.
    ///
    /// # Errors
    /// A template does not parse (a build defect).
    pub fn new(
        root: &std::path::Path,
        dir: DataDir,
        settings: ConsoleSettings,
        stages: crate::stages::runner::StageSettings,
    ) -> Result<Console> {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| WorkflowError::refused(format!("console template {name}: {e}")))?;
        }
        let mut bits = [0u8; 32];
        getrandom::fill(&mut bits).map_err(|e| {
            WorkflowError::refused(format!("no randomness for the console's CSRF token: {e}"))
        })?;
        Ok(Console {
            root: root.to_path_buf(),
            dir: tokio::sync::Mutex::new(dir),
            env,
            settings,
            stages,
            stopping: std::sync::atomic::AtomicBool::new(false),
            csrf: stratagem_events::record::hex(&bits),
        })
    }

    /// Runs `f` over the data directory with its read models brought up to the log's head.
    async fn read<T>(&self, f: impl FnOnce(&DataDir, &Projections) -> Result<T>) -> Result<T> {
        let dir = self.dir.lock().await;
        let projected = dir.projections()?;
        f(&dir, projected.state())
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => failed(&format!("cannot render {name}: {e}")),
        }
    }
}

fn failed(why: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

fn not_found(why: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// The console's routes: pages, and the same reads as JSON under `/api`.
pub fn router(console: Arc<Console>) -> Router {
    let guarded = console.clone();
    Router::new()
        .route("/", get(overview))
        .route("/opportunities", get(opportunities))
        .route("/strategies/{id}", get(strategy))
        .route("/review", get(review_queue))
        .route("/review/{id}", post(review_decide))
        .route("/events", get(events))
        .route("/api/status", get(api_status))
        .route("/api/trace/{id}", get(api_trace))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = guarded.settings.token.clone();
            async move { authorised(token.as_deref(), req, next).await }
        }))
        .with_state(console)
}

/// With a token set, a request without it is refused.
async fn authorised(token: Option<&str>, req: Request, next: Next) -> Response {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "this console needs its token (Authorization: Bearer …)\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Equality in time independent of where the two differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Serialize)]
struct FunnelStep {
    key: &'static str,
    name: &'static str,
    value: u64,
}

#[derive(Serialize)]
struct Alert {
    seq: u64,
    at: String,
    kind: String,
    summary: String,
}

async fn overview(State(c): State<Arc<Console>>) -> Response {
    let window = c.settings.kpi_window_days;
    let read = c.read(|dir, state| {
        let f = Funnel::of(state);
        let funnel = vec![
            FunnelStep { key: "discovered", name: "discovered", value: f.discovered },
            FunnelStep { key: "scored", name: "scored", value: f.scored },
            FunnelStep { key: "submitted", name: "submitted", value: f.submitted },
            FunnelStep { key: "generated", name: "generated", value: f.generated },
            FunnelStep { key: "validated", name: "validated", value: f.validated },
            FunnelStep { key: "approved", name: "approved", value: f.approved },
            FunnelStep { key: "reached_cold", name: "reached COLD", value: f.reached_cold },
            FunnelStep { key: "reached_warm", name: "reached WARM", value: f.reached_warm },
            FunnelStep { key: "reached_limited", name: "reached LIMITED", value: f.reached_limited },
            FunnelStep { key: "reached_full", name: "reached FULL", value: f.reached_full },
            FunnelStep { key: "rolled_back", name: "rolled back", value: f.rolled_back },
            FunnelStep { key: "retired", name: "retired", value: f.retired },
            FunnelStep { key: "cloned", name: "clones", value: f.cloned },
        ];
        let kpis = state
            .kpis
            .report_to_newest(window, super::query::now_micros());
        let kpi_rows: Vec<minijinja::Value> = kpis
            .rows()
            .into_iter()
            .map(|(name, target, value, verdict)| {
                context! {
                    name,
                    target,
                    value,
                    verdict => verdict.as_str(),
                    class => serde_json::to_value(verdict).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                }
            })
            .collect();
        let strategies: Vec<minijinja::Value> = state
            .strategies
            .values()
            .rev()
            .take(200)
            .map(|s| {
                context! {
                    id => s.id.to_string(),
                    name => s.name.clone(),
                    status => s.status.as_str(),
                    stage => s.stage.map_or("", |st| st.as_str()),
                    highest => s.highest_stage.map_or("", |st| st.as_str()),
                    rollbacks => s.rollbacks,
                }
            })
            .collect();
        let sources: Vec<minijinja::Value> = state
            .sources
            .iter()
            .map(|(name, h)| {
                context! {
                    name,
                    outcome => h.last_outcome.clone(),
                    checks => h.checks,
                    failures => h.failures,
                    items => h.fetched,
                    last_checked => rfc3339_micros(h.last_checked_micros),
                    error => h.last_error.clone().unwrap_or_default(),
                }
            })
            .collect();
        let head = dir.store().head().seq;
        let mut alerts = Vec::new();
        for rec in iter_from(dir.store(), head.saturating_sub(ALERT_LOOKBACK) + 1) {
            let rec = rec.map_err(|e| WorkflowError::refused(format!("cannot read the log: {e}")))?;
            let failed_check = rec.kind.as_str() == "source.checked";
            if !(ALERTS.contains(&rec.kind.as_str()) || failed_check) {
                continue;
            }
            let Ok(event) = rec.event() else { continue };
            if let Event::SourceChecked(e) = &event {
                if !matches!(e.outcome, stratagem_events::SourceOutcome::Failed { .. }) {
                    continue;
                }
            }
            alerts.push(Alert {
                seq: rec.seq,
                at: rfc3339_micros(rec.recorded_at_micros),
                kind: rec.kind.as_str().to_string(),
                summary: summary_of(&event),
            });
        }
        alerts.reverse();
        alerts.truncate(50);
        Ok(context! {
            head_seq => head,
            funnel,
            kpis,
            kpi_rows,
            stages => state.autonomy.stages.clone(),
            strategies,
            sources,
            alerts,
        })
    }).await;
    match read {
        Ok(ctx) => c.render("overview.html", ctx),
        Err(e) => failed(&e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct OpportunityFilter {
    source: Option<String>,
    status: Option<String>,
}

async fn opportunities(
    State(c): State<Arc<Console>>,
    Query(filter): Query<OpportunityFilter>,
) -> Response {
    let read = c.read(|dir, state| {
        let wanted_status = filter
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(super::query::parse_status)
            .transpose()
            .map_err(|e| WorkflowError::refused(e.to_string()))?;
        let mut rows: Vec<_> = state
            .opportunities
            .values()
            .filter(|o| {
                filter
                    .source
                    .as_deref()
                    .is_none_or(|s| s.is_empty() || o.source == s)
            })
            .filter(|o| wanted_status.is_none_or(|st| o.status == st))
            .collect();
        rows.sort_by(|a, b| {
            let c = |o: &stratagem_events::projection::OpportunityView| {
                o.score.as_ref().map_or(-1.0, |s| s.composite)
            };
            c(b).total_cmp(&c(a))
        });
        let total = rows.len();
        let rows: Vec<minijinja::Value> = rows
            .into_iter()
            .take(500)
            .map(|o| {
                let scores: Vec<minijinja::Value> = o
                    .score
                    .iter()
                    .flat_map(|s| {
                        [&s.novelty, &s.market_fit, &s.complexity, &s.capital_efficiency, &s.risk]
                    })
                    .map(|s| context! { value => format!("{:.2}", s.value), reason => s.reason.clone() })
                    .collect();
                context! {
                    composite => o.score.as_ref().map_or("–".to_string(), |s| format!("{:.3}", s.composite)),
                    title => o.title.shown().into_owned(),
                    url => o.url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
                    source => o.source.clone(),
                    status => super::query::status_name(o.status),
                    scores,
                }
            })
            .collect();
        Ok(context! {
            head_seq => dir.store().head().seq,
            total,
            rows,
            source => filter.source.clone().unwrap_or_default(),
            status => filter.status.clone().unwrap_or_default(),
        })
    }).await;
    match read {
        Ok(ctx) => c.render("opportunities.html", ctx),
        Err(e) => failed(&e.to_string()),
    }
}

/// An inline SVG of each stay's equity by the monitor's readings (1 = the stay's start).
fn equity_chart(t: &Trace) -> Option<String> {
    let mut runs: Vec<(String, Vec<f64>)> = Vec::new();
    for s in t.steps.iter().filter(|s| s.kind == "monitor.observed") {
        let run = s.data["run_id"].as_str().unwrap_or("").to_string();
        let value = 1.0 + s.data["total_return"].as_f64().unwrap_or(0.0);
        match runs.iter_mut().find(|(r, _)| *r == run) {
            Some((_, points)) => points.push(value),
            None => runs.push((run, vec![1.0, value])),
        }
    }
    if runs.is_empty() {
        return None;
    }
    let (w, h, pad) = (720.0, 240.0, 24.0);
    let longest = runs.iter().map(|(_, p)| p.len()).max().unwrap_or(2).max(2);
    let all = runs.iter().flat_map(|(_, p)| p.iter().copied());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let span = (hi - lo).max(1e-9);
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (longest - 1) as f64;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - lo) / span;
    let colours = ["#2456c9", "#c2410c", "#15803d", "#7e22ce", "#0e7490"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"equity of each stay\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\" stroke=\"#dde1e8\"/>"
    );
    svg.push_str(&format!(
        "<line x1=\"{pad}\" x2=\"{}\" y1=\"{y1:.1}\" y2=\"{y1:.1}\" stroke=\"#9ca3af\" stroke-dasharray=\"4 3\"/>",
        w - pad,
        y1 = y(1.0)
    ));
    for (n, (_, points)) in runs.iter().enumerate() {
        let d: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}{:.1} {:.1}", if i == 0 { "M" } else { "L" }, x(i), y(*v)))
            .collect();
        svg.push_str(&format!(
            "<path class=\"equity\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            d.join(" "),
            colours[n % colours.len()]
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"14\" font-size=\"11\" fill=\"#374151\">{:.2} % … {:.2} % (dashed: the stay's start)</text></svg>",
        (lo - 1.0) * 100.0,
        (hi - 1.0) * 100.0
    ));
    Some(svg)
}

async fn strategy(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&format!("{id:?} is not a strategy id"));
    };
    let read = c.read(|dir, state| {
        let t = trace(dir.store(), state, id)?;
        let code = t
            .steps
            .iter()
            .find(|s| s.kind == "strategy.generated")
            .and_then(|s| s.data["source_code"].as_str().map(String::from));
        let source = state.opportunities.get(&t.opportunity_id).map(|o| {
            let text = o.hypothesis.shown();
            context! {
                title => o.title.shown().into_owned(),
                url => o.url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
                excerpt => text.chars().take(600).collect::<String>(),
            }
        });
        Ok(context! {
            head_seq => dir.store().head().seq,
            chart => equity_chart(&t),
            clones => t.clones.iter().map(ToString::to_string).collect::<Vec<_>>(),
            code,
            source,
            t,
        })
    }).await;
    match read {
        Ok(ctx) => c.render("strategy.html", ctx),
        Err(e) => not_found(&e.to_string()),
    }
}

async fn api_status(State(c): State<Arc<Console>>) -> Response {
    let window = c.settings.kpi_window_days;
    match c
        .read(|dir, state| {
            Ok(StatusReport::of_state(
                &c.root,
                state,
                dir.store().head(),
                window,
            ))
        })
        .await
    {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => failed(&e.to_string()),
    }
}

async fn api_trace(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&format!("{id:?} is not a strategy id"));
    };
    match c.read(|dir, state| trace(dir.store(), state, id)).await {
        Ok(t) => axum::Json(t).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

async fn review_queue(State(c): State<Arc<Console>>) -> Response {
    let read = c
        .read(|dir, state| {
            let rows: Vec<minijinja::Value> = super::review::waiting_rows(state, &c.stages)
                .into_iter()
                .map(|r| {
                    context! {
                        id => r.strategy_id.to_string(),
                        name => r.name,
                        before => r.before_stage.map_or("COLD (the validator's manual review)".to_string(), |s| s.as_str().to_uppercase()),
                        why => r.why,
                    }
                })
                .collect();
            Ok(context! {
                head_seq => dir.store().head().seq,
                rows,
                csrf => c.csrf.clone(),
            })
        })
        .await;
    match read {
        Ok(ctx) => c.render("review.html", ctx),
        Err(e) => failed(&e.to_string()),
    }
}

/// A person's decision, as the review form posts it.
#[derive(serde::Deserialize)]
struct ReviewForm {
    /// `approve` or `reject`.
    decision: String,
    /// Who decides.
    reviewer: String,
    /// The note (approval) or the reason (rejection).
    #[serde(default)]
    note: String,
    /// The console's CSRF token.
    #[serde(default)]
    csrf: String,
}

fn refused(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

async fn review_decide(
    State(c): State<Arc<Console>>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    if !same(form.csrf.as_bytes(), c.csrf.as_bytes()) {
        return refused(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong: reload the console's page and decide again",
        );
    }
    let Ok(strategy) = id.parse::<Uuid>() else {
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("{id:?} is not a strategy id"),
        );
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return refused(
                StatusCode::BAD_REQUEST,
                &format!("{other:?} is not a decision: approve or reject"),
            )
        }
    };
    if form.reviewer.trim().is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "a decision needs the reviewer's name",
        );
    }
    if !approve && form.note.trim().is_empty() {
        return refused(StatusCode::BAD_REQUEST, "a rejection needs its reason");
    }
    let decision = super::review::Decision {
        strategy,
        approve,
        text: form.note.trim().to_string(),
        reviewer: super::review::reviewer(Some(form.reviewer)),
    };
    let dir = c.dir.lock().await;
    let recorded = match dir.projections() {
        Ok(mut projected) => {
            super::review::record(&dir, &mut projected, &c.stages, &decision).await
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(line) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/review".to_string()),
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
            ],
            format!("{line}\n"),
        )
            .into_response(),
        Err(e) => refused(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// Server-sent events: `head` with the log's head sequence whenever it moves (looked at every
/// 250 ms), so an open page fetches itself again and shows what changed without a reload.
async fn events(State(c): State<Arc<Console>>) -> Response {
    let stream = futures_util::stream::unfold((c, None::<u64>), |(c, last)| async move {
        loop {
            if c.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            let head = c.dir.lock().await.store().head().seq;
            if last != Some(head) {
                let event = SseEvent::default().event("head").data(head.to_string());
                return Some((Ok::<_, std::convert::Infallible>(event), (c, Some(head))));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Serves the console on `listener` until `stop` resolves.
///
/// # Errors
/// The server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = console.clone();
    axum::serve(listener, router(console))
        .with_graceful_shutdown(async move {
            stop.await;
            // Open event streams end within a beat; then the connections close.
            stopping
                .stopping
                .store(true, std::sync::atomic::Ordering::Relaxed);
        })
        .await
}
