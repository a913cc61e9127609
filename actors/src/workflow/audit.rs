//! The audit trail from the log: an export rebuilt from sequence 1 into a folder, and a replay
//! compared with the live projections, naming the first line that differs.

use std::path::Path;

use serde::Serialize;
use stratagem_events::projection::files::{projection_file_names, ProjectionFiles};

use super::data_dir::DataDir;
use super::{Context, Result, WorkflowError};

/// A file of an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    /// Its path.
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// Its lines.
    pub lines: u64,
}

/// Rebuilds the audit trail from the log into `out`.
///
/// # Errors
/// The log cannot be read, or `out` written.
pub fn export(dir: &DataDir, out: &Path) -> Result<Vec<ExportedFile>> {
    ProjectionFiles::rebuild(out, dir.store())
        .with_context(|| format!("cannot export to {}", out.display()))?;
    let mut files = Vec::new();
    for name in projection_file_names() {
        let path = out.join(name);
        let text = std::fs::read(&path)
            .map_err(|e| WorkflowError::io(format!("cannot read back {}", path.display()), e))?;
        files.push(ExportedFile {
            file: path.display().to_string(),
            bytes: text.len() as u64,
            lines: text.iter().filter(|b| **b == b'\n').count() as u64,
        });
    }
    Ok(files)
}

/// A file whose live version differs from the replay's.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The file's name.
    pub file: String,
    /// The first line that differs, both ways.
    pub detail: String,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Whether every file matched.
    pub identical: bool,
    /// Events replayed.
    pub events: u64,
    /// The files compared.
    pub files: Vec<String>,
    /// Those that differ.
    pub differences: Vec<Difference>,
}

/// First line (1-based) at which two texts differ, with both versions of it.
pub fn first_difference(live: &[u8], fresh: &[u8]) -> String {
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

/// Replays the log from sequence 1 into a scratch folder inside `root` and compares each
/// projection file with the live one. Opening the live projections first repairs what a crash
/// left and catches up with the log, as every command does; any other difference is reported.
///
/// # Errors
/// The log cannot be read, or the scratch folder written.
pub fn replay(root: &Path, dir: &DataDir) -> Result<ReplayReport> {
    let live = dir.projections()?;
    let scratch = root.join(format!(".replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = (|| -> Result<ReplayReport> {
        ProjectionFiles::rebuild(&scratch, dir.store())
            .context("cannot replay the log into a fresh folder")?;
        let mut differences = Vec::new();
        for name in projection_file_names() {
            let live_bytes = std::fs::read(live.dir().join(name)).unwrap_or_default();
            let fresh_bytes = std::fs::read(scratch.join(name))
                .map_err(|e| WorkflowError::io(format!("cannot read the replayed {name}"), e))?;
            if live_bytes != fresh_bytes {
                differences.push(Difference {
                    file: name.to_string(),
                    detail: first_difference(&live_bytes, &fresh_bytes),
                });
            }
        }
        Ok(ReplayReport {
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
    result
}
