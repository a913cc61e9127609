//! `stratagem audit verify | export | replay` (the export and the replay are
//! `stratagem_actors::workflow::audit`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratagem_actors::workflow::audit;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_events::audit::verify_chain;

use super::print_json;
use crate::cli::AuditCommand;

pub fn run(root: &Path, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(flags) => verify(root, flags.json),
        AuditCommand::Export { out, json } => export(root, out, json),
        AuditCommand::Replay(flags) => replay(root, flags.json),
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

fn export(root: &Path, out: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let out = out.unwrap_or_else(|| root.join("audit-export"));
    let files = audit::export(&dir, &out)?;
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

fn replay(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let report = audit::replay(root, &dir)?;
    if json {
        print_json(&report)?;
    } else if report.identical {
        say!(
            "identical: {} files rebuilt from {} events match the live projections",
            report.files.len(),
            report.events
        );
    } else {
        say!(
            "DIFFERENT: the live projections do not match a replay of the log ({} events)",
            report.events
        );
        for d in &report.differences {
            say!("  {}: {}", d.file, d.detail);
        }
    }
    Ok(if report.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
