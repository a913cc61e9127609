//! `stratagem status`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratagem_events::projection::files::{read_summary, Summary, AUTONOMY_FILE};
use stratagem_events::projection::{rfc3339_micros, SourceHealth};
use stratagem_events::record::hex;
use stratagem_events::{AutonomyState, EventStore};

use super::print_json;
use stratagem_actors::workflow::data_dir::DataDir;

#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    autonomy: &'a AutonomyState,
    log: LogJson,
    sources: &'a std::collections::BTreeMap<String, SourceHealth>,
}

#[derive(Serialize)]
struct LogJson {
    events: u64,
    head_hash: String,
    data_dir: String,
}

/// While another process (the daemon) holds the log, the state it keeps current in
/// `autonomy_state.json` is shown instead, and said to be.
fn held_elsewhere(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let path = root.join(AUTONOMY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "another process holds {} and {} cannot be read",
            root.display(),
            path.display()
        )
    })?;
    let state: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if json {
        print_json(
            &serde_json::json!({"source": AUTONOMY_FILE, "held_by_another_process": true, "autonomy_state": state}),
        )?;
    } else {
        say!(
            "another stratagem process holds {}; its autonomy_state.json says:",
            root.display()
        );
        say!("{}", serde_json::to_string_pretty(&state)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match DataDir::open(root) {
        Ok(dir) => dir,
        Err(e) if e.is_locked() => return held_elsewhere(root, json),
        Err(e) => return Err(e.into()),
    };
    // The summary written at the last catch-up, when it is of the log's head; else the
    // projections, opened (repaired, caught up) as every command does.
    let summary = match read_summary(root, dir.store()) {
        Some(s) => s,
        None => {
            let projections = dir.projections()?;
            let state = projections.state();
            Summary {
                seq: state.last_seq,
                hash: String::new(),
                autonomy: state.autonomy.clone(),
                sources: state.sources.clone(),
            }
        }
    };
    let a = &summary.autonomy;
    let sources = &summary.sources;
    let head = dir.store().head();
    if json {
        print_json(&StatusJson {
            autonomy: a,
            log: LogJson {
                events: head.seq,
                head_hash: hex(&head.hash),
                data_dir: root.display().to_string(),
            },
            sources,
        })?;
    } else {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        say!("data dir      {}", root.display());
        say!(
            "event log     {} events, head {}",
            head.seq,
            &hex(&head.hash)[..16]
        );
        say!(
            "discovery     active: {}",
            yes_no(a.strategy_discovery_active)
        );
        say!(
            "opportunities discovered {}, scored {}, submitted {}",
            a.opportunities_discovered,
            a.opportunities_scored,
            a.opportunities_submitted
        );
        say!(
            "strategies    in validation {}, approved {}, rejected {}, implemented {}",
            a.strategies_in_validation,
            a.strategies_approved,
            a.strategies_rejected,
            a.strategies_implemented
        );
        let s = &a.stages;
        say!(
            "stages        cold {}, warm {}, limited {}, full {}",
            s.cold,
            s.warm,
            s.limited,
            s.full
        );
        if sources.is_empty() {
            say!("sources       never checked (run `stratagem discover`)");
        }
        for (name, h) in sources {
            let health = match h.last_outcome.as_str() {
                "failed" => format!(
                    "FAILING ({} in a row): {}",
                    h.consecutive_failures,
                    h.last_error.as_deref().unwrap_or("")
                ),
                other => other.to_string(),
            };
            say!(
                "source {name:<9} {health}; last check {}, {} checks, {} failed, {} items, {} new",
                rfc3339_micros(h.last_checked_micros),
                h.checks,
                h.failures,
                h.fetched,
                h.new_items
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
