//! The account's risk state as the log records it: `stratagem halt`, `reduce-only` and
//! `resume` (each a `risk.state_changed` event, kept across restarts), and the daily loss limit
//! that halts by itself. While a daemon holds the log, a change is handed to it as a file in
//! `DATA_DIR/risk-inbox/` and recorded at its next cycle. Every runner honours the state from
//! the first bar it had not consumed ([`crate::stages::risk`]); no stage run begins while the
//! account is not active.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event, Projections, RiskState, RiskStateChanged, Stage};

use super::data_dir::DataDir;
use super::review::{hand_over_to, handed_over};
use super::Result;

/// Where risk changes wait for a running daemon: `DATA_DIR/risk-inbox/`.
pub const HANDOFF_DIR: &str = "risk-inbox";

/// A change of the account's risk state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskChange {
    /// The new state.
    pub state: RiskState,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// Close every position (a halt only).
    pub flatten: bool,
}

/// What became of a change.
#[derive(Debug, Clone)]
pub enum Changed {
    /// Recorded: the line says what.
    Recorded(String),
    /// The daemon holds the log: handed to it in this file, recorded at its next cycle.
    HandedOver(PathBuf),
}

/// Records `change` in the data directory `root`, or hands it to the daemon that holds the log.
///
/// # Errors
/// The log or the inbox cannot be written.
pub async fn change(root: &Path, change: &RiskChange) -> Result<Changed> {
    match DataDir::open(root) {
        Ok(dir) => {
            let mut projections = dir.projections()?;
            record(&dir, &mut projections, change)
                .await
                .map(Changed::Recorded)
        }
        Err(e) if e.is_locked() => hand_over_to(root, HANDOFF_DIR, change).map(Changed::HandedOver),
        Err(e) => Err(e),
    }
}

/// Records `change`; the line says what.
///
/// # Errors
/// The log cannot be written.
pub async fn record(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    change: &RiskChange,
) -> Result<String> {
    let event = Event::from(RiskStateChanged {
        state: change.state,
        reason: change.reason.clone(),
        by: change.by.clone(),
        flatten: change.flatten && change.state == RiskState::Halted,
    });
    dir.append(projections, AppendRequest::one(event)).await?;
    Ok(line(projections.state()))
}

/// The account's risk state in words: `risk HALTED since … by …: reason`.
pub fn line(state: &Projections) -> String {
    line_of(&state.risk)
}

/// A risk state in words.
pub fn line_of(r: &stratagem_events::projection::RiskView) -> String {
    match r.state {
        RiskState::Active if r.since_micros == 0 => "active".to_string(),
        s => format!(
            "{} since {} by {}{}",
            match s {
                RiskState::Active => "ACTIVE",
                RiskState::ReduceOnly => "REDUCE-ONLY (exits only)",
                RiskState::Halted => "HALTED (no new orders)",
            },
            crate::bars::iso(r.since_micros.div_euclid(1_000_000)),
            r.by,
            if r.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", r.reason)
            }
        ),
    }
}

/// Records the risk changes handed over while the daemon held the log, oldest first, removing
/// each file once recorded (an unreadable one is removed with a line saying so; one the log
/// could not take stays for the next cycle).
pub async fn take_handoffs(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
) -> Vec<String> {
    let mut lines = Vec::new();
    for file in handed_over(root, HANDOFF_DIR) {
        let read = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<RiskChange>(&b).map_err(|e| e.to_string()));
        let line = match read {
            Ok(c) => match record(dir, projections, &c).await {
                Ok(line) => format!("risk: {line}"),
                Err(e) => {
                    lines.push(format!(
                        "handed-over risk change {} waits: {e}",
                        file.display()
                    ));
                    continue;
                }
            },
            Err(e) => format!(
                "handed-over risk change {} is unreadable ({e}); removed",
                file.display()
            ),
        };
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!(file = %file.display(), error = %e, "cannot remove a handed-over risk change");
        }
        lines.push(line);
    }
    lines
}

/// Whether a stage run of a strategy may begin now: only while the account is active (a run
/// already open goes on, under the state its marks honour).
pub fn may_begin(state: &Projections, open: bool) -> bool {
    open || state.risk.state == RiskState::Active
}

/// The daily loss limit (`DAILY_LOSS_LIMIT`, a fraction of `STAGE_CAPITAL`; 0: none): the
/// account's loss on the UTC day `day` of the bars (the venue's), summed over the open LIMITED
/// runs (the capital at risk on the real clock), each from its equity as the day began to its
/// last mark. At or past the limit the reason to halt, unless halted already.
pub fn daily_loss_breached(
    state: &Projections,
    day: i64,
    limit: f64,
    capital: f64,
) -> Option<String> {
    if limit <= 0.0 || state.risk.state == RiskState::Halted {
        return None;
    }
    let loss: f64 = state
        .strategies
        .values()
        .filter_map(|s| {
            let (stage, run) = s.open_run?;
            let m = s.marks.as_ref().filter(|m| m.run_id == run)?;
            (stage == Stage::Limited && m.through.div_euclid(86_400) == day)
                .then_some(m.day_open_equity - m.equity)
        })
        .sum();
    (loss >= limit * capital).then(|| {
        format!(
            "daily loss limit: {loss:.2} lost on {} by the LIMITED runs, the limit is {:.2} ({:.1} % of {capital:.0})",
            crate::bars::iso(day * 86_400).get(..10).unwrap_or_default(),
            limit * capital,
            limit * 100.0
        )
    })
}
