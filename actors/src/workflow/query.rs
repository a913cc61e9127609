//! Read-only questions to the data directory (`status`, `opportunities`): answered from the
//! read models, or from the summary the last catch-up wrote when it is of the log's head.

use std::path::Path;

use serde::Serialize;
use stratagem_events::projection::files::{read_summary, Summary, AUTONOMY_FILE};
use stratagem_events::projection::{OpportunityStatus, OpportunityView, ScoreView};
use stratagem_events::{Head, Projections};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::{Context, Result, WorkflowError};

/// The state `status` shows.
#[derive(Debug, Clone)]
pub enum Status {
    /// The log, opened: the seed's counters and the sources' health, and the log's head.
    Open {
        /// Counters and health.
        summary: Box<Summary>,
        /// The log's head.
        head: Head,
    },
    /// Another process (the daemon) holds the log: the state it keeps current in
    /// `autonomy_state.json`.
    HeldElsewhere(serde_json::Value),
}

/// The state of the data directory: the summary written at the last catch-up when it is of the
/// log's head, else the projections, opened (repaired, caught up) as every command does.
///
/// # Errors
/// The log cannot be opened (and no holder's `autonomy_state.json` can be read).
pub fn status(root: &Path) -> Result<Status> {
    let dir = match DataDir::open(root) {
        Ok(dir) => dir,
        Err(e) if e.is_locked() => {
            let path = root.join(AUTONOMY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                WorkflowError::io(
                    format!(
                        "another process holds {} and {} cannot be read",
                        root.display(),
                        path.display()
                    ),
                    e,
                )
            })?;
            return serde_json::from_str(&text)
                .map(Status::HeldElsewhere)
                .map_err(|e| {
                    WorkflowError::refused(format!("{} is not valid JSON: {e}", path.display()))
                });
        }
        // A directory that cannot be written is read from a copy of its log.
        Err(e) if e.is_read_only() => DataDir::open_read_only(root)?,
        Err(e) => return Err(e),
    };
    let summary = match read_summary(root, dir.store()) {
        Some(s) => s,
        None => {
            let summary = |state: &stratagem_events::Projections| Summary {
                seq: state.last_seq,
                hash: String::new(),
                autonomy: state.autonomy.clone(),
                sources: state.sources.clone(),
                notifications_waiting: state.outbox.len() as u64,
                risk: state.risk.clone(),
                venue: stratagem_events::projection::files::VenueSummary::of(&state.venue),
                kpis: state.kpis.clone(),
            };
            if dir.is_read_only() {
                // Replayed in memory: the projection files are not written.
                summary(
                    &stratagem_events::Projections::replay(dir.store())
                        .context("cannot replay the log")?,
                )
            } else {
                summary(dir.projections()?.state())
            }
        }
    };
    Ok(Status::Open {
        summary: Box::new(summary),
        head: dir.store().head(),
    })
}

/// Every opportunity status, in the funnel's order.
pub const OPPORTUNITY_STATUSES: [OpportunityStatus; 6] = [
    OpportunityStatus::Discovered,
    OpportunityStatus::Held,
    OpportunityStatus::Submitted,
    OpportunityStatus::Duplicate,
    OpportunityStatus::Generated,
    OpportunityStatus::Rejected,
];

/// A status's name, as `--status` takes it.
pub fn status_name(s: OpportunityStatus) -> &'static str {
    match s {
        OpportunityStatus::Discovered => "discovered",
        OpportunityStatus::Held => "held",
        OpportunityStatus::Submitted => "submitted",
        OpportunityStatus::Duplicate => "duplicate",
        OpportunityStatus::Generated => "generated",
        OpportunityStatus::Rejected => "rejected",
    }
}

/// The status named `name`.
///
/// # Errors
/// An unknown name, with the known ones.
pub fn parse_status(name: &str) -> Result<OpportunityStatus> {
    match OPPORTUNITY_STATUSES
        .into_iter()
        .find(|x| status_name(*x) == name.trim())
    {
        Some(x) => Ok(x),
        None => super::error::usage!(
            "unknown status {name:?}: one of {}",
            OPPORTUNITY_STATUSES.map(status_name).join(", ")
        ),
    }
}

/// The opportunities with status `wanted` (else all but duplicates, unless `all`), highest
/// composite score first, unscored last, ties in discovery order.
pub fn ranked_opportunities(
    state: &Projections,
    wanted: Option<OpportunityStatus>,
    all: bool,
) -> Vec<&OpportunityView> {
    let mut views: Vec<&OpportunityView> = state
        .opportunities
        .values()
        .filter(|o| match wanted {
            Some(w) => o.status == w,
            None => all || o.status != OpportunityStatus::Duplicate,
        })
        .collect();
    views.sort_by(|a, b| {
        let key = |o: &OpportunityView| o.score.as_ref().map_or(-1.0, |s| s.composite);
        key(b)
            .total_cmp(&key(a))
            .then(a.discovered_seq.cmp(&b.discovered_seq))
    });
    views
}

/// An opportunity as `opportunities` lists it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OpportunityRow {
    /// Its id.
    pub id: Uuid,
    /// Its source.
    pub source: String,
    /// The source's own id.
    pub external_id: Option<String>,
    /// Its title.
    pub title: String,
    /// The strategy family read in it.
    pub family: Option<String>,
    /// The template it names.
    pub template: Option<String>,
    /// Where it comes from.
    pub url: Option<String>,
    /// Where it stands.
    pub status: OpportunityStatus,
    /// The composite score.
    pub composite: Option<f64>,
    /// The five sub-scores with their reasons.
    pub scores: Option<ScoreView>,
    /// What it needs to be tested as stated, when it was read (`opportunity.read`).
    #[serde(default)]
    pub needs: Option<stratagem_events::IdeaNeeds>,
    /// The template-fit decision over those needs, with the fidelity notes: which of its
    /// stated rules the strategy implements and which it does not.
    #[serde(default)]
    pub fit: Option<stratagem_events::IdeaFit>,
    /// Who read it: `rules` or `model`.
    #[serde(default)]
    pub read_by: Option<String>,
}

impl OpportunityRow {
    /// The row of an opportunity.
    pub fn of(o: &OpportunityView) -> OpportunityRow {
        OpportunityRow {
            id: o.id,
            source: o.source.clone(),
            external_id: o.external_id.clone(),
            title: o.title.to_string(),
            family: o
                .family
                .clone()
                .or_else(|| o.needs.as_ref().map(|n| n.family.clone())),
            template: o
                .template
                .clone()
                .or_else(|| o.fit.as_ref().and_then(|f| f.template.clone())),
            url: o.url.clone(),
            status: o.status,
            composite: o.score.as_ref().map(|s| s.composite),
            scores: o.score.clone(),
            needs: o.needs.clone(),
            fit: o.fit.clone(),
            read_by: o.read_by.clone(),
        }
    }
}

/// A list under `--json`: the items shown, how many there are in all, and the `--offset` of
/// the next page (`null` on the last).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in all.
    pub total: usize,
    /// Where this page starts.
    pub offset: usize,
    /// `--offset` of the next page, if there is one.
    pub next: Option<usize>,
}

impl<T> Page<T> {
    /// `items` (already cut to the page) starting at `offset` of `total`.
    pub fn new(items: Vec<T>, total: usize, offset: usize) -> Page<T> {
        let end = offset + items.len();
        Page {
            next: (end < total).then_some(end),
            items,
            total,
            offset,
        }
    }

    /// A whole list, on one page.
    pub fn all(items: Vec<T>) -> Page<T> {
        let total = items.len();
        Page::new(items, total, 0)
    }
}

/// What `opportunities` asks for.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct OpportunityQuery {
    /// Rows a page.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
    /// Only this status.
    pub status: Option<OpportunityStatus>,
    /// Duplicates too, and no limit.
    pub all: bool,
}

/// A page of the ranked opportunities.
pub fn opportunity_page(state: &Projections, q: &OpportunityQuery) -> Page<OpportunityRow> {
    let views = ranked_opportunities(state, q.status, q.all);
    let total = views.len();
    let take = if q.all { usize::MAX } else { q.limit };
    let rows = views
        .iter()
        .skip(q.offset)
        .take(take)
        .map(|o| OpportunityRow::of(o))
        .collect();
    Page::new(rows, total, q.offset.min(total))
}

/// A source's health as `status` shows it, times in RFC 3339.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SourceReport {
    /// Checks recorded.
    pub checks: u64,
    /// Checks that failed.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// When it was last checked.
    pub last_checked_at: String,
    /// When a check last succeeded.
    pub last_success_at: Option<String>,
    /// `ok`, `not_modified` or `failed`.
    pub last_outcome: String,
    /// The last failure's message, while failing.
    pub last_error: Option<String>,
    /// Items fetched by the last check.
    pub fetched: u64,
    /// New items of the last check.
    pub new_items: u64,
}

/// The log's size and head, as `status` shows them.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LogReport {
    /// Events on the log.
    pub events: u64,
    /// The head's hash, hex.
    pub head_hash: String,
    /// The data directory.
    pub data_dir: String,
}

/// What `status` shows.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StatusReport {
    /// The seed's counters.
    #[serde(flatten)]
    pub autonomy: stratagem_events::AutonomyState,
    /// The log.
    pub log: LogReport,
    /// Each source's health.
    pub sources: std::collections::BTreeMap<String, SourceReport>,
    /// Messages in the outbox, not delivered yet.
    pub notifications_waiting: u64,
    /// The account's risk state: `active`, `reduce_only` or `halted`, with why, who and since
    /// when (RFC 3339; absent when it never changed).
    pub risk: RiskReport,
    /// The execution venue: orders sent, waiting for an answer, balances at the last
    /// reconciliation (none on the paper venue).
    #[serde(default)]
    pub venue: stratagem_events::projection::files::VenueSummary,
    /// The seed's success criteria over the rolling window (`KPI_WINDOW_DAYS`).
    pub kpis: stratagem_events::projection::kpi::KpiReport,
}

/// Now, µs since the epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The account's risk state, as `status` reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RiskReport {
    /// `active`, `reduce_only`, `halted`.
    pub state: stratagem_events::RiskState,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// Since when.
    pub since: Option<String>,
    /// In words.
    pub line: String,
}

impl StatusReport {
    /// From the summary of the read models and the log's head.
    /// The criteria are judged over the `window_days` up to now.
    pub fn of(root: &Path, summary: &Summary, head: Head, window_days: u32) -> StatusReport {
        use stratagem_events::projection::rfc3339_micros;
        StatusReport {
            autonomy: summary.autonomy.clone(),
            log: LogReport {
                events: head.seq,
                head_hash: stratagem_events::record::hex(&head.hash),
                data_dir: root.display().to_string(),
            },
            sources: summary
                .sources
                .iter()
                .map(|(name, h)| {
                    (
                        name.clone(),
                        SourceReport {
                            checks: h.checks,
                            failures: h.failures,
                            consecutive_failures: h.consecutive_failures,
                            last_checked_at: rfc3339_micros(h.last_checked_micros),
                            last_success_at: h.last_success_micros.map(rfc3339_micros),
                            last_outcome: h.last_outcome.clone(),
                            last_error: h.last_error.clone(),
                            fetched: h.fetched,
                            new_items: h.new_items,
                        },
                    )
                })
                .collect(),
            notifications_waiting: summary.notifications_waiting,
            risk: RiskReport {
                state: summary.risk.state,
                reason: summary.risk.reason.clone(),
                by: summary.risk.by.clone(),
                since: (summary.risk.since_micros != 0)
                    .then(|| rfc3339_micros(summary.risk.since_micros)),
                line: super::risk::line_of(&summary.risk),
            },
            venue: summary.venue.clone(),
            kpis: summary.kpis.report_to_newest(window_days, now_micros()),
        }
    }

    /// From the read models themselves.
    pub fn of_state(
        root: &Path,
        state: &Projections,
        head: Head,
        window_days: u32,
    ) -> StatusReport {
        StatusReport::of(
            root,
            &Summary {
                seq: state.last_seq,
                hash: String::new(),
                autonomy: state.autonomy.clone(),
                sources: state.sources.clone(),
                notifications_waiting: state.outbox.len() as u64,
                risk: state.risk.clone(),
                venue: stratagem_events::projection::files::VenueSummary::of(&state.venue),
                kpis: state.kpis.clone(),
            },
            head,
            window_days,
        )
    }
}
