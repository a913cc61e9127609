//! The seed's database as a projection: `audit export --format sqlite` writes
//! `strategy_opportunities.db`, rebuilt from the log, with the seed's two tables
//! (`strategy_opportunities`, `discovery_sources`) and three more (`strategies`,
//! `validations`, `stage_runs`), so the history can be queried with SQL. Times are RFC 3339 UTC
//! text. The file is written beside, then renamed into place: a reader never sees half of it.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection};
use stratagem_events::projection::rfc3339_micros;
use stratagem_events::{iter_from, Event, Projections, Stage};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::query::status_name;
use super::settings::Settings;
use super::{Result, WorkflowError};
use crate::sources::SourceName;

/// The database's file name.
pub const DB_FILE: &str = "strategy_opportunities.db";

/// Rows written, per table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SqliteExport {
    /// The file.
    pub file: String,
    /// `strategy_opportunities` rows.
    pub opportunities: u64,
    /// `discovery_sources` rows.
    pub sources: u64,
    /// `strategies` rows.
    pub strategies: u64,
    /// `validations` rows.
    pub validations: u64,
    /// `stage_runs` rows.
    pub stage_runs: u64,
}

impl std::fmt::Display for SqliteExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} opportunities, {} sources, {} strategies, {} validations, {} stage runs",
            self.file,
            self.opportunities,
            self.sources,
            self.strategies,
            self.validations,
            self.stage_runs
        )
    }
}

const SCHEMA: &str = "
CREATE TABLE strategy_opportunities (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    alpha_hypothesis TEXT NOT NULL,
    estimated_sharpe REAL,
    implementation_complexity REAL,
    capital_efficiency REAL,
    novelty_score REAL,
    market_fit_score REAL,
    risk_score REAL,
    composite_score REAL,
    status TEXT NOT NULL,
    discovered_at TEXT NOT NULL,
    submitted_at TEXT,
    url TEXT,
    family TEXT,
    parent_strategy_id TEXT
);
CREATE TABLE discovery_sources (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    last_checked TEXT,
    check_interval_minutes INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    last_outcome TEXT
);
CREATE TABLE strategies (
    id TEXT PRIMARY KEY,
    opportunity_id TEXT NOT NULL REFERENCES strategy_opportunities(id),
    name TEXT NOT NULL,
    mode TEXT NOT NULL,
    template TEXT,
    status TEXT NOT NULL,
    stage TEXT,
    highest_stage TEXT,
    decision TEXT,
    layers_passed INTEGER NOT NULL,
    generated_at TEXT NOT NULL
);
CREATE TABLE validations (
    seq INTEGER PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies(id),
    decision TEXT NOT NULL,
    layers_passed INTEGER NOT NULL,
    reason TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE TABLE stage_runs (
    run_id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies(id),
    stage TEXT NOT NULL,
    baseline TEXT,
    capital_fraction REAL NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    passed INTEGER,
    gate TEXT,
    sharpe REAL,
    total_return REAL,
    max_drawdown REAL,
    trades INTEGER
);
";

fn db_error(e: rusqlite::Error) -> WorkflowError {
    WorkflowError::refused(format!("cannot write the SQLite export: {e}"))
}

fn lower(x: impl std::fmt::Debug) -> String {
    format!("{x:?}").to_lowercase()
}

/// Writes `strategy_opportunities.db` into the folder `out`, rebuilt from the log.
///
/// # Errors
/// The log cannot be read, a setting is bad, or the file cannot be written.
pub fn export_sqlite(
    root: &Path,
    dir: &DataDir,
    settings: &Settings,
    out: &Path,
) -> Result<SqliteExport> {
    std::fs::create_dir_all(out)
        .map_err(|e| WorkflowError::io(format!("cannot create {}", out.display()), e))?;
    let file = out.join(DB_FILE);
    let partial = out.join(format!(".{DB_FILE}.partial"));
    let _ = std::fs::remove_file(&partial);
    let (config, _) = settings.discovery(root)?;
    let mut db = Connection::open(&partial).map_err(db_error)?;
    db.execute_batch(SCHEMA).map_err(db_error)?;
    let tx = db.transaction().map_err(db_error)?;
    // Rows reference strategies written after them: the references are checked at commit.
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")
        .map_err(db_error)?;
    let mut state = Projections::default();
    let mut discovered_at: HashMap<Uuid, i64> = HashMap::new();
    let mut submitted_at: HashMap<Uuid, i64> = HashMap::new();
    let mut generated_at: HashMap<Uuid, i64> = HashMap::new();
    let mut done = SqliteExport {
        file: file.display().to_string(),
        ..SqliteExport::default()
    };
    for rec in iter_from(dir.store(), 1) {
        let rec = rec?;
        let event = rec.event()?;
        let at = rfc3339_micros(rec.recorded_at_micros);
        match &event {
            Event::OpportunityDiscovered(e) => {
                discovered_at.insert(e.opportunity_id, rec.recorded_at_micros);
            }
            Event::OpportunitySubmitted(e) => {
                submitted_at
                    .entry(e.opportunity_id)
                    .or_insert(rec.recorded_at_micros);
            }
            Event::StrategyGenerated(e) => {
                generated_at.insert(e.strategy_id, rec.recorded_at_micros);
            }
            Event::ValidationDecided(e) => {
                tx.execute(
                    "INSERT INTO validations VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        rec.seq as i64,
                        e.strategy_id.to_string(),
                        lower(e.decision),
                        e.layers_passed,
                        e.reason,
                        at
                    ],
                )
                .map_err(db_error)?;
                done.validations += 1;
            }
            Event::StageStarted(e) => {
                tx.execute(
                    "INSERT OR IGNORE INTO stage_runs (run_id, strategy_id, stage, baseline, capital_fraction, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        e.run_id.to_string(),
                        e.strategy_id.to_string(),
                        e.stage.as_str(),
                        e.baseline,
                        e.capital_fraction,
                        at
                    ],
                )
                .map_err(db_error)?;
            }
            Event::StageCompleted(e) => {
                let m = &e.metrics;
                tx.execute(
                    "UPDATE stage_runs SET completed_at = ?2, passed = ?3, gate = ?4, sharpe = ?5, total_return = ?6, max_drawdown = ?7, trades = ?8 WHERE run_id = ?1",
                    params![
                        e.run_id.to_string(),
                        at,
                        e.passed,
                        e.gate,
                        m.sharpe,
                        m.total_return,
                        m.max_drawdown,
                        m.trades as i64
                    ],
                )
                .map_err(db_error)?;
            }
            _ => {}
        }
        state.apply_decoded(&rec, event);
    }
    for o in state.opportunities.values() {
        let score = o.score.as_ref();
        tx.execute(
            "INSERT INTO strategy_opportunities VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                o.id.to_string(),
                o.source,
                o.title.raw(),
                o.hypothesis.raw(),
                o.stated_sharpe,
                score.map(|s| s.complexity.value),
                score.map(|s| s.capital_efficiency.value),
                score.map(|s| s.novelty.value),
                score.map(|s| s.market_fit.value),
                score.map(|s| s.risk.value),
                score.map(|s| s.composite),
                status_name(o.status),
                rfc3339_micros(discovered_at.get(&o.id).copied().unwrap_or(0)),
                submitted_at.get(&o.id).map(|m| rfc3339_micros(*m)),
                o.url,
                o.family,
                o.parent_strategy_id.map(|p| p.to_string()),
            ],
        )
        .map_err(db_error)?;
        done.opportunities += 1;
    }
    for (i, name) in SourceName::ALL.iter().enumerate() {
        let s = config.source(*name);
        let health = state.sources.get(name.as_str());
        tx.execute(
            "INSERT INTO discovery_sources VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                i as i64 + 1,
                name.as_str(),
                health.map(|h| rfc3339_micros(h.last_checked_micros)),
                (s.interval.as_secs() / 60) as i64,
                s.enabled,
                health.map_or(0, |h| h.checks as i64),
                health.map_or(0, |h| h.failures as i64),
                health.map(|h| h.last_outcome.clone()),
            ],
        )
        .map_err(db_error)?;
        done.sources += 1;
    }
    for s in state.strategies.values() {
        tx.execute(
            "INSERT INTO strategies VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                s.id.to_string(),
                s.opportunity_id.to_string(),
                s.name,
                lower(s.mode),
                s.template,
                s.status.as_str(),
                s.stage.map(Stage::as_str),
                s.highest_stage.map(Stage::as_str),
                s.decision.map(lower),
                s.layers_passed,
                rfc3339_micros(generated_at.get(&s.id).copied().unwrap_or(0)),
            ],
        )
        .map_err(db_error)?;
        done.strategies += 1;
    }
    done.stage_runs = tx
        .query_row("SELECT COUNT(*) FROM stage_runs", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(db_error)? as u64;
    tx.commit().map_err(db_error)?;
    db.close().map_err(|(_, e)| db_error(e))?;
    std::fs::rename(&partial, &file)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", file.display()), e))?;
    Ok(done)
}
