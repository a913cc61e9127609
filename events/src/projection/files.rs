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
//!
//! Restart cost: the in-memory state is loaded from the snapshot (`projections.snapshot`, see
//! [`super::snapshot`]) when it checks out against the log, and only the events after it are
//! replayed; a snapshot that does not is discarded, the state rebuilt from sequence 1, and a
//! fresh snapshot written. The checkpoint and the snapshot are replaced durably (synced, then
//! renamed, then the directory synced) before they count.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::snapshot::{self, Snapshot, SnapshotRejected, SNAPSHOT_EVERY, SNAPSHOT_FILE};
use super::{audit_line, AuditFile, AutonomyState, Projections, SourceHealth};
use crate::durable;
use crate::error::{io_err, StoreError};
use crate::record::{hex, Hash};
use crate::store::{iter_from, EventStore};
use std::collections::BTreeMap;

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

/// The last sequence the projection files in `dir` were written through, as their checkpoint
/// records it (`None` without a readable checkpoint). Reads only.
pub fn projected_through(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
    Checkpoint::parse(&text).map(|c| c.seq)
}

/// Name of the summary file.
pub const SUMMARY_FILE: &str = "projections.summary";

/// What `status` shows, as of one event: the seed's counters and the sources' health. It is
/// rewritten beside the checkpoint at every catch-up, so showing the status costs neither a
/// replay nor the read models; like the snapshot it is a cache, used only when it is of the
/// log's head (sequence and hash) — see [`read_summary`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// The sequence number it is of.
    pub seq: u64,
    /// The hash of that event, hex.
    pub hash: String,
    /// The seed's counters.
    pub autonomy: AutonomyState,
    /// The sources' health.
    pub sources: BTreeMap<String, SourceHealth>,
    /// Messages in the notifications' outbox, not delivered yet.
    #[serde(default)]
    pub notifications_waiting: u64,
    /// The account's risk state.
    #[serde(default)]
    pub risk: super::RiskView,
    /// The execution venue's orders and balances.
    #[serde(default)]
    pub venue: VenueSummary,
    /// What the events say about the seed's success criteria.
    #[serde(default)]
    pub kpis: super::kpi::KpiLog,
}

/// The execution venue as `status` reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VenueSummary {
    /// Orders the log sent or will send.
    pub orders: u64,
    /// Of those, waiting for the venue's answer.
    pub waiting: u64,
    /// The balances of the last reconciliation.
    pub balances: Vec<crate::VenueBalance>,
}

impl VenueSummary {
    /// Of the read model's view of the venue.
    pub fn of(v: &super::VenueView) -> VenueSummary {
        VenueSummary {
            orders: v.known.len() as u64,
            waiting: v.pending.len() as u64,
            balances: v.balances.clone(),
        }
    }
}

/// The summary in `dir`, when it is of the log's head; `None` when it is missing, unreadable
/// or of another point of the log (then the projections are opened instead).
pub fn read_summary(dir: &Path, store: &dyn EventStore) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
    let summary: Summary = serde_json::from_str(&text).ok()?;
    let head = store.head();
    (summary.seq == head.seq && summary.hash == hex(&head.hash)).then_some(summary)
}

/// What became of the snapshot when the projections were opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotUse {
    /// Loaded: only the events after this sequence number were replayed.
    Loaded {
        /// The sequence number it covers.
        seq: u64,
    },
    /// There was none (or none was needed): the log was replayed from the start.
    Absent,
    /// It was refused, and the log replayed from the start instead; a fresh one is written.
    Discarded(SnapshotRejected),
}

/// The projections of one data directory, in memory and on disk.
pub struct ProjectionFiles {
    dir: PathBuf,
    state: Projections,
    /// Hash of the event at `state.last_seq`.
    hash: Hash,
    lens: [u64; AuditFile::ALL.len()],
    /// The sequence number the snapshot on disk covers.
    snapshot_seq: u64,
    snapshot_use: SnapshotUse,
    /// A catch-up failed part way: the files may hold lines the state does not match.
    broken: bool,
}

/// Reads the snapshot in `dir`, if any, and checks it against the log.
fn read_snapshot(dir: &Path, store: &dyn EventStore) -> Result<Option<Snapshot>, SnapshotRejected> {
    let bytes = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(SnapshotRejected::Damaged("unreadable")),
    };
    let snap = snapshot::decode(&bytes)?;
    let seq = snap.state.last_seq;
    let not_of_this_log = |why: String| SnapshotRejected::NotOfThisLog { seq, why };
    if seq > 0 {
        let rec = store
            .read(seq, 1)
            .map_err(|e| not_of_this_log(format!("cannot be read there: {e}")))?;
        match rec.first() {
            Some(rec) if rec.seq == seq && rec.hash == snap.hash => {}
            Some(_) => return Err(not_of_this_log("holds another event there".into())),
            None => return Err(not_of_this_log("ends before it".into())),
        }
    }
    let files_long_enough = AuditFile::ALL.iter().all(|f| {
        std::fs::metadata(dir.join(f.file_name()))
            .map(|m| m.len() >= snap.lens[f.idx()])
            .unwrap_or(false)
    });
    if !files_long_enough {
        return Err(SnapshotRejected::FilesShorter);
    }
    Ok(Some(snap))
}

impl ProjectionFiles {
    /// Opens the projections in `dir`, repairs them after a crash, and brings them up to the
    /// end of the log: the snapshot is loaded (when it checks out against the log) and only the
    /// events after it are replayed.
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
        let (snap, snapshot_use) = match read_snapshot(&dir, store) {
            Ok(Some(snap)) => {
                let seq = snap.state.last_seq;
                (Some(snap), SnapshotUse::Loaded { seq })
            }
            Ok(None) => (None, SnapshotUse::Absent),
            Err(why) => {
                tracing::warn!(dir = %dir.display(), %why, "projection snapshot discarded; rebuilding from the log");
                (None, SnapshotUse::Discarded(why))
            }
        };
        // Where the files are cut back to: the checkpoint, else the snapshot's own lengths,
        // else nothing (every file rebuilt). A snapshot beyond that point is of no use.
        let start = match (usable, &snap) {
            (Some(c), _) => c,
            (None, Some(s)) => Checkpoint {
                seq: s.state.last_seq,
                lens: s.lens,
            },
            (None, None) => Checkpoint {
                seq: 0,
                lens: [0; AuditFile::ALL.len()],
            },
        };
        let (snap, snapshot_use) = match snap {
            Some(s) if s.state.last_seq > start.seq => (
                None,
                SnapshotUse::Discarded(SnapshotRejected::AheadOfCheckpoint {
                    seq: s.state.last_seq,
                    checkpoint: start.seq,
                }),
            ),
            other => (other, snapshot_use),
        };
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
        let (mut state, mut hash, snapshot_seq) = match snap {
            Some(s) => {
                let seq = s.state.last_seq;
                (s.state, s.hash, seq)
            }
            None => (Projections::default(), [0; 32], 0),
        };
        // Bring the state up to the checkpoint without writing: those lines exist.
        for rec in iter_from(store, state.last_seq + 1) {
            let rec = rec?;
            if rec.seq > start.seq {
                break;
            }
            state.apply(&rec).map_err(|source| StoreError::Corrupt {
                seq: rec.seq,
                source,
            })?;
            hash = rec.hash;
        }
        let mut files = ProjectionFiles {
            dir,
            state,
            hash,
            lens: start.lens,
            snapshot_seq,
            snapshot_use,
            broken: false,
        };
        files.advance(store, true)?;
        // A snapshot that was missing or refused is replaced at once.
        if !matches!(files.snapshot_use, SnapshotUse::Loaded { .. }) && files.state.last_seq > 0 {
            files.save_snapshot()?;
        }
        Ok(files)
    }

    /// Rebuilds every projection file into `dir` (which should be empty) from the whole log.
    ///
    /// # Errors
    /// As [`ProjectionFiles::open`].
    pub fn rebuild(dir: impl AsRef<Path>, store: &dyn EventStore) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let _ = std::fs::remove_file(dir.join(CHECKPOINT_FILE));
        let _ = std::fs::remove_file(dir.join(SNAPSHOT_FILE));
        Self::open(dir, store)
    }

    /// Projects every event after the last one applied, appends their audit lines, and rewrites
    /// `autonomy_state.json` and the checkpoint (and the snapshot every [`SNAPSHOT_EVERY`]
    /// events).
    ///
    /// # Errors
    /// A storage or file error, or an unreadable event.
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<(), StoreError> {
        self.advance(store, false)
    }

    /// As [`ProjectionFiles::catch_up`]; with nothing new, the files are rewritten only when
    /// `rewrite` (at open: a deleted `autonomy_state.json` comes back).
    fn advance(&mut self, store: &dyn EventStore, rewrite: bool) -> Result<(), StoreError> {
        if !rewrite && self.state.last_seq == store.head().seq {
            return Ok(());
        }
        self.broken = true;
        let mut writers: [Option<BufWriter<File>>; AuditFile::ALL.len()] = Default::default();
        for rec in iter_from(store, self.state.last_seq + 1) {
            let rec = rec?;
            let event = rec.event().map_err(|source| StoreError::Corrupt {
                seq: rec.seq,
                source,
            })?;
            let line = audit_line(&rec, &event);
            self.state.apply_decoded(&rec, event);
            self.hash = rec.hash;
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
        let summary = Summary {
            seq: self.state.last_seq,
            hash: hex(&self.hash),
            autonomy: self.state.autonomy.clone(),
            sources: self.state.sources.clone(),
            notifications_waiting: self.state.outbox.len() as u64,
            risk: self.state.risk.clone(),
            venue: VenueSummary::of(&self.state.venue),
            kpis: self.state.kpis.clone(),
        };
        self.write_atomically(
            SUMMARY_FILE,
            &serde_json::to_string(&summary).unwrap_or_default(),
        )?;
        let checkpoint = Checkpoint {
            seq: self.state.last_seq,
            lens: self.lens,
        };
        durable::replace(&self.dir, CHECKPOINT_FILE, checkpoint.render().as_bytes())?;
        if self.state.last_seq >= self.snapshot_seq + SNAPSHOT_EVERY {
            self.save_snapshot()?;
        }
        self.broken = false;
        Ok(())
    }

    /// Whether a catch-up failed part way. Such a value must not be kept: reopening (which
    /// repairs the files from the checkpoint) is the way on.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Writes the snapshot of the projections as they are now (durably), so the next open
    /// replays nothing before this point.
    ///
    /// # Errors
    /// A file error naming the file.
    pub fn save_snapshot(&mut self) -> Result<(), StoreError> {
        let bytes = snapshot::encode(&self.state, &self.hash, &self.lens);
        durable::replace(&self.dir, SNAPSHOT_FILE, &bytes)?;
        self.snapshot_seq = self.state.last_seq;
        Ok(())
    }

    /// What became of the snapshot at open.
    pub fn snapshot_use(&self) -> &SnapshotUse {
        &self.snapshot_use
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
