//! `stratagem opportunities`: the opportunities on record, ranked by composite score, each with
//! its five sub-scores and their reasons.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::query::{parse_status, ranked_opportunities, status_name};
use stratagem_events::projection::{OpportunityStatus, ScoreView};
use uuid::Uuid;

use super::print_json;

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

pub fn run(
    root: &Path,
    limit: usize,
    status: Option<&str>,
    all: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let wanted = status.map(parse_status).transpose()?;
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let mut views = ranked_opportunities(projections.state(), wanted, all);
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
