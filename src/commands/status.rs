//! `stratagem status`.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_actors::workflow::query::{status, Status};
use stratagem_events::projection::files::AUTONOMY_FILE;
use stratagem_events::projection::{rfc3339_micros, SourceHealth};
use stratagem_events::record::hex;
use stratagem_events::AutonomyState;

use super::print_json;

#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    autonomy: &'a AutonomyState,
    log: LogJson,
    sources: std::collections::BTreeMap<&'a str, SourceJson<'a>>,
    /// Messages in the outbox, not delivered yet.
    notifications_waiting: u64,
}

/// A source's health, times in RFC 3339.
#[derive(Serialize)]
struct SourceJson<'a> {
    checks: u64,
    failures: u64,
    consecutive_failures: u64,
    last_checked_at: String,
    last_success_at: Option<String>,
    last_outcome: &'a str,
    last_error: Option<&'a str>,
    fetched: u64,
    new_items: u64,
}

impl<'a> SourceJson<'a> {
    fn of(h: &'a SourceHealth) -> SourceJson<'a> {
        SourceJson {
            checks: h.checks,
            failures: h.failures,
            consecutive_failures: h.consecutive_failures,
            last_checked_at: rfc3339_micros(h.last_checked_micros),
            last_success_at: h.last_success_micros.map(rfc3339_micros),
            last_outcome: &h.last_outcome,
            last_error: h.last_error.as_deref(),
            fetched: h.fetched,
            new_items: h.new_items,
        }
    }
}

#[derive(Serialize)]
struct LogJson {
    events: u64,
    head_hash: String,
    data_dir: String,
}

pub fn run(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (summary, head) = match status(root)? {
        Status::Open { summary, head } => (summary, head),
        Status::HeldElsewhere(state) => {
            // The daemon keeps `autonomy_state.json` current: it is shown, and said to be.
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
            return Ok(ExitCode::SUCCESS);
        }
    };
    let a = &summary.autonomy;
    let sources = &summary.sources;
    if json {
        print_json(&StatusJson {
            autonomy: a,
            log: LogJson {
                events: head.seq,
                head_hash: hex(&head.hash),
                data_dir: root.display().to_string(),
            },
            sources: sources
                .iter()
                .map(|(k, v)| (k.as_str(), SourceJson::of(v)))
                .collect(),
            notifications_waiting: summary.notifications_waiting,
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
        if summary.notifications_waiting > 0 {
            say!(
                "notifications {} waiting in the outbox (delivered when the webhook answers)",
                summary.notifications_waiting
            );
        }
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
