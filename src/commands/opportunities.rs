//! `stratagem opportunities`: the opportunities on record, ranked by composite score, each with
//! its five sub-scores and their reasons.

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::query::{
    parse_status, ranked_opportunities, status_name, OpportunityRow,
};

use super::print_json;

pub fn run(
    root: &Path,
    limit: usize,
    offset: usize,
    status: Option<&str>,
    all: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let wanted = status.map(parse_status).transpose()?;
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let views = ranked_opportunities(projections.state(), wanted, all);
    let total = views.len();
    let take = if all { usize::MAX } else { limit };
    let rows: Vec<OpportunityRow> = views
        .iter()
        .skip(offset)
        .take(take)
        .map(|o| OpportunityRow::of(o))
        .collect();
    if json {
        print_json(&crate::output::Page::new(rows, total, offset.min(total)))?;
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
        let next = offset + rows.len();
        say!(
            "({} of {total} shown, from {}; {}--limit N or --all for more)",
            rows.len(),
            offset + 1,
            if next < total {
                format!("--offset {next} for the next page, ")
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
