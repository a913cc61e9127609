//! `stratagem status`.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_events::record::hex;
use stratagem_events::{AutonomyState, EventStore};

use super::print_json;
use crate::data_dir::DataDir;

#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    autonomy: &'a AutonomyState,
    log: LogJson,
}

#[derive(Serialize)]
struct LogJson {
    events: u64,
    head_hash: String,
    data_dir: String,
}

pub fn run(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let a = &projections.state().autonomy;
    let head = dir.store().head();
    if json {
        print_json(&StatusJson {
            autonomy: a,
            log: LogJson {
                events: head.seq,
                head_hash: hex(&head.hash),
                data_dir: root.display().to_string(),
            },
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
    }
    Ok(ExitCode::SUCCESS)
}
