//! The projection files in the data directory, kept current as events arrive:
//! `autonomy_state.json` and the four JSONL audit files.
//!
//! Crash safety: audit lines are only ever appended. After each catch-up a checkpoint file
//! (`projections.checkpoint`) records the last sequence applied and each file's length. On open,
//! files are cut back to the checkpoint's lengths (dropping lines a crash left half-written or
//! written after the checkpoint) and the events after it are projected again. If anything does
//! not add up — no checkpoint, a file shorter than the checkpoint says, a checkpoint ahead of
//! the log — every file is rebuilt from the log, which is the truth. So the files always end
//! equal to a fresh replay.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{audit_line, AuditFile, Projections};
use crate::error::{io_err, StoreError};
use crate::store::{iter_from, EventStore};

/// Name of the autonomy state file.
pub const AUTONOMY_FILE: &str = "autonomy_state.json";
const CHECKPOINT_FILE: &str = "projections.checkpoint";

/// Every file a projection writes, in a fixed order (what `audit replay` compares).
pub fn projection_file_names() -> Vec<&'static str> {
    let mut names = vec![AUTONOMY_FILE];
    names.extend(AuditFile::ALL.iter().map(|f| f.file_name()));
    names
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    seq: u64,
    lens: [u64; AuditFile::ALL.len()],
}

impl Checkpoint {
    fn parse(text: &str) -> Option<Checkpoint> {
        let nums: Vec<u64> = text
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        // The sequence number, then one length per audit file. A checkpoint of an older
        // layout (fewer files) does not parse: the projections are then rebuilt by replay.
        let (seq, lens) = nums.split_first()?;
        Some(Checkpoint {
            seq: *seq,
            lens: lens.try_into().ok()?,
        })
    }

    fn render(&self) -> String {
        let mut out = self.seq.to_string();
        for len in self.lens {
            out.push_str(&format!(" {len}"));
        }
        out.push('\n');
        out
    }
}

/// The projections of one data directory, in memory and on disk.
pub struct ProjectionFiles {
    dir: PathBuf,
    state: Projections,
    lens: [u64; AuditFile::ALL.len()],
}

impl ProjectionFiles {
    /// Opens the projections in `dir`, repairs them after a crash, and brings them up to the
    /// end of the log.
    ///
    /// # Errors
    /// A storage or file error, or an unreadable event (naming its sequence number).
    pub fn open(dir: impl AsRef<Path>, store: &dyn EventStore) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err("cannot create directory", &dir))?;
        let checkpoint = std::fs::read_to_string(dir.join(CHECKPOINT_FILE))
            .ok()
            .and_then(|t| Checkpoint::parse(&t));
        let usable = checkpoint.filter(|c| {
            c.seq <= store.head().seq
                && AuditFile::ALL.iter().all(|f| {
                    std::fs::metadata(dir.join(f.file_name()))
                        .map(|m| m.len() >= c.lens[f.idx()])
                        .unwrap_or(false)
                })
        });
        let start = usable.unwrap_or(Checkpoint {
            seq: 0,
            lens: [0; AuditFile::ALL.len()],
        });
        for f in AuditFile::ALL {
            let path = dir.join(f.file_name());
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err("cannot open", &path))?;
            file.set_len(start.lens[f.idx()])
                .map_err(io_err("cannot truncate", &path))?;
        }
        // Rebuild the in-memory state up to the checkpoint without writing: those lines exist.
        let mut state = Projections::default();
        for rec in iter_from(store, 1) {
            let rec = rec?;
            if rec.seq > start.seq {
                break;
            }
            state.apply(&rec).map_err(|source| StoreError::Corrupt {
                seq: rec.seq,
                source,
            })?;
        }
        let mut files = ProjectionFiles {
            dir,
            state,
            lens: start.lens,
        };
        files.catch_up(store)?;
        Ok(files)
    }

    /// Rebuilds every projection file into `dir` (which should be empty) from the whole log.
    ///
    /// # Errors
    /// As [`ProjectionFiles::open`].
    pub fn rebuild(dir: impl AsRef<Path>, store: &dyn EventStore) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let _ = std::fs::remove_file(dir.join(CHECKPOINT_FILE));
        Self::open(dir, store)
    }

    /// Projects every event after the last one applied, appends their audit lines, and rewrites
    /// `autonomy_state.json` and the checkpoint.
    ///
    /// # Errors
    /// A storage or file error, or an unreadable event.
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<(), StoreError> {
        let mut writers: [Option<BufWriter<File>>; AuditFile::ALL.len()] = Default::default();
        for rec in iter_from(store, self.state.last_seq + 1) {
            let rec = rec?;
            let event = rec.event().map_err(|source| StoreError::Corrupt {
                seq: rec.seq,
                source,
            })?;
            let line = audit_line(&rec, &event);
            self.state.apply_decoded(&rec, event);
            if let Some((file, line)) = line {
                let i = file.idx();
                if writers[i].is_none() {
                    let path = self.dir.join(file.file_name());
                    let f = OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .map_err(io_err("cannot open", &path))?;
                    writers[i] = Some(BufWriter::new(f));
                }
                if let Some(w) = writers[i].as_mut() {
                    let path = self.dir.join(file.file_name());
                    w.write_all(line.as_bytes())
                        .map_err(io_err("cannot write", &path))?;
                }
                self.lens[i] += line.len() as u64;
            }
        }
        for (i, w) in writers.iter_mut().enumerate() {
            if let Some(w) = w {
                let path = self.dir.join(AuditFile::ALL[i].file_name());
                w.flush().map_err(io_err("cannot write", &path))?;
            }
        }
        self.write_atomically(AUTONOMY_FILE, &self.autonomy_json())?;
        let checkpoint = Checkpoint {
            seq: self.state.last_seq,
            lens: self.lens,
        };
        self.write_atomically(CHECKPOINT_FILE, &checkpoint.render())
    }

    fn autonomy_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.state.autonomy).unwrap_or_default();
        text.push('\n');
        text
    }

    fn write_atomically(&self, name: &str, text: &str) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).map_err(io_err("cannot write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("cannot replace", &path))
    }

    /// The projections in memory.
    pub fn state(&self) -> &Projections {
        &self.state
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
