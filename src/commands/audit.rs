//! `stratagem audit verify | export | replay`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratagem_events::audit::verify_chain;
use stratagem_events::projection::files::{projection_file_names, ProjectionFiles};

use super::print_json;
use crate::cli::AuditCommand;
use stratagem_actors::workflow::data_dir::DataDir;

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

#[derive(Serialize)]
struct ExportedFile {
    file: String,
    bytes: u64,
    lines: u64,
}

fn export(root: &Path, out: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let out = out.unwrap_or_else(|| root.join("audit-export"));
    ProjectionFiles::rebuild(&out, dir.store())
        .with_context(|| format!("cannot export to {}", out.display()))?;
    let mut files = Vec::new();
    for name in projection_file_names() {
        let path = out.join(name);
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read back {}", path.display()))?;
        files.push(ExportedFile {
            file: path.display().to_string(),
            bytes: text.len() as u64,
            lines: text.iter().filter(|b| **b == b'\n').count() as u64,
        });
    }
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

#[derive(Serialize)]
struct Difference {
    file: String,
    detail: String,
}

#[derive(Serialize)]
struct ReplayJson {
    identical: bool,
    events: u64,
    files: Vec<String>,
    differences: Vec<Difference>,
}

/// First line (1-based) at which two texts differ, with both versions of it.
fn first_difference(live: &[u8], fresh: &[u8]) -> String {
    let mut live_lines = live.split(|b| *b == b'\n');
    let mut fresh_lines = fresh.split(|b| *b == b'\n');
    let mut n = 1;
    loop {
        match (live_lines.next(), fresh_lines.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (a, b) => {
                let show = |l: Option<&[u8]>| match l {
                    None => "(end of file)".to_string(),
                    Some(l) => {
                        let s = String::from_utf8_lossy(l);
                        if s.chars().count() > 160 {
                            format!("{}…", s.chars().take(160).collect::<String>())
                        } else {
                            s.into_owned()
                        }
                    }
                };
                return format!("line {n}: live {:?}, replay {:?}", show(a), show(b));
            }
        }
    }
}

fn replay(root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    // Opening the live projections repairs what a crash left and catches up with the log, as
    // every command does; any other difference from a fresh replay is then reported.
    let live = dir.projections()?;
    let scratch = root.join(format!(".replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = (|| -> anyhow::Result<ReplayJson> {
        ProjectionFiles::rebuild(&scratch, dir.store())
            .context("cannot replay the log into a fresh folder")?;
        let mut differences = Vec::new();
        for name in projection_file_names() {
            let live_bytes = std::fs::read(live.dir().join(name)).unwrap_or_default();
            let fresh_bytes = std::fs::read(scratch.join(name))
                .with_context(|| format!("cannot read the replayed {name}"))?;
            if live_bytes != fresh_bytes {
                differences.push(Difference {
                    file: name.to_string(),
                    detail: first_difference(&live_bytes, &fresh_bytes),
                });
            }
        }
        Ok(ReplayJson {
            identical: differences.is_empty(),
            events: live.state().last_seq,
            files: projection_file_names()
                .into_iter()
                .map(String::from)
                .collect(),
            differences,
        })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let report = result?;
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
