//! `stratagem audit verify | export | replay` (the export and the replay are
//! `stratagem_actors::workflow::audit`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratagem_actors::workflow::audit;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_events::audit::verify_chain;

use super::print_json;
use crate::cli::{AuditCommand, ExportFormat};
use stratagem_actors::workflow::settings::Settings;
use stratagem_actors::workflow::sqlite::export_sqlite;

pub fn run(root: &Path, settings: &Settings, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(flags) => verify(root, flags.json),
        AuditCommand::Export { out, format, json } => {
            let dir = DataDir::open(root)?;
            let out = out.unwrap_or_else(|| root.join("audit-export"));
            if format == ExportFormat::Jsonl {
                return export(&dir, &out, json);
            }
            let done = export_sqlite(root, &dir, settings, &out)?;
            match json {
                true => print_json(&done)?,
                false => say!("written {done}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Replay { repair, json } => replay(root, repair, json),
    }
}

#[derive(Serialize)]
struct VerifyJson {
    ok: bool,
    events: u64,
    head_hash: String,
    broken_at: Option<u64>,
    reason: Option<String>,
}

fn verify(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let report = verify_chain(dir.store()).context("cannot read the event log")?;
    let out = VerifyJson {
        ok: report.first_break.is_none(),
        events: report.verified,
        head_hash: report.head_hex(),
        broken_at: report.first_break.as_ref().map(|b| b.seq),
        reason: report.first_break.as_ref().map(|b| b.reason.clone()),
    };
    if json {
        print_json(&out)?;
    } else if let Some(b) = &report.first_break {
        say!("chain BROKEN at event {}: {}", b.seq, b.reason);
        say!(
            "{} events before it verified; last good hash {}",
            report.verified,
            out.head_hash
        );
    } else {
        say!(
            "chain ok: {} events, head hash {}",
            report.verified,
            out.head_hash
        );
    }
    Ok(if out.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn export(dir: &DataDir, out: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let files = audit::export(dir, out)?;
    if json {
        print_json(&files)?;
    } else {
        say!("audit trail rebuilt from the log into {}", out.display());
        for f in &files {
            say!(
                "  {:<60} {:>8} lines {:>10} bytes",
                f.file,
                f.lines,
                f.bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(root: &Path, repair: bool, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let found = audit::replay(root, &dir)?;
    // Repaired only when asked, and only after what was found is reported.
    let repaired = match repair && (!found.identical || found.behind > 0) {
        true => Some(audit::repair(root, &dir)?),
        false => None,
    };
    if json {
        print_json(&serde_json::json!({"found": found, "after_repair": repaired}))?;
    } else {
        say!("{found}");
        match &repaired {
            Some(r) if r.identical => say!("repaired: rebuilt from the log, now identical"),
            Some(r) => say!(
                "repaired, but {} difference(s) remain: the files may be written by another process",
                r.differences.len()
            ),
            None if !found.identical => {
                say!("nothing was changed; `stratagem audit replay --repair` rebuilds them from the log")
            }
            None => {}
        }
    }
    let clean = repaired.as_ref().map_or(found.identical, |r| r.identical);
    Ok(if found.identical || (repair && clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
