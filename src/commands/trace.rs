//! `stratagem trace STRATEGY_ID`: a strategy's provenance, from the source item its idea came
//! from to its latest monitor reading, each step with its event's sequence number.

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::read_api;
use stratagem_actors::workflow::trace::{trace, Trace};
use stratagem_events::Projections;

use super::print_json;

pub fn run(root: &Path, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let id = super::strategy_id(id)?;
    let t: Trace = match DataDir::open(root) {
        Ok(dir) => {
            let projected = dir.projections()?;
            trace(dir.store(), projected.state(), id)?
        }
        // The daemon holds the log: it reads it for us.
        Err(e) if e.is_locked() && read_api::running(root) => {
            serde_json::from_value(read_api::block_on_ask(root, &format!("/v1/trace/{id}"))?)?
        }
        // A directory that cannot be written is read from a copy of its log.
        Err(e) if e.is_read_only() => {
            let dir = DataDir::open_read_only(root)?;
            let state = Projections::replay(dir.store())?;
            trace(dir.store(), &state, id)?
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&t)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "strategy {} {} ({}), from opportunity {}{}",
        t.strategy_id,
        t.name,
        t.now,
        t.opportunity_id,
        t.parent_strategy_id
            .map(|p| format!(", a clone of {p}"))
            .unwrap_or_default()
    );
    if !t.clones.is_empty() {
        say!(
            "clones spawned from it: {}",
            t.clones
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for s in &t.steps {
        say!(
            "#{:<7} {} {:<10} {:<26} {}",
            s.seq,
            s.at,
            s.phase,
            s.kind,
            s.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}
