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
use stratagem_events::{Event, EventStore, Projections};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::error::{Result, WorkflowError};
use super::query::StatusReport;
mod strategy;

use super::read_api::Server as ReadApi;
use super::run::Funnel;
use super::trace::{summary_of, trace_with, SubjectIndex};

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

/// Where the pages' read models come from.
enum Backing {
    /// `stratagem console` over a data directory no process holds: the read models are
    /// brought up to the log's head at each request, and decisions are recorded here.
    Dir(tokio::sync::Mutex<DataDir>),
    /// Inside the daemon (`stratagem run`): the read models it publishes after each cycle,
    /// and the same answers as its read API under `/v1`. A decision is handed to the daemon,
    /// which records it at its next cycle (a cycle holds the log; a page never waits for it).
    Daemon(Arc<ReadApi>),
}

/// What the pages are rendered from.
pub struct Console {
    root: std::path::PathBuf,
    backing: Backing,
    /// The log, shared with whoever writes it (the chain status and the event browser read it).
    store: Arc<dyn EventStore>,
    env: Environment<'static>,
    settings: ConsoleSettings,
    /// Who waits for a person depends on the stages' settings.
    stages: crate::stages::runner::StageSettings,
    /// Set when the console stops: the event streams end, so open pages do not hold it up.
    stopping: std::sync::atomic::AtomicBool,
    /// The token every state-changing request must carry (a form's hidden field): 256 random
    /// bits drawn when the console starts, so a page of another site cannot forge a decision.
    csrf: String,
    /// The session cookie's value for a browser signed in with the token (256 random bits drawn
    /// at start: a restart signs everyone out).
    session: String,
    /// How far the hash chain is verified (verified again only from there on).
    chain: std::sync::Mutex<ChainSeen>,
    /// Which events are about which strategy or idea, and the recent alerts, up to where they
    /// were last brought.
    index: std::sync::Mutex<Followed>,
}

/// What the console keeps of the log as it grows: the subject index and the newest alerts.
#[derive(Default)]
struct Followed {
    index: SubjectIndex,
    /// Each kind's events, by sequence number.
    kinds: std::collections::HashMap<&'static str, Vec<u64>>,
    alerts: std::collections::VecDeque<Alert>,
}

impl Followed {
    /// The events the kind and subject filters let through, in the log's order; `None`: no
    /// such filter (every event is a candidate).
    fn candidates(&self, filter: &Filter) -> Option<Vec<u64>> {
        let by_kind = filter.kind.as_deref().map(|k| {
            let mut seqs: Vec<u64> = self
                .kinds
                .iter()
                .filter(|(kind, _)| **kind == k || (k.ends_with('.') && kind.starts_with(k)))
                .flat_map(|(_, seqs)| seqs.iter().copied())
                .collect();
            seqs.sort_unstable();
            seqs
        });
        let by_subject = filter.subject.map(|s| self.index.seqs(&[s]));
        match (by_kind, by_subject) {
            (Some(k), Some(s)) => {
                let wanted: std::collections::HashSet<u64> = s.into_iter().collect();
                Some(k.into_iter().filter(|seq| wanted.contains(seq)).collect())
            }
            (k, s) => k.or(s),
        }
    }
}

/// How many opportunities a page lists (the best by composite score).
const OPPORTUNITIES_SHOWN: usize = 500;

/// How many alerts the overview lists.
const ALERTS_KEPT: usize = 50;

/// What one request reads: the log, the read models and the head they are of.
struct Seen<'a> {
    store: &'a dyn EventStore,
    state: &'a Projections,
    head: stratagem_events::Head,
}

/// The chain as verified so far: the events verified in order, the hash of the last, and the
/// first break if one was found (the walk does not go past it).
#[derive(Debug, Clone, Serialize)]
struct ChainSeen {
    verified: u64,
    head_hash: String,
    #[serde(skip)]
    prev: stratagem_events::record::Hash,
    first_break: Option<(u64, String)>,
}

/// The pages' templates, in the binary.
const TEMPLATES: [(&str, &str); 7] = [
    (
        "audit.html",
        include_str!("../../../../templates/console/audit.html"),
    ),
    (
        "event.html",
        include_str!("../../../../templates/console/event.html"),
    ),
    (
        "review.html",
        include_str!("../../../../templates/console/review.html"),
    ),
    (
        "base.html",
        include_str!("../../../../templates/console/base.html"),
    ),
    (
        "overview.html",
        include_str!("../../../../templates/console/overview.html"),
    ),
    (
        "opportunities.html",
        include_str!("../../../../templates/console/opportunities.html"),
    ),
    (
        "strategy.html",
        include_str!("../../../../templates/console/strategy.html"),
    ),
];

/// Kinds of events the overview lists as alerts (and a source check that failed).
const ALERTS: [&str; 6] = [
    "stage.rolled_back",
    "strategy.retired",
    "stage.rejected",
    "risk.state_changed",
    "actor.gave_up",
    "notification.failed",
];

/// The alert an event raises, if it is one.
fn alert_of(rec: &stratagem_events::RecordedEvent, event: &Event) -> Option<Alert> {
    let kind = rec.kind.as_str();
    let alert = match event {
        Event::SourceChecked(e) => {
            matches!(e.outcome, stratagem_events::SourceOutcome::Failed { .. })
        }
        _ => ALERTS.contains(&kind),
    };
    alert.then(|| Alert {
        seq: rec.seq,
        at: rfc3339_micros(rec.recorded_at_micros),
        kind: kind.to_string(),
        summary: summary_of(event),
    })
}

impl Console {
    /// A console over the data directory `dir` (`stratagem console`).
    ///
    /// # Errors
    /// A template does not parse (a build defect); no randomness for the CSRF token.
    pub fn new(
        root: &std::path::Path,
        dir: DataDir,
        settings: ConsoleSettings,
        stages: crate::stages::runner::StageSettings,
    ) -> Result<Console> {
        let store = dir.shared_store();
        Console::with(
            root,
            Backing::Dir(tokio::sync::Mutex::new(dir)),
            store,
            settings,
            stages,
        )
    }

    /// The daemon's console: the pages over the read models it publishes, and its read API's
    /// JSON under `/v1` (one server for pages and JSON).
    ///
    /// # Errors
    /// As [`Console::new`]; the daemon's store is not open.
    pub fn in_daemon(api: Arc<ReadApi>, settings: ConsoleSettings) -> Result<Console> {
        let store = api
            .store
            .clone()
            .ok_or_else(|| WorkflowError::refused("the daemon's store is not open"))?;
        let (root, stages) = (api.root.clone(), api.stages);
        Console::with(&root, Backing::Daemon(api), store, settings, stages)
    }

    fn with(
        root: &std::path::Path,
        backing: Backing,
        store: Arc<dyn EventStore>,
        settings: ConsoleSettings,
        stages: crate::stages::runner::StageSettings,
    ) -> Result<Console> {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| WorkflowError::refused(format!("console template {name}: {e}")))?;
        }
        let (mut bits, mut session) = ([0u8; 32], [0u8; 32]);
        getrandom::fill(&mut bits)
            .and_then(|()| getrandom::fill(&mut session))
            .map_err(|e| {
                WorkflowError::refused(format!("no randomness for the console's CSRF token: {e}"))
            })?;
        Ok(Console {
            root: root.to_path_buf(),
            backing,
            store,
            env,
            settings,
            stages,
            stopping: std::sync::atomic::AtomicBool::new(false),
            csrf: stratagem_events::record::hex(&bits),
            session: stratagem_events::record::hex(&session),
            chain: std::sync::Mutex::new(ChainSeen {
                verified: 0,
                head_hash: stratagem_events::record::hex(&stratagem_events::record::GENESIS_HASH),
                prev: stratagem_events::record::GENESIS_HASH,
                first_break: None,
            }),
            index: std::sync::Mutex::new(Followed::default()),
        })
    }

    /// Runs `f` over the log and the read models: brought up to the log's head (over a data
    /// directory), or as the daemon last published them.
    async fn read<T>(&self, f: impl FnOnce(Seen<'_>) -> Result<T>) -> Result<T> {
        match &self.backing {
            Backing::Dir(dir) => {
                let dir = dir.lock().await;
                let projected = dir.projections()?;
                f(Seen {
                    store: dir.store(),
                    state: projected.state(),
                    head: dir.store().head(),
                })
            }
            Backing::Daemon(api) => {
                let view = api.view().ok_or_else(|| {
                    WorkflowError::Unavailable(
                        "the daemon has not read the log yet; this page shows it after its first cycle".into(),
                    )
                })?;
                f(Seen {
                    store: self.store.as_ref(),
                    state: &view.state,
                    head: view.head,
                })
            }
        }
    }

    /// The head the pages show (the daemon's: as of its last published cycle).
    async fn head(&self) -> u64 {
        match &self.backing {
            Backing::Dir(dir) => dir.lock().await.store().head().seq,
            Backing::Daemon(api) => api.view().map_or(0, |v| v.head.seq),
        }
    }

    /// The subject index and the alerts brought up to the log's head.
    fn followed(&self) -> Result<std::sync::MutexGuard<'_, Followed>> {
        let mut followed = self
            .index
            .lock()
            .map_err(|_| WorkflowError::refused("the console's index was poisoned"))?;
        let Followed {
            index,
            kinds,
            alerts,
        } = &mut *followed;
        index.bring_seeing(self.store.as_ref(), |rec, event| {
            kinds.entry(rec.kind.as_str()).or_default().push(rec.seq);
            if let Some(alert) = alert_of(rec, event) {
                if alerts.len() == ALERTS_KEPT {
                    alerts.pop_front();
                }
                alerts.push_back(alert);
            }
        })?;
        Ok(followed)
    }

    /// The chain verified up to the log's head (from where it was verified before).
    fn chain(&self) -> Result<ChainSeen> {
        let mut seen = self
            .chain
            .lock()
            .map_err(|_| WorkflowError::refused("the console's chain status was poisoned"))?;
        if seen.first_break.is_none() && self.store.head().seq > seen.verified {
            let report = stratagem_events::audit::verify_chain_from(
                self.store.as_ref(),
                seen.verified,
                seen.prev,
            )
            .map_err(|e| WorkflowError::refused(format!("cannot read the log: {e}")))?;
            *seen = ChainSeen {
                verified: report.verified,
                head_hash: report.head_hex(),
                prev: report.head_hash,
                first_break: report.first_break.map(|b| (b.seq, b.reason)),
            };
        }
        Ok(seen.clone())
    }

    /// Brings the read models, the chain status and the index up to the head (so the first
    /// page asking for them does not pay for the whole log). Blocking: call it off the runtime.
    pub fn warm(&self) -> Result<()> {
        if let Backing::Dir(dir) = &self.backing {
            // The read models: loaded from their snapshot once, then taken over per request.
            let dir = dir.blocking_lock();
            drop(dir.projections()?);
        }
        self.chain()?;
        self.followed().map(drop)
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
    let routes = match console.backing {
        // The daemon's read API, on the same server as the pages.
        Backing::Daemon(_) => Router::new().route("/v1/{*rest}", get(v1)),
        Backing::Dir(_) => Router::new(),
    };
    routes
        .route("/", get(overview))
        .route("/opportunities", get(opportunities))
        .route("/strategies/{id}", get(strategy))
        .route("/review", get(review_queue))
        .route("/review/{id}", post(review_decide))
        .route("/events", get(events))
        .route("/audit", get(audit))
        .route("/audit/events/{seq}", get(audit_event))
        .route("/audit/export.jsonl", get(audit_export))
        .route("/api/status", get(api_status))
        .route("/api/trace/{id}", get(api_trace))
        .route("/login", get(login_page).post(login))
        .layer(middleware::from_fn_with_state(guarded, authorised))
        .with_state(console)
}

/// The cookie a browser signed in with the token carries.
const SESSION_COOKIE: &str = "stratagem_console";

/// With a token set, a request must carry it (`Authorization: Bearer …`) or the session cookie
/// `/login` gives for it; a page asked for without either answers with the sign-in form.
async fn authorised(State(c): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let Some(token) = c.settings.token.as_deref().filter(|t| !t.is_empty()) else {
        return next.run(req).await;
    };
    if req.uri().path() == "/login" {
        return next.run(req).await;
    }
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.as_bytes(), token.as_bytes()));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == SESSION_COOKIE && same(v.as_bytes(), c.session.as_bytes()));
    if bearer || cookie {
        return next.run(req).await;
    }
    let wants_page = req.method() == axum::http::Method::GET
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        return (StatusCode::UNAUTHORIZED, login_form(None)).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this console needs its token (Authorization: Bearer …, or sign in at /login)\n",
    )
        .into_response()
}

/// The sign-in form (a page of its own: it shows nothing of the log).
fn login_form(why: Option<&str>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sign in · stratagem console</title></head>\
         <body style=\"font:14px system-ui;margin:48px\"><h1>stratagem console</h1>{}\
         <form method=\"post\" action=\"/login\"><label>token <input type=\"password\" name=\"token\" autofocus required></label> \
         <button>Sign in</button></form></body></html>",
        why.map_or(String::new(), |w| format!("<p style=\"color:#a1161e\">{w}</p>"))
    ))
}

async fn login_page() -> Html<String> {
    login_form(None)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Signs a browser in: the right token gives it the session cookie (HttpOnly, SameSite=Strict).
async fn login(State(c): State<Arc<Console>>, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = c.settings.token.as_deref().filter(|t| !t.is_empty()) else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    if !same(form.token.as_bytes(), token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            login_form(Some("that is not this console's token")),
        )
            .into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                    c.session
                ),
            ),
        ],
    )
        .into_response()
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

#[derive(Clone, Serialize)]
struct Alert {
    seq: u64,
    at: String,
    kind: String,
    summary: String,
}

async fn overview(State(c): State<Arc<Console>>) -> Response {
    let window = c.settings.kpi_window_days;
    let read = c.read(|seen| {
        let state = seen.state;
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
        let head = seen.head.seq;
        let alerts: Vec<Alert> = c.followed()?.alerts.iter().rev().filter(|a| a.seq <= head).cloned().collect();
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
    let wanted_status = match filter
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(super::query::parse_status)
        .transpose()
    {
        Ok(s) => s,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let read = c.read(|seen| {
        let state = seen.state;
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
        // Highest composite first (unscored last), ties in discovery order. Only the page's
        // rows are sorted: the best are selected in linear time first, so a log of hundreds of
        // thousands of ideas costs one pass, not a sort of them all.
        let rank = |a: &&stratagem_events::projection::OpportunityView,
                    b: &&stratagem_events::projection::OpportunityView| {
            let c = |o: &stratagem_events::projection::OpportunityView| {
                o.score.as_ref().map_or(-1.0, |s| s.composite)
            };
            c(b).total_cmp(&c(a))
                .then(a.discovered_seq.cmp(&b.discovered_seq))
        };
        let total = rows.len();
        if rows.len() > OPPORTUNITIES_SHOWN {
            rows.select_nth_unstable_by(OPPORTUNITIES_SHOWN - 1, rank);
            rows.truncate(OPPORTUNITIES_SHOWN);
        }
        rows.sort_by(rank);
        let rows: Vec<minijinja::Value> = rows
            .into_iter()
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
                    strategies => o.strategies.iter().filter_map(|id| state.strategies.get(id)).map(|s| context! { id => s.id.to_string(), name => s.name.clone() }).collect::<Vec<_>>(),
                    scores,
                    fit => o.fit.as_ref().map(|f| f.reason.clone()),
                    not_implemented => o.fit.as_ref().map(|f| f.fidelity.iter().filter(|n| !n.implemented).map(|n| n.note.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                }
            })
            .collect();
        let sources: Vec<String> = state.sources.keys().map(ToString::to_string).collect();
        let statuses: Vec<&str> = super::query::OPPORTUNITY_STATUSES
            .into_iter()
            .map(super::query::status_name)
            .collect();
        Ok(context! {
            head_seq => seen.head.seq,
            total,
            shown => rows.len(),
            rows,
            sources,
            statuses,
            source => filter.source.clone().unwrap_or_default(),
            status => filter.status.clone().unwrap_or_default(),
        })
    }).await;
    match read {
        Ok(ctx) => c.render("opportunities.html", ctx),
        Err(e) => failed(&e.to_string()),
    }
}

async fn strategy(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&format!("{id:?} is not a strategy id"));
    };
    let read = c.read(|seen| {
        let state = seen.state;
        let t = trace_with(seen.store, state, id, Some(&c.followed()?.index))?;
        let code = t
            .steps
            .iter()
            .find(|s| s.kind == "strategy.generated")
            .and_then(|s| s.data["source_code"].as_str());
        let code_lines = code.map_or(0, |c| c.lines().count());
        let code = code.map(strategy::highlight);
        let opportunity = state.opportunities.get(&t.opportunity_id);
        let source = opportunity.map(|o| {
            let text = o.hypothesis.shown();
            context! {
                title => o.title.shown().into_owned(),
                source => o.source.clone(),
                url => o.url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
                excerpt => text.chars().take(600).collect::<String>(),
            }
        });
        let scores: Vec<minijinja::Value> = opportunity
            .and_then(|o| o.score.as_ref())
            .map(|s| {
                [
                    ("novelty", "25 %", &s.novelty),
                    ("market fit", "25 %", &s.market_fit),
                    ("complexity", "15 %", &s.complexity),
                    ("capital efficiency", "15 %", &s.capital_efficiency),
                    ("risk", "20 %", &s.risk),
                ]
                .into_iter()
                .map(|(name, weight, sub)| {
                    context! { name, weight, value => format!("{:.2}", sub.value), reason => sub.reason.clone() }
                })
                .collect()
            })
            .unwrap_or_default();
        let composite = opportunity
            .and_then(|o| o.score.as_ref())
            .map(|s| format!("{:.3}", s.composite));
        let stated = opportunity.and_then(|o| {
            let needs = o.needs.as_ref()?;
            let made = state.strategies.get(&id);
            let notes = crate::generator::templates::fidelity_of_strategy(
                needs,
                o.fit.as_ref(),
                made.and_then(|s| s.template.as_deref()),
                made.is_some_and(|s| s.mode != stratagem_events::GenerationMode::Template),
            );
            let notes: Vec<minijinja::Value> = notes
                .iter()
                .map(|n| context! { rule => n.rule.clone(), implemented => n.implemented, note => n.note.clone() })
                .collect();
            Some(context! {
                needs => crate::generator::templates::needs_words(needs),
                fit => o.fit.as_ref().map(|f| f.reason.clone()),
                read_by => o.read_by.clone(),
                notes,
            })
        });
        // The clones' ideas, each with the strategies made from it.
        let clones: Vec<minijinja::Value> = t
            .clones
            .iter()
            .map(|idea| {
                let made: Vec<minijinja::Value> = state
                    .opportunities
                    .get(idea)
                    .into_iter()
                    .flat_map(|o| o.strategies.iter())
                    .filter_map(|id| state.strategies.get(id))
                    .map(|s| context! { id => s.id.to_string(), name => s.name.clone(), status => s.status.as_str() })
                    .collect();
                context! { idea => idea.to_string(), made }
            })
            .collect();
        Ok(context! {
            head_seq => seen.head.seq,
            chart => strategy::monitor_chart(&t),
            runs => strategy::runs(&t),
            layers => strategy::layers(&t),
            generation => strategy::generation(&t),
            scores,
            composite,
            stated,
            clones,
            code,
            code_lines,
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
        .read(|seen| {
            Ok(StatusReport::of_state(
                &c.root, seen.state, seen.head, window,
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
    match c
        .read(|seen| trace_with(seen.store, seen.state, id, Some(&c.followed()?.index)))
        .await
    {
        Ok(t) => axum::Json(t).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

async fn review_queue(State(c): State<Arc<Console>>) -> Response {
    let read = c
        .read(|seen| {
            let rows: Vec<minijinja::Value> = super::review::waiting_rows(seen.state, &c.stages)
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
                head_seq => seen.head.seq,
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
    let recorded = match &c.backing {
        Backing::Dir(dir) => {
            let dir = dir.lock().await;
            match dir.projections() {
                Ok(mut projected) => {
                    super::review::record(&dir, &mut projected, &c.stages, &decision).await
                }
                Err(e) => Err(e),
            }
        }
        // The daemon records it at its next cycle; what can be refused now is refused now.
        Backing::Daemon(api) => match api.view() {
            None => Err(WorkflowError::Unavailable(
                "the daemon has not read the log yet; decide again in a moment".into(),
            )),
            Some(view) => match view.state.strategies.get(&strategy) {
                None => Err(super::review::Refused::Unknown(strategy).into()),
                Some(s) if super::review::waits_for(s, &c.stages).is_none() => {
                    Err(super::review::Refused::NotWaiting(strategy).into())
                }
                Some(_) => super::review::hand_over(&c.root, &decision).map(|file| {
                    format!(
                        "handed to the daemon ({}): recorded at its next cycle",
                        file.display()
                    )
                }),
            },
        },
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

/// The daemon's read API (`/v1/…`), answered as on its socket.
async fn v1(State(c): State<Arc<Console>>, uri: axum::http::Uri) -> Response {
    let Backing::Daemon(api) = &c.backing else {
        return not_found("no read API here: it is the daemon's");
    };
    let (api, target) = (api.clone(), uri.to_string());
    let (status, body) = tokio::task::spawn_blocking(move || api.answer(&target))
        .await
        .unwrap_or_else(|e| {
            (
                500,
                super::read_api::error_body(&format!("the read failed: {e}")),
            )
        });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The event browser's filters (each optional).
#[derive(Debug, Default, serde::Deserialize)]
struct EventFilter {
    /// A kind (`stage.promoted`) or a kind's family (`stage.`).
    #[serde(default)]
    kind: String,
    /// A strategy's or an idea's id: the events that name it.
    #[serde(default)]
    strategy: String,
    /// Recorded at or after (RFC 3339, or a date).
    #[serde(default)]
    from: String,
    /// Recorded before (RFC 3339, or a date: to the end of that day).
    #[serde(default)]
    to: String,
    /// Only events before this sequence number (the next page).
    #[serde(default)]
    before: Option<u64>,
}

/// The filters, checked.
struct Filter {
    kind: Option<String>,
    subject: Option<Uuid>,
    from_micros: Option<i64>,
    to_micros: Option<i64>,
}

impl EventFilter {
    fn checked(&self) -> std::result::Result<Filter, String> {
        let time = |name: &str,
                    text: &str,
                    end_of_day: bool|
         -> std::result::Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let secs = crate::market::parse_timestamp(text).ok_or_else(|| {
                format!("{name}={text:?} is not a time (2026-12-03 or 2026-12-03T10:00:00Z)")
            })?;
            let day = if end_of_day && text.len() == 10 {
                86_400
            } else {
                0
            };
            Ok(Some((secs + day) * 1_000_000))
        };
        let strategy = self.strategy.trim();
        Ok(Filter {
            kind: Some(self.kind.trim().to_string()).filter(|k| !k.is_empty()),
            subject: if strategy.is_empty() {
                None
            } else {
                Some(strategy.parse().map_err(|_| {
                    format!("strategy={strategy:?} is not a strategy's or an idea's id (a UUID)")
                })?)
            },
            from_micros: time("from", &self.from, false)?,
            to_micros: time("to", &self.to, true)?,
        })
    }
}

impl Filter {
    /// Whether the record passes the kind and time filters (the subject is chosen before).
    fn passes(&self, rec: &stratagem_events::RecordedEvent) -> bool {
        let kind = rec.kind.as_str();
        self.kind
            .as_deref()
            .is_none_or(|k| kind == k || (k.ends_with('.') && kind.starts_with(k)))
            && self.from_micros.is_none_or(|f| rec.recorded_at_micros >= f)
            && self.to_micros.is_none_or(|t| rec.recorded_at_micros < t)
    }
}

/// A row of the event browser.
#[derive(Serialize)]
struct EventRow {
    seq: u64,
    at: String,
    kind: String,
    summary: String,
    hash: String,
}

/// Events a page of the browser lists.
const EVENTS_PER_PAGE: usize = 100;

/// Events a page looks through before it stops and offers the next page (a filter that
/// matches rarely does not make one request walk the whole log).
const EVENTS_SCANNED: u64 = 50_000;

/// Walks the log back from `before` (exclusive) for events passing `filter`, newest first:
/// the rows, and where the walk stopped if there is more to see.
fn browse(
    store: &dyn EventStore,
    followed: &Followed,
    filter: &Filter,
    before: u64,
) -> Result<(Vec<EventRow>, Option<u64>)> {
    let unreadable = |e: stratagem_events::StoreError| {
        WorkflowError::refused(format!("cannot read the log: {e}"))
    };
    let row = |rec: &stratagem_events::RecordedEvent| EventRow {
        seq: rec.seq,
        at: rfc3339_micros(rec.recorded_at_micros),
        kind: rec.kind.as_str().to_string(),
        summary: rec
            .event()
            .map_or_else(|e| format!("unreadable: {e}"), |e| summary_of(&e)),
        hash: stratagem_events::record::hex(&rec.hash)[..16].to_string(),
    };
    let mut rows = Vec::new();
    if let Some(seqs) = followed.candidates(filter) {
        let mut older = seqs.iter().rev().filter(|s| **s < before);
        for seq in older.by_ref() {
            let Some(rec) = store.read(*seq, 1).map_err(unreadable)?.pop() else {
                continue;
            };
            if filter.passes(&rec) {
                rows.push(row(&rec));
                if rows.len() == EVENTS_PER_PAGE {
                    break;
                }
            }
        }
        let more = older.next().map(|_| rows.last().map_or(before, |r| r.seq));
        return Ok((rows, more));
    }
    let mut next = before;
    let stop = before.saturating_sub(EVENTS_SCANNED).max(1);
    while next > stop && rows.len() < EVENTS_PER_PAGE {
        let from = next.saturating_sub(1024).max(stop);
        let chunk = store
            .read(from, (next - from) as usize)
            .map_err(unreadable)?;
        for rec in chunk.iter().rev() {
            next = rec.seq;
            if filter.passes(rec) {
                rows.push(row(rec));
                if rows.len() == EVENTS_PER_PAGE {
                    break;
                }
            }
        }
        if chunk.is_empty() {
            next = from;
        }
    }
    Ok((rows, (next > 1).then_some(next)))
}

async fn audit(State(c): State<Arc<Console>>, Query(q): Query<EventFilter>) -> Response {
    let filter = match q.checked() {
        Ok(f) => f,
        Err(why) => return refused(StatusCode::BAD_REQUEST, &why),
    };
    let read = c
        .read(|seen| {
            let chain = c.chain()?;
            let followed = c.followed()?;
            let head = seen.head.seq.max(followed.index.through());
            let before = q.before.unwrap_or(head + 1).min(head + 1);
            let (rows, more) = browse(seen.store, &followed, &filter, before)?;
            let query = |extra: Option<u64>| {
                let mut parts: Vec<String> = [
                    ("kind", &q.kind),
                    ("strategy", &q.strategy),
                    ("from", &q.from),
                    ("to", &q.to),
                ]
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| format!("{k}={}", encode(v.trim())))
                .collect();
                if let Some(b) = extra {
                    parts.push(format!("before={b}"));
                }
                parts.join("&")
            };
            let mut kinds: Vec<&str> = stratagem_events::EventKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            kinds.sort_unstable();
            Ok(context! {
                head_seq => seen.head.seq,
                chain,
                rows,
                kinds,
                kind => q.kind.clone(),
                strategy => q.strategy.clone(),
                from => q.from.clone(),
                to => q.to.clone(),
                older => more.map(|b| query(Some(b))),
                export => query(None),
            })
        })
        .await;
    match read {
        Ok(ctx) => c.render("audit.html", ctx),
        Err(e) => failed(&e.to_string()),
    }
}

/// Percent-encoding of a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn audit_event(State(c): State<Arc<Console>>, UrlPath(seq): UrlPath<String>) -> Response {
    let Ok(seq) = seq.parse::<u64>() else {
        return not_found(&format!("{seq:?} is not a sequence number"));
    };
    let read = c
        .read(|seen| {
            let rec = seen
                .store
                .read(seq, 1)
                .map_err(|e| WorkflowError::refused(format!("cannot read the log: {e}")))?
                .pop()
                .filter(|r| r.seq == seq)
                .ok_or_else(|| WorkflowError::refused(format!("no event #{seq} in the log")))?;
            let event = rec
                .event()
                .map_err(|e| WorkflowError::refused(format!("event #{seq} is unreadable: {e}")))?;
            let data = serde_json::to_string_pretty(&event).unwrap_or_default();
            Ok(context! {
                head_seq => seen.head.seq,
                seq,
                id => rec.id.to_string(),
                at => rfc3339_micros(rec.recorded_at_micros),
                kind => rec.kind.as_str(),
                schema_version => rec.schema_version,
                prev_hash => stratagem_events::record::hex(&rec.prev_hash),
                hash => stratagem_events::record::hex(&rec.hash),
                summary => summary_of(&event),
                data,
            })
        })
        .await;
    match read {
        Ok(ctx) => c.render("event.html", ctx),
        Err(e) => not_found(&e.to_string()),
    }
}

/// The log's events passing the filters, oldest first, one JSON line each as the audit files
/// write them (streamed: a log of any length is exported in constant memory).
async fn audit_export(State(c): State<Arc<Console>>, Query(q): Query<EventFilter>) -> Response {
    let filter = match q.checked() {
        Ok(f) => f,
        Err(why) => return refused(StatusCode::BAD_REQUEST, &why),
    };
    let seqs = match c.followed() {
        Ok(f) => f.candidates(&filter),
        Err(e) => return failed(&e.to_string()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<String, std::io::Error>>(16);
    let store = c.store.clone();
    tokio::task::spawn_blocking(move || {
        let send =
            |line: std::result::Result<String, std::io::Error>| tx.blocking_send(line).is_ok();
        let line = |rec: &stratagem_events::RecordedEvent| match rec.event() {
            Ok(event) => Ok(stratagem_events::projection::event_line(rec, &event)),
            Err(e) => Err(std::io::Error::other(format!(
                "event #{} is unreadable: {e}",
                rec.seq
            ))),
        };
        match seqs {
            Some(seqs) => {
                for seq in seqs {
                    match store.read(seq, 1) {
                        Ok(found) => {
                            for rec in found.iter().filter(|r| filter.passes(r)) {
                                if !send(line(rec)) {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            let _ = send(Err(std::io::Error::other(e.to_string())));
                            return;
                        }
                    }
                }
            }
            None => {
                let mut buffer = String::new();
                for rec in iter_from(store.as_ref(), 1) {
                    match rec {
                        Ok(rec) if filter.passes(&rec) => match line(&rec) {
                            Ok(l) => buffer.push_str(&l),
                            Err(e) => {
                                let _ = send(Err(e));
                                return;
                            }
                        },
                        Ok(_) => {}
                        Err(e) => {
                            let _ = send(Err(std::io::Error::other(e.to_string())));
                            return;
                        }
                    }
                    if buffer.len() >= 64 * 1024 && !send(Ok(std::mem::take(&mut buffer))) {
                        return;
                    }
                }
                if !buffer.is_empty() {
                    let _ = send(Ok(buffer));
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"stratagem-events.jsonl\"",
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Server-sent events: `head` with the log's head sequence whenever it moves (looked at every
/// 250 ms), so an open page fetches itself again and shows what changed without a reload.
async fn events(State(c): State<Arc<Console>>) -> Response {
    let stream = futures_util::stream::unfold((c, None::<u64>), |(c, last)| async move {
        loop {
            if c.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            let head = c.head().await;
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
