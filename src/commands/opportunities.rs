//! `stratagem opportunities`: the opportunities on record, ranked by composite score, each with
//! its five sub-scores and their reasons.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_events::projection::{OpportunityStatus, OpportunityView, ScoreView};
use uuid::Uuid;

use super::print_json;
use stratagem_actors::workflow::data_dir::DataDir;

#[derive(Serialize)]
struct Row<'a> {
    id: Uuid,
    source: &'a str,
    external_id: Option<&'a str>,
    title: &'a str,
    family: Option<&'a str>,
    template: Option<&'a str>,
    url: Option<&'a str>,
    status: OpportunityStatus,
    composite: Option<f64>,
    scores: Option<&'a ScoreView>,
}

fn status_name(s: OpportunityStatus) -> &'static str {
    match s {
        OpportunityStatus::Discovered => "discovered",
        OpportunityStatus::Held => "held",
        OpportunityStatus::Submitted => "submitted",
        OpportunityStatus::Duplicate => "duplicate",
        OpportunityStatus::Generated => "generated",
    }
}

pub fn run(
    root: &Path,
    limit: usize,
    status: Option<&str>,
    all: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    const STATUSES: [OpportunityStatus; 5] = [
        OpportunityStatus::Discovered,
        OpportunityStatus::Held,
        OpportunityStatus::Submitted,
        OpportunityStatus::Duplicate,
        OpportunityStatus::Generated,
    ];
    let wanted = match status {
        None => None,
        Some(s) => match STATUSES.into_iter().find(|x| status_name(*x) == s.trim()) {
            Some(x) => Some(x),
            None => bail!(
                "unknown status {s:?}: one of {}",
                STATUSES.map(status_name).join(", ")
            ),
        },
    };
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let mut views: Vec<&OpportunityView> = projections
        .state()
        .opportunities
        .values()
        .filter(|o| match wanted {
            Some(w) => o.status == w,
            // Duplicates are hidden unless asked for.
            None => all || o.status != OpportunityStatus::Duplicate,
        })
        .collect();
    // Highest composite first; unscored last; ties by discovery order.
    views.sort_by(|a, b| {
        let key = |o: &OpportunityView| o.score.as_ref().map_or(-1.0, |s| s.composite);
        key(b)
            .total_cmp(&key(a))
            .then(a.discovered_seq.cmp(&b.discovered_seq))
    });
    let total = views.len();
    if !all {
        views.truncate(limit);
    }
    let rows: Vec<Row> = views
        .iter()
        .map(|o| Row {
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
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        say!(
            "no opportunities{}",
            if wanted.is_some() {
                " with that status"
            } else {
                ""
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        let composite = r
            .composite
            .map_or("  -  ".to_string(), |c| format!("{c:.3}"));
        let title: String = r.title.chars().take(90).collect();
        say!(
            "{composite}  {:<10} {:<9} {:<22} {title}",
            status_name(r.status),
            r.source,
            r.family.unwrap_or("-")
        );
        say!(
            "       id {}  external {}",
            r.id,
            r.external_id.unwrap_or("-")
        );
        if let Some(s) = r.scores {
            for (name, sub) in [
                ("novelty", &s.novelty),
                ("market fit", &s.market_fit),
                ("complexity", &s.complexity),
                ("capital", &s.capital_efficiency),
                ("risk", &s.risk),
            ] {
                say!("       {name:<11} {:.2}  {}", sub.value, sub.reason);
            }
        }
    }
    if rows.len() < total {
        say!(
            "({} of {total} shown; --limit N or --all for more)",
            rows.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
