//! `stratagem opportunities`: the opportunities on record, ranked by composite score, each with
//! its five sub-scores and their reasons.

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::query::{
    opportunity_page, parse_status, status_name, OpportunityQuery,
};
use stratagem_actors::workflow::read_api;

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
    let query = OpportunityQuery {
        limit,
        offset,
        status: wanted,
        all,
    };
    let page = match DataDir::open(root) {
        Ok(dir) => opportunity_page(dir.projections()?.state(), &query),
        // The daemon holds the log: it answers from its read models.
        Err(e) if e.is_locked() && read_api::running(root) => {
            let mut path = format!(
                "/v1/opportunities?limit={limit}&offset={offset}&all={}",
                u8::from(all)
            );
            if let Some(s) = wanted {
                path.push_str(&format!("&status={}", status_name(s)));
            }
            serde_json::from_value(read_api::block_on_ask(root, &path)?)?
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (rows, total) = (&page.items, page.total);
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
    for r in rows {
        let composite = r
            .composite
            .map_or("  -  ".to_string(), |c| format!("{c:.3}"));
        let title: String = r.title.chars().take(90).collect();
        say!(
            "{composite}  {:<10} {:<9} {:<22} {title}",
            status_name(r.status),
            r.source,
            r.family.as_deref().unwrap_or("-")
        );
        say!(
            "       id {}  external {}",
            r.id,
            r.external_id.as_deref().unwrap_or("-")
        );
        if let Some(s) = &r.scores {
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
        if let Some(n) = &r.needs {
            say!(
                "       needs       {}",
                stratagem_actors::generator::templates::needs_words(n)
            );
        }
        if let Some(f) = &r.fit {
            say!("       fit         {}", f.reason);
            for note in &f.fidelity {
                say!(
                    "         {} {}",
                    if note.implemented {
                        "[implemented]    "
                    } else {
                        "[NOT implemented]"
                    },
                    note.note
                );
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
