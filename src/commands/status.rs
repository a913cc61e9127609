//! `stratagem status`: offline from the read models, or from the daemon that holds the data
//! directory (its read API), printed the same way.

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::query::{status, Status, StatusReport};
use stratagem_actors::workflow::read_api;
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::projection::files::AUTONOMY_FILE;

use super::print_json;

pub fn run(root: &Path, settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let window = settings.kpi_window_days()?;
    let report = match status(root)? {
        Status::Open { summary, head } => StatusReport::of(root, &summary, head, window),
        Status::HeldElsewhere(_) if read_api::running(root) => {
            serde_json::from_value(read_api::block_on_ask(root, "/v1/status")?)?
        }
        Status::HeldElsewhere(state) => {
            // A holder without the read API: its `autonomy_state.json` is shown, and said to be.
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
    render(&report, json)
}

fn render(r: &StatusReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(r)?;
        return Ok(ExitCode::SUCCESS);
    }
    let a = &r.autonomy;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    say!("data dir      {}", r.log.data_dir);
    say!(
        "event log     {} events, head {}",
        r.log.events,
        r.log.head_hash.get(..16).unwrap_or(&r.log.head_hash)
    );
    say!(
        "discovery     active: {}",
        yes_no(a.strategy_discovery_active)
    );
    say!("trading       {}", r.risk.line);
    let v = &r.venue;
    if v.orders > 0 || !v.balances.is_empty() {
        let balances: Vec<String> = v
            .balances
            .iter()
            .map(|b| format!("{} {}", b.asset, b.free + b.locked))
            .collect();
        say!(
            "venue         {} orders, {} waiting for an answer; balances at the last reconciliation: {}",
            v.orders,
            v.waiting,
            if balances.is_empty() {
                "none".to_string()
            } else {
                balances.join(", ")
            }
        );
    }
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
    let k = &r.kpis;
    say!(
        "success criteria over the {} days to the last event, {} (the seed's targets):",
        k.window_days,
        k.until
    );
    for (name, target, value, verdict) in k.rows() {
        say!(
            "  {name:<24} {:<8} {value}  (target {target})",
            verdict.as_str().to_uppercase()
        );
    }
    if r.notifications_waiting > 0 {
        say!(
            "notifications {} waiting in the outbox (delivered when the webhook answers)",
            r.notifications_waiting
        );
    }
    if r.sources.is_empty() {
        say!("sources       never checked (run `stratagem discover`)");
    }
    for (name, h) in &r.sources {
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
            h.last_checked_at,
            h.checks,
            h.failures,
            h.fetched,
            h.new_items
        );
    }
    Ok(ExitCode::SUCCESS)
}
