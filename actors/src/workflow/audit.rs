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

/// `audit verify`: the hash chain, the marker and sled's files inspected without writing
/// anything to the data directory (see `stratagem_events::store::inspect`).
///
/// # Errors
/// The directory is in use by another process or holds no event store.
pub fn verify(root: &Path) -> Result<stratagem_events::store::inspect::Inspection> {
    use stratagem_events::store::inspect::{self, Inspection};
    // The log elsewhere (`--store`): the chain walked through the store itself.
    if let (Some(label), Some(store)) = (DataDir::store_elsewhere(root), DataDir::kept_store(root))
    {
        return Ok(inspect::inspect_store(store.as_ref(), &label));
    }
    let projected = stratagem_events::projection::files::projected_through(root);
    if !root.join("events").join("db").is_dir() {
        // A directory made for a log that was never written; or one whose log was removed.
        return Ok(Inspection::missing_log(projected));
    }
    inspect::inspect(&root.join("events"), projected)
        .with_context(|| format!("cannot verify the data directory {}", root.display()))
}

/// A line of a live projection file that is not what the log says.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The file's name.
    pub file: String,
    /// The line (1-based); `None` for a whole-document file (`autonomy_state.json`).
    pub line: Option<u64>,
    /// What a replay of the log writes there (`None`: nothing, the log has no such line).
    pub expected: Option<String>,
    /// What the live file holds there (`None`: the line is missing).
    pub found: Option<String>,
    /// The same, in one line of words.
    pub detail: String,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Whether every file matched the log (a file only behind it matches).
    pub identical: bool,
    /// Events on the log.
    pub events: u64,
    /// Events the live projections are behind the log (after a crash, say): projected at the
    /// next command that opens them. Not a difference.
    pub behind: u64,
    /// The files compared.
    pub files: Vec<String>,
    /// Every difference, file by file (at most [`MAX_DIFFERENCES`] a file).
    pub differences: Vec<Difference>,
    /// Whether the projections were rebuilt from the log (`--repair`).
    pub repaired: bool,
}

impl std::fmt::Display for ReplayReport {
    /// What a person reads: identical, or every difference; and the lag, if any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.identical {
            write!(
                f,
                "identical: {} files rebuilt from {} events match the live projections",
                self.files.len(),
                self.events
            )?;
        } else {
            write!(
                f,
                "DIFFERENT: the live projections do not match a replay of the log ({} events)",
                self.events
            )?;
            for d in &self.differences {
                write!(f, "\n  {}: {}", d.file, d.detail)?;
            }
        }
        if self.behind > 0 {
            write!(
                f,
                "\nthe live projections are {} event(s) behind the log (an interrupted run): the next command projects them",
                self.behind
            )?;
        }
        Ok(())
    }
}

/// Differences listed per file; the count of the rest is said.
pub const MAX_DIFFERENCES: usize = 20;

fn shown(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// The complete lines of a text, and the unterminated rest (an interrupted write), if any.
fn lines(text: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
    let mut all: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    let rest = all.pop().filter(|r| !r.is_empty());
    (all, rest)
}

/// Compares a live audit file with the replay's, line by line. The live file may be a prefix
/// of the replay's (its last events not projected yet, its last line cut by a crash): that is
/// lag, not a difference. Returns the lines it is behind.
fn compare_lines(file: &str, live: &[u8], fresh: &[u8], out: &mut Vec<Difference>) -> u64 {
    let (live_lines, partial) = lines(live);
    let (fresh_lines, _) = lines(fresh);
    let mut found = 0usize;
    let mut push = |line: usize, expected: Option<&[u8]>, got: Option<&[u8]>| {
        found += 1;
        if found > MAX_DIFFERENCES {
            return;
        }
        let (expected, got) = (expected.map(shown), got.map(shown));
        out.push(Difference {
            file: file.to_string(),
            line: Some(line as u64),
            detail: format!(
                "line {line}: live {}, replay {}",
                got.as_deref()
                    .map_or("(no line)".to_string(), |g| format!("{g:?}")),
                expected.as_deref().map_or(
                    "(no line: the log has no such event)".to_string(),
                    |e| format!("{e:?}")
                ),
            ),
            expected,
            found: got,
        });
    };
    for (i, l) in live_lines.iter().enumerate() {
        match fresh_lines.get(i) {
            Some(f) if f == l => {}
            f => push(i + 1, f.copied(), Some(l)),
        }
    }
    if let Some(p) = partial {
        let i = live_lines.len();
        if !fresh_lines.get(i).is_some_and(|f| f.starts_with(p)) {
            push(i + 1, fresh_lines.get(i).copied(), Some(p));
        }
    }
    if found > MAX_DIFFERENCES {
        out.push(Difference {
            file: file.to_string(),
            line: None,
            expected: None,
            found: None,
            detail: format!("and {} more line(s)", found - MAX_DIFFERENCES),
        });
    }
    (fresh_lines.len() as u64).saturating_sub(live_lines.len() as u64)
}

/// Replays the log from sequence 1 into a scratch folder outside the data directory and
/// compares each projection file with the live one, as it is: nothing in the data directory is
/// opened for writing or repaired. An audit file may be behind the log (the last events not
/// projected yet, after a crash): that is lag, which the next command catches up, not a
/// difference; any other line is reported with what the log says it should be.
/// `autonomy_state.json` is compared when the live files are projected through the log's head.
///
/// # Errors
/// The log cannot be read, or the scratch folder written.
pub fn replay(root: &Path, dir: &DataDir) -> Result<ReplayReport> {
    let scratch = std::env::temp_dir().join(format!(
        "stratagem-replay-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    let result = compare(root, dir, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn compare(root: &Path, dir: &DataDir, scratch: &Path) -> Result<ReplayReport> {
    let fresh = ProjectionFiles::rebuild(scratch, dir.store())
        .context("cannot replay the log into a fresh folder")?;
    let events = fresh.state().last_seq;
    drop(fresh);
    let through = stratagem_events::projection::files::projected_through(root);
    let mut differences = Vec::new();
    let mut behind_lines = 0;
    for name in projection_file_names() {
        let live = std::fs::read(root.join(name)).unwrap_or_default();
        let fresh = std::fs::read(scratch.join(name))
            .map_err(|e| WorkflowError::io(format!("cannot read the replayed {name}"), e))?;
        if name == stratagem_events::projection::files::AUTONOMY_FILE {
            // A whole document, rewritten at each catch-up: compared when it is of the head.
            if through == Some(dir.store().head().seq) && live != fresh {
                differences.push(Difference {
                    file: name.to_string(),
                    line: None,
                    expected: Some(shown(&fresh)),
                    found: Some(shown(&live)),
                    detail: format!(
                        "differs from a replay of the log from byte {}",
                        live.iter().zip(&fresh).take_while(|(a, b)| a == b).count()
                    ),
                });
            }
            continue;
        }
        behind_lines += compare_lines(name, &live, &fresh, &mut differences);
    }
    let behind = match through {
        Some(seq) => events.saturating_sub(seq),
        None => u64::from(behind_lines > 0) * events,
    };
    Ok(ReplayReport {
        identical: differences.is_empty(),
        events,
        behind,
        files: projection_file_names()
            .into_iter()
            .map(String::from)
            .collect(),
        differences,
        repaired: false,
    })
}

/// Rebuilds the projections of the data directory from the log (sequence 1 on), then replays
/// again to show they match: what `audit replay --repair` does after reporting.
///
/// # Errors
/// The log cannot be read, or the projections written.
pub fn repair(root: &Path, dir: &DataDir) -> Result<ReplayReport> {
    ProjectionFiles::rebuild(root, dir.store())
        .with_context(|| format!("cannot rebuild the projections in {}", root.display()))?;
    let mut report = replay(root, dir)?;
    report.repaired = true;
    Ok(report)
}
