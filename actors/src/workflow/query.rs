//! Read-only questions to the data directory (`status`, `opportunities`): answered from the
//! read models, or from the summary the last catch-up wrote when it is of the log's head.

use std::path::Path;

use serde::Serialize;
use stratagem_events::projection::files::{read_summary, Summary, AUTONOMY_FILE};
use stratagem_events::projection::{OpportunityStatus, OpportunityView, ScoreView};
use stratagem_events::{EventStore, Head, Projections};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::{Context, Result, WorkflowError};

/// The state `status` shows.
#[derive(Debug, Clone)]
pub enum Status {
    /// The log, opened: the seed's counters and the sources' health, and the log's head.
    Open {
        /// Counters and health.
        summary: Summary,
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
        summary,
        head: dir.store().head(),
    })
}

/// Every opportunity status, in the funnel's order.
pub const OPPORTUNITY_STATUSES: [OpportunityStatus; 5] = [
    OpportunityStatus::Discovered,
    OpportunityStatus::Held,
    OpportunityStatus::Submitted,
    OpportunityStatus::Duplicate,
    OpportunityStatus::Generated,
];

/// A status's name, as `--status` takes it.
pub fn status_name(s: OpportunityStatus) -> &'static str {
    match s {
        OpportunityStatus::Discovered => "discovered",
        OpportunityStatus::Held => "held",
        OpportunityStatus::Submitted => "submitted",
        OpportunityStatus::Duplicate => "duplicate",
        OpportunityStatus::Generated => "generated",
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
#[derive(Debug, Clone, Serialize)]
pub struct OpportunityRow<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its source.
    pub source: &'a str,
    /// The source's own id.
    pub external_id: Option<&'a str>,
    /// Its title.
    pub title: &'a str,
    /// The strategy family read in it.
    pub family: Option<&'a str>,
    /// The template it names.
    pub template: Option<&'a str>,
    /// Where it comes from.
    pub url: Option<&'a str>,
    /// Where it stands.
    pub status: OpportunityStatus,
    /// The composite score.
    pub composite: Option<f64>,
    /// The five sub-scores with their reasons.
    pub scores: Option<&'a ScoreView>,
}

impl<'a> OpportunityRow<'a> {
    /// The row of an opportunity.
    pub fn of(o: &'a OpportunityView) -> OpportunityRow<'a> {
        OpportunityRow {
            id: o.id,
            source: &o.source,
            external_id: o.external_id.as_deref(),
            title: &o.title,
            family: o.family.as_deref(),
            template: o.template.as_deref(),
            url: o.url.as_deref(),
            status: o.status,
            composite: o.score.as_ref().map(|s| s.composite),
            scores: o.score.as_ref(),
        }
    }
}
