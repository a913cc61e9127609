//! A look at a store directory that writes nothing to it: what `audit verify` and `audit
//! replay` open.
//!
//! sled 0.34.7 has no read-only mode: opening a database recovers it, writes a snapshot and
//! takes its lock file. So the inspection copies `db/` into a scratch directory (removed on
//! drop) and opens the copy; the store directory itself is only read, and a read-only
//! directory can be verified. The acknowledged-head marker is read, never required: a missing,
//! damaged or disagreeing marker is a [`Finding`], and the chain is verified all the same.
//!
//! When sled cannot read a page, the damage is named by the file and offset sled gives, and by
//! the events whose records lie around it: a forensic scan of sled's files for our own records
//! (each self-delimiting and carrying its sequence number and hash, see `record.rs`; sled 0.34
//! stores values uncompressed) tells which sequences are intact somewhere in the files and
//! which are not.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sled_store::{read_marker, MarkerError, HEAD_MARKER, LOCK_FILE};
use super::{EventStore, SledEventStore};
use crate::audit::{verify_chain, ChainReport};
use crate::error::StoreError;
use crate::record::{decode_record, hex, verify_record, Hash};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Damage: events are unreadable or lost, or the chain is broken.
    Error,
    /// Something to look at that loses nothing by itself.
    Warning,
}

/// One thing an inspection found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file it is in, relative to the data directory (`events/db/db`, …).
    pub file: Option<String>,
    /// The byte offset in that file, when known.
    pub offset: Option<u64>,
    /// The events it affects (first, last), when known.
    pub seqs: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub recovery: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "DAMAGE",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.message)?;
        let mut at = Vec::new();
        if let Some((a, b)) = self.seqs {
            at.push(if a == b {
                format!("event {a}")
            } else {
                format!("events {a}–{b}")
            });
        }
        if let Some(file) = &self.file {
            at.push(match self.offset {
                Some(o) => format!("{file} at byte {o}"),
                None => file.clone(),
            });
        }
        if !at.is_empty() {
            write!(f, " [{}]", at.join(", "))?;
        }
        if let Some(r) = &self.recovery {
            write!(f, "\n  → {r}")?;
        }
        Ok(())
    }
}

/// What the marker file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MarkerState {
    /// It names this head.
    Present {
        /// The acknowledged sequence.
        seq: u64,
        /// Its hash, hex.
        hash: String,
    },
    /// There is none.
    Missing,
    /// It cannot be read as a head.
    Damaged {
        /// Why.
        reason: String,
    },
}

/// Where the hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// The first event whose record, hash, link or payload is wrong.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The result of an inspection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inspection {
    /// Whether the chain was walked (sled could open the files).
    pub walked: bool,
    /// Where the chain breaks, if it does.
    pub broken: Option<Break>,
    /// Events that verified, in order from the first.
    pub verified: u64,
    /// The last verified event's hash, hex.
    pub head_hash: String,
    /// The acknowledged-head marker.
    pub marker: MarkerState,
    /// Everything found, damage first.
    pub findings: Vec<Finding>,
}

impl Inspection {
    /// A data directory without an event store: an empty log, unless its projections say
    /// events were written through `projected` (then the log is lost).
    pub fn missing_log(projected: Option<u64>) -> Inspection {
        let findings = match projected {
            Some(p) if p > 0 => vec![Finding {
                severity: Severity::Error,
                file: Some("events/db".into()),
                offset: None,
                seqs: Some((1, p)),
                message: format!(
                    "the event log is missing, but the projections were written from events 1–{p}"
                ),
                recovery: Some(RESTORE.into()),
            }],
            _ => Vec::new(),
        };
        Inspection {
            walked: true,
            broken: None,
            verified: 0,
            head_hash: hex(&[0; 32]),
            marker: MarkerState::Missing,
            findings,
        }
    }

    /// Whether nothing is damaged (warnings allowed).
    pub fn ok(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity == Severity::Warning)
    }
}

/// A scratch copy of a store, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies `from` (a directory tree) into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(to).map_err(crate::error::io_err("cannot create", to))?;
    let entries = std::fs::read_dir(from).map_err(crate::error::io_err("cannot read", from))?;
    for entry in entries {
        let entry = entry.map_err(crate::error::io_err("cannot read", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(crate::error::io_err("cannot read", &src))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(crate::error::io_err("cannot read", &src))?;
        }
    }
    Ok(())
}

/// Opens a copy of the store in `path` (a data directory's `events/`) without writing to
/// `path`: refused as [`StoreError::Locked`] while another process holds it (its files are
/// changing), [`StoreError::Open`] when the directory or its database does not exist.
///
/// # Errors
/// As said, and an error of sled opening the copy (the files are damaged): see [`inspect`]
/// for a report that names the damage instead.
pub fn open_copy(path: &Path) -> Result<(SledEventStore, Scratch), StoreError> {
    let (scratch, _lock) = copy_store(path)?;
    let store = SledEventStore::open(scratch.path())?;
    Ok((store, scratch))
}

/// The lock (shared, while the copy is taken) and the copy.
fn copy_store(path: &Path) -> Result<(Scratch, Option<File>), StoreError> {
    let db = path.join("db");
    if !db.is_dir() {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: "there is no event store here (no db/ directory)".into(),
        });
    }
    // A shared lock on the lock file, if there is one: a writer holds it exclusively.
    let lock = match File::open(path.join(LOCK_FILE)) {
        Ok(f) => match f.try_lock_shared() {
            Ok(()) => Some(f),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(_)) => None,
        },
        Err(_) => None,
    };
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "stratagem-inspect-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7()
    )));
    copy_tree(&db, &scratch.path().join("db"))?;
    Ok((scratch, lock))
}

/// Where a record was found in sled's files.
#[derive(Debug, Clone)]
struct Found {
    file: String,
    offset: u64,
    len: u64,
    /// Whether its hash verifies (a record that parses but does not is a damaged copy).
    intact: bool,
}

/// Every record of ours that is intact somewhere in sled's files (`db`, and `blobs/*` for
/// large values), by sequence number; older copies of a page count too.
fn scan(db: &Path) -> BTreeMap<u64, Vec<Found>> {
    let mut found: BTreeMap<u64, Vec<Found>> = BTreeMap::new();
    let mut files = vec![(db.join("db"), "events/db/db".to_string())];
    if let Ok(blobs) = std::fs::read_dir(db.join("blobs")) {
        for b in blobs.flatten() {
            files.push((
                b.path(),
                format!("events/db/blobs/{}", b.file_name().to_string_lossy()),
            ));
        }
    }
    for (path, name) in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for (offset, len, seq, intact) in records_in(&bytes) {
            found.entry(seq).or_default().push(Found {
                file: name.clone(),
                offset,
                len,
                intact,
            });
        }
    }
    found
}

/// The intact copies only.
fn intact(found: &BTreeMap<u64, Vec<Found>>) -> BTreeMap<u64, Vec<Found>> {
    found
        .iter()
        .filter_map(|(seq, places)| {
            let kept: Vec<Found> = places.iter().filter(|p| p.intact).cloned().collect();
            (!kept.is_empty()).then_some((*seq, kept))
        })
        .collect()
}

/// The first damaged copy of a record in the files: (sequence, where).
fn first_damaged(found: &BTreeMap<u64, Vec<Found>>) -> Option<(u64, Found)> {
    found
        .iter()
        .flat_map(|(seq, places)| {
            places
                .iter()
                .filter(|p| !p.intact)
                .map(|p| (*seq, p.clone()))
        })
        .min_by_key(|(_, p)| (p.file.clone(), p.offset))
}

/// The records of ours in `bytes`: (offset, length, sequence, whether its hash verifies) of
/// each that parses.
fn records_in(bytes: &[u8]) -> Vec<(u64, u64, u64, bool)> {
    // format(1) seq(8) id(16) time(8) schema(2) name_len(1) name payload_len(4) payload
    // prev(32) hash(32)
    const HEAD: usize = 1 + 8 + 16 + 8 + 2;
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEAD + 1 < bytes.len() {
        let Some(next) = bytes[at..].iter().position(|b| *b == crate::record::FORMAT) else {
            break;
        };
        let i = at + next;
        at = i + 1;
        let Some(&name_len) = bytes.get(i + HEAD) else {
            break;
        };
        let name_at = i + HEAD + 1;
        let Some(name) = bytes.get(name_at..name_at + name_len as usize) else {
            continue;
        };
        if name_len == 0
            || !name
                .iter()
                .all(|b| b.is_ascii_lowercase() || *b == b'.' || *b == b'_')
        {
            continue;
        }
        let len_at = name_at + name_len as usize;
        let Some(len) = bytes.get(len_at..len_at + 4) else {
            continue;
        };
        let payload = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = len_at + 4 + payload + 64;
        let Some(record) = bytes.get(i..end) else {
            continue;
        };
        if let Ok(rec) = decode_record(record) {
            out.push((
                i as u64,
                record.len() as u64,
                rec.seq,
                verify_record(record),
            ));
            at = end;
        }
    }
    out
}

/// The sequences of `1..=last` with no intact record, as ranges.
fn missing_ranges(found: &BTreeMap<u64, Vec<Found>>, last: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut start = None;
    for seq in 1..=last {
        match (found.contains_key(&seq), start) {
            (false, None) => start = Some(seq),
            (true, Some(s)) => {
                out.push((s, seq - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, last));
    }
    out
}

/// The events whose records lie at or around `offset` of `file`: the one containing it, else
/// the last before and the first after it.
fn seqs_around(found: &BTreeMap<u64, Vec<Found>>, file: &str, offset: u64) -> Option<(u64, u64)> {
    let mut before: Option<(u64, u64)> = None; // (offset, seq)
    let mut after: Option<(u64, u64)> = None;
    for (seq, places) in found {
        for p in places.iter().filter(|p| p.file == file) {
            if p.offset <= offset && offset < p.offset + p.len {
                return Some((*seq, *seq));
            }
            if p.offset + p.len <= offset && before.is_none_or(|(o, _)| p.offset > o) {
                before = Some((p.offset, *seq));
            }
            if p.offset > offset && after.is_none_or(|(o, _)| p.offset < o) {
                after = Some((p.offset, *seq));
            }
        }
    }
    match (before, after) {
        (Some((_, a)), Some((_, b))) => Some((a.min(b), a.max(b))),
        (Some((_, a)), None) => Some((a, a)),
        (None, Some((_, b))) => Some((b, b)),
        (None, None) => None,
    }
}

/// sled's "at file offset Some(Inline(71624))" / "Some(Blob(71624, 12))": the file and
/// offset it names.
fn sled_offset(message: &str) -> Option<(String, u64)> {
    let number = |s: &str| -> Option<u64> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    if let Some(i) = message.find("Inline(") {
        return Some(("events/db/db".into(), number(&message[i + 7..])?));
    }
    if let Some(i) = message.find("Blob(") {
        let rest = &message[i + 5..];
        let offset = number(rest)?;
        let blob = rest.split(',').nth(1).and_then(|s| number(s.trim()));
        return Some(match blob {
            Some(b) => (format!("events/db/blobs/{b}"), offset),
            None => ("events/db/db".into(), offset),
        });
    }
    None
}

const RESTORE: &str =
    "restore events/ from a backup; `stratagem audit export` of a copy keeps what still verifies";

/// Inspects the store in `path` (a data directory's `events/`), writing nothing there.
/// `projected` is how far the projection files say the log went (their checkpoint), to tell a
/// lost tail when the marker is missing.
///
/// # Errors
/// Only what stops any look: the directory is held by another process, or holds no store.
pub fn inspect(path: &Path, projected: Option<u64>) -> Result<Inspection, StoreError> {
    let (scratch, lock) = copy_store(path)?;
    let mut findings = Vec::new();
    let marker = marker_state(path);
    let chain = match walk(scratch.path()) {
        Ok(report) => Some(report),
        Err(message) => {
            // sled keeps two files of its own beside its log: its page-table snapshot (a cache
            // it rebuilds from the log) and its config. Is the log intact without one of them?
            let acknowledged = match &marker {
                MarkerState::Present { seq, .. } => *seq,
                _ => 0,
            };
            match without_sled_file(path, &scratch) {
                // Without it the log opens, but ends before what was acknowledged: the damage is
                // in the log (the file was refused for what it pointed into), said below.
                Some((_, report)) if report.verified < acknowledged => Some(report),
                Some((file, report)) => {
                    findings.push(Finding {
                        severity: Severity::Error,
                        file: Some(format!("events/db/{file}")),
                        offset: None,
                        seqs: None,
                        message: format!(
                            "sled cannot open the store: its {} is damaged; the log itself is intact ({} events verify without it)",
                            if file == "conf" { "config file" } else { "page-table snapshot (a cache of its log)" },
                            report.verified
                        ),
                        recovery: Some(format!(
                            "stop every stratagem process, then delete events/db/{file}: sled rebuilds it from the log{}",
                            if file == "conf" { " with the defaults stratagem uses" } else { "" }
                        )),
                    });
                    Some(report)
                }
                None => {
                    findings.push(engine_damage(&message, &scratch));
                    None
                }
            }
        }
    };
    drop(lock);
    Ok(conclude(path, projected, marker, chain, findings))
}

/// The inspection of a store kept elsewhere than a data directory's `events/` (a JetStream
/// stream, `label` its address): the chain walked through the store. There is no head marker
/// and no file to name; the stream's own replication keeps its copies.
pub fn inspect_store(store: &dyn EventStore, label: &str) -> Inspection {
    let (chain, findings) = match verify_chain(store) {
        Ok(report) => {
            let findings = report
                .first_break
                .iter()
                .map(|b| Finding {
                    severity: Severity::Error,
                    file: Some(label.to_string()),
                    offset: None,
                    seqs: Some((b.seq, b.seq)),
                    message: format!("the hash chain breaks: {}", b.reason),
                    recovery: Some(format!("events 1–{} verify; {RESTORE}", report.verified)),
                })
                .collect();
            (Some(report), findings)
        }
        Err(e) => (
            None,
            vec![Finding {
                severity: Severity::Error,
                file: Some(label.to_string()),
                offset: None,
                seqs: None,
                message: format!("the store cannot be read: {}", one_line(&e.to_string())),
                recovery: None,
            }],
        ),
    };
    Inspection {
        walked: chain.is_some(),
        broken: chain
            .as_ref()
            .and_then(|c| c.first_break.as_ref())
            .map(|b| Break {
                seq: b.seq,
                reason: b.reason.clone(),
            }),
        verified: chain.as_ref().map_or(0, |c| c.verified),
        head_hash: hex(&chain.as_ref().map_or([0; 32], |c| c.head_hash)),
        marker: MarkerState::Missing,
        findings,
    }
}

/// The inspection of a store this process has open (the daemon's, for a reader that asks it):
/// the chain walked on the live store (in directory `path`), the marker read beside it.
/// Nothing is written.
pub fn inspect_open(store: &dyn EventStore, path: &Path, projected: Option<u64>) -> Inspection {
    let path = path.to_path_buf();
    let marker = marker_state(&path);
    let mut findings = Vec::new();
    let chain = match verify_chain(store) {
        Ok(report) => Some(report),
        Err(e) => {
            findings.push(Finding {
                severity: Severity::Error,
                file: Some("events/db".into()),
                offset: sled_offset(&e.to_string()).map(|(_, o)| o),
                seqs: None,
                message: format!(
                    "the storage engine cannot read the log: {}",
                    one_line(&e.to_string())
                ),
                recovery: Some(RESTORE.into()),
            });
            None
        }
    };
    conclude(&path, projected, marker, chain, findings)
}

fn marker_state(path: &Path) -> MarkerState {
    match read_marker(path) {
        Ok(Some((seq, hash))) => MarkerState::Present {
            seq,
            hash: hex(&hash),
        },
        Ok(None) => MarkerState::Missing,
        Err(MarkerError::Unreadable(e)) => MarkerState::Damaged {
            reason: format!("cannot be read: {e}"),
        },
        Err(MarkerError::Malformed) => MarkerState::Damaged {
            reason: "it is not a sequence number and a 64-digit hash".into(),
        },
    }
}

/// What the chain, the marker and sled's files say, as findings.
fn conclude(
    path: &Path,
    projected: Option<u64>,
    marker: MarkerState,
    chain: Option<ChainReport>,
    mut findings: Vec<Finding>,
) -> Inspection {
    // sled's files are read (whole) at most once, and only when there is damage to locate.
    let scanned = std::cell::OnceCell::new();
    let files = || scanned.get_or_init(|| scan(&path.join("db")));
    let marker_file = format!("events/{HEAD_MARKER}");
    let verified = chain.as_ref().map_or(0, |c| c.verified);
    let head_hash: Hash = chain.as_ref().map_or([0; 32], |c| c.head_hash);
    if let Some(b) = chain.as_ref().and_then(|c| c.first_break.clone()) {
        let places = files();
        let place = places
            .get(&b.seq)
            .and_then(|p| p.iter().find(|p| !p.intact).or(p.first()))
            .cloned();
        findings.push(Finding {
            severity: Severity::Error,
            file: Some(
                place
                    .as_ref()
                    .map_or("events/db/db".into(), |p| p.file.clone()),
            ),
            offset: place.map(|p| p.offset),
            seqs: Some((b.seq, b.seq)),
            message: format!("the hash chain breaks: {}", b.reason),
            recovery: Some(format!("events 1–{verified} verify; {RESTORE}")),
        });
    }
    // The damage sled reported, named by the events around it.
    let lost_engine = findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.seqs.is_none());
    if lost_engine {
        let found = intact(files());
        for f in findings.iter_mut().filter(|f| f.seqs.is_none()) {
            if let (Some(file), Some(offset)) = (&f.file, f.offset) {
                f.seqs = seqs_around(&found, file, offset);
            }
        }
        let last = match &marker {
            MarkerState::Present { seq, .. } => *seq,
            _ => found.keys().next_back().copied().unwrap_or(0),
        }
        .max(found.keys().next_back().copied().unwrap_or(0));
        let intact = found.len() as u64;
        for (a, b) in missing_ranges(&found, last) {
            findings.push(Finding {
                severity: Severity::Error,
                file: Some("events/db/db".into()),
                offset: None,
                seqs: Some((a, b)),
                message: format!(
                    "no intact record of these events is left in the store's files ({intact} of {last} are)"
                ),
                recovery: Some(RESTORE.into()),
            });
        }
    }
    match &marker {
        MarkerState::Present { seq, hash } if chain.is_some() => {
            let head = chain.as_ref().map_or(0, |c| c.verified);
            let complete = chain.as_ref().is_some_and(|c| c.first_break.is_none());
            if *seq > head && complete {
                // sled stops reading its log at a damaged page (it takes it for a write a crash
                // cut short): where, and what is still in the file after it.
                let all = files();
                let damaged = first_damaged(all);
                let found = intact(all);
                let beyond = found.range(head + 1..=*seq).count();
                let (file, offset, at) = match &damaged {
                    Some((_, p)) => (
                        p.file.clone(),
                        Some(p.offset),
                        format!("a damaged record (bytes {}–{})", p.offset, p.offset + p.len),
                    ),
                    None => ("events/db/db".to_string(), None, "a damaged page".to_string()),
                };
                findings.push(Finding {
                    severity: Severity::Error,
                    file: Some(file),
                    offset,
                    seqs: Some((head + 1, *seq)),
                    message: format!(
                        "the log ends at event {head}, but events up to {seq} were acknowledged: sled stops reading its log at {at}; intact records of {beyond} of the {} events after it are still in the file",
                        seq - head
                    ),
                    recovery: Some(RESTORE.into()),
                });
            } else if complete && *seq == head && *hash != hex(&head_hash) {
                findings.push(Finding {
                    severity: Severity::Error,
                    file: Some(marker_file.clone()),
                    offset: None,
                    seqs: Some((*seq, *seq)),
                    message: format!(
                        "event {seq} hashes to {}, but the marker acknowledged {hash}",
                        hex(&head_hash)
                    ),
                    recovery: Some(RESTORE.into()),
                });
            }
        }
        MarkerState::Present { .. } => {}
        MarkerState::Missing => {
            let head = verified;
            match projected {
                Some(p) if p > head => findings.push(Finding {
                    severity: Severity::Warning,
                    file: Some(marker_file.clone()),
                    offset: None,
                    seqs: Some((head + 1, p)),
                    message: format!(
                        "the acknowledged-head marker is missing, and the log ends at event {head} while the projections were written up to event {p}: {} event(s) may be lost",
                        p - head
                    ),
                    recovery: Some(format!(
                        "if events {}–{p} were lost, {RESTORE}; otherwise the next command that writes recreates the marker",
                        head + 1
                    )),
                }),
                _ => findings.push(Finding {
                    severity: Severity::Warning,
                    file: Some(marker_file.clone()),
                    offset: None,
                    seqs: None,
                    message: format!(
                        "the acknowledged-head marker is missing: a lost tail could not be told (the log ends at event {head})"
                    ),
                    recovery: Some(
                        "the next command that writes recreates it".into(),
                    ),
                }),
            }
        }
        MarkerState::Damaged { reason } => findings.push(Finding {
            severity: Severity::Error,
            file: Some(marker_file.clone()),
            offset: None,
            seqs: None,
            message: format!("the acknowledged-head marker is damaged: {reason}"),
            recovery: Some(format!(
                "the chain verifies up to event {verified} ({}); if that is the whole log, delete {marker_file} and the next command that writes recreates it, else {RESTORE}",
                hex(&head_hash)
            )),
        }),
    }
    findings.sort_by_key(|f| f.severity == Severity::Warning);
    Inspection {
        verified,
        head_hash: hex(&head_hash),
        walked: chain.is_some(),
        broken: chain
            .as_ref()
            .and_then(|c| c.first_break.clone())
            .map(|b| Break {
                seq: b.seq,
                reason: b.reason,
            }),
        marker,
        findings,
    }
}

/// Opens the store in `scratch` and walks its chain; what sled said when it cannot.
fn walk(scratch: &Path) -> Result<ChainReport, String> {
    match std::panic::catch_unwind(|| SledEventStore::open(scratch)) {
        Ok(Ok(store)) => verify_chain(&store).map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the storage engine crashed reading its files".into()),
    }
}

/// The sled file (`snap.*` or `conf`) without which a copy of the store opens and its chain
/// verifies to the end, with that walk.
fn without_sled_file(path: &Path, scratch: &Scratch) -> Option<(String, ChainReport)> {
    let db = path.join("db");
    let mut candidates: Vec<String> = std::fs::read_dir(&db)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    candidates.sort();
    candidates.push("conf".into());
    for file in candidates {
        let trial = scratch.path().with_extension(format!("without-{file}"));
        let trial = Scratch(trial);
        if copy_tree(&db, &trial.path().join("db")).is_err() {
            continue;
        }
        let _ = std::fs::remove_file(trial.path().join("db").join(&file));
        if let Ok(report) = walk(trial.path()) {
            if report.first_break.is_none() && report.verified > 0 {
                return Some((file, report));
            }
        }
    }
    None
}

/// A finding for what sled said of its files (the scratch copy's path named as the data
/// directory's).
fn engine_damage(message: &str, scratch: &Scratch) -> Finding {
    let message = message.replace(&scratch.path().display().to_string(), "events");
    let (file, offset) = match sled_offset(&message) {
        Some((file, offset)) => (Some(file), Some(offset)),
        None => (Some("events/db".to_string()), None),
    };
    Finding {
        severity: Severity::Error,
        file,
        offset,
        seqs: None,
        message: format!(
            "the storage engine cannot read the log: {}",
            one_line(&message)
        ),
        recovery: Some(RESTORE.into()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleds_offsets_are_read() {
        assert_eq!(
            sled_offset("Read corrupted data at file offset Some(Inline(71624)) backtrace ()"),
            Some(("events/db/db".into(), 71624))
        );
        assert_eq!(
            sled_offset("corrupted at Some(Blob(512, 17))"),
            Some(("events/db/blobs/17".into(), 512))
        );
        assert_eq!(sled_offset("something else"), None);
    }

    #[test]
    fn missing_ranges_are_runs() {
        let mut found = BTreeMap::new();
        for s in [1u64, 2, 5, 6, 9] {
            found.insert(s, Vec::new());
        }
        assert_eq!(missing_ranges(&found, 10), vec![(3, 4), (7, 8), (10, 10)]);
    }
}
