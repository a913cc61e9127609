//! `stratagem audit verify | export | replay` (the export and the replay are
//! `stratagem_actors::workflow::audit`).

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::{audit, read_api};
use stratagem_events::store::inspect::Inspection;

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
struct VerifyJson<'a> {
    ok: bool,
    events: u64,
    head_hash: &'a str,
    broken_at: Option<u64>,
    marker: &'a stratagem_events::store::inspect::MarkerState,
    findings: &'a [stratagem_events::store::inspect::Finding],
}

/// Reads only: a scratch copy of the store is verified, so a read-only directory works and
/// nothing in it changes. While the daemon holds the directory, it verifies its open store.
fn verify(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let found = match audit::verify(root) {
        Err(e) if e.is_locked() && read_api::running(root) => {
            serde_json::from_value(read_api::block_on_ask(root, "/v1/audit/verify")?)?
        }
        other => other?,
    };
    render_verify(&found, json)
}

fn render_verify(found: &Inspection, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&VerifyJson {
            ok: found.ok(),
            events: found.verified,
            head_hash: &found.head_hash,
            broken_at: found.broken.as_ref().map(|b| b.seq),
            marker: &found.marker,
            findings: &found.findings,
        })?;
    } else {
        match (&found.broken, found.walked, found.ok()) {
            (_, false, _) => say!("the log cannot be read: the chain was not walked"),
            (Some(b), true, _) => say!(
                "chain BROKEN at event {}: {}\n{} events before it verified; last good hash {}",
                b.seq,
                b.reason,
                found.verified,
                found.head_hash
            ),
            (None, true, true) => say!(
                "chain ok: {} events, head hash {}",
                found.verified,
                found.head_hash
            ),
            (None, true, false) => say!(
                "chain intact: {} events, head hash {}",
                found.verified,
                found.head_hash
            ),
        }
        for f in &found.findings {
            say!("{f}");
        }
    }
    Ok(if found.ok() {
        ExitCode::SUCCESS
    } else {
        crate::output::verdict(
            "verify_failed",
            found
                .findings
                .first()
                .map_or("the log does not verify".to_string(), |f| f.message.clone()),
        );
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
    // Without --repair nothing is written: the log is read from a scratch copy.
    let found = audit::replay(root, &DataDir::open_read_only(root)?)?;
    let dir = match repair {
        true => Some(DataDir::open(root)?),
        false => None,
    };
    // Repaired only when asked, and only after what was found is reported.
    let repaired = match dir.filter(|_| !found.identical || found.behind > 0) {
        Some(dir) => Some(audit::repair(root, &dir)?),
        None => None,
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
        crate::output::verdict(
            "different",
            format!(
                "{} difference(s) between the live projections and a replay of the log",
                found.differences.len()
            ),
        );
        ExitCode::FAILURE
    })
}
