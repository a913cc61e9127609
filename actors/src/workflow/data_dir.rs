//! The data directory — the workflows' `Log`: the event store in `events/` and the projection
//! files beside it, opened together. Every workflow appends through [`DataDir::append`], which
//! makes the events durable and then brings the projections up to date, so a decision is read
//! back from the same state it was recorded in.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendAck, AppendRequest, EventStore, SledEventStore, StoreError};

use super::{Context, Result, WorkflowError};

/// An open data directory.
pub struct DataDir {
    root: PathBuf,
    store: Arc<dyn EventStore>,
    /// Whether other processes may write the log (`--store nats://…`).
    shared: bool,
    /// Held while this value (or projections it lent) lives, when the store is kept open by
    /// the process.
    lease: Option<Arc<Lease>>,
    /// The scratch copy the store was opened from, for a read-only look (removed after the
    /// store is dropped: fields drop in order).
    _scratch: Option<stratagem_events::store::inspect::Scratch>,
}

/// A turn at the kept store. The next holder waits until every part of this turn — the
/// [`DataDir`] and the [`Projected`] it handed out — is gone, so the projections are back in
/// their slot before anyone can take them: two holders never write the files.
struct Lease(Arc<Kept>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.lent.store(false, Ordering::SeqCst);
    }
}

/// A store the process keeps open for its whole life (`run`), lent to one holder at a time.
///
/// sled 0.34.7 does not give back the I/O buffers of a database closed while its background
/// threads still run (about 70 KiB an open in the daemon, found with heaptrack), so a daemon
/// that reopened the store each cycle grew without bound. It opens the store once; each phase
/// borrows it — one at a time, as the file lock made them take turns before, so two holders
/// never write the projection files at once.
struct Kept {
    root: PathBuf,
    store: Arc<dyn EventStore>,
    lent: AtomicBool,
    /// Where the log is when it is not the directory's own `events/` (`--store`).
    elsewhere: Option<String>,
    /// The projections in memory, handed from holder to holder: a phase takes them and only
    /// the events since the last holder are projected (no replay at each borrow).
    projections: Mutex<Option<ProjectionFiles>>,
}

/// The projections of a data directory, borrowed for as long as this value lives. When the
/// process keeps the directory open, they go back to it on drop, for the next holder.
pub struct Projected {
    files: Option<ProjectionFiles>,
    home: Option<Arc<Lease>>,
}

impl std::ops::Deref for Projected {
    type Target = ProjectionFiles;
    fn deref(&self) -> &ProjectionFiles {
        // Always `Some` until drop takes it.
        self.files.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Projected {
    fn deref_mut(&mut self) -> &mut ProjectionFiles {
        self.files.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Projected {
    fn drop(&mut self) {
        let (Some(files), Some(home)) = (self.files.take(), &self.home) else {
            return;
        };
        // A catch-up that failed part way is not kept: the next holder reopens (and repairs).
        if files.is_broken() {
            return;
        }
        if let Ok(mut slot) = home.0.projections.lock() {
            *slot = Some(files);
        }
    }
}

/// The stores this process keeps open, one per data directory.
static KEPT: Mutex<Vec<Arc<Kept>>> = Mutex::new(Vec::new());

/// Keeps the data directory's store open until dropped; see [`DataDir::keep_open`]. (Empty
/// when the store was kept open already, by an outer guard.)
pub struct KeepOpen(Option<Arc<Kept>>);

impl Drop for KeepOpen {
    fn drop(&mut self) {
        let Some(mine) = &self.0 else { return };
        if let Ok(mut kept) = KEPT.lock() {
            kept.retain(|k| !Arc::ptr_eq(k, mine));
        }
    }
}

impl DataDir {
    /// Opens (creating if needed) the data directory's event store. When this process keeps it
    /// open ([`DataDir::keep_open`]), it is borrowed instead — refused as in use while another
    /// holder has it, as another process's lock would be.
    pub fn open(root: &Path) -> Result<DataDir> {
        let kept = KEPT
            .lock()
            .ok()
            .and_then(|k| k.iter().find(|k| k.root == root).cloned());
        if let Some(k) = kept {
            if k.lent.swap(true, Ordering::SeqCst) {
                return Err(StoreError::Locked {
                    path: root.join("events"),
                })
                .with_context(|| format!("cannot open the data directory {}", root.display()));
            }
            return Ok(DataDir {
                root: root.to_path_buf(),
                store: k.store.clone(),
                shared: k
                    .elsewhere
                    .as_deref()
                    .is_some_and(|a| a.starts_with("nats://")),
                lease: Some(Arc::new(Lease(k))),
                _scratch: None,
            });
        }
        let store = SledEventStore::open(root.join("events"))
            .with_context(|| format!("cannot open the data directory {}", root.display()))?;
        Ok(DataDir {
            root: root.to_path_buf(),
            store: Arc::new(store),
            shared: false,
            lease: None,
            _scratch: None,
        })
    }

    /// Opens the data directory without writing anything to it (a read-only directory
    /// included): the store is a scratch copy of `events/`, removed when this value is dropped.
    /// Its projections are not to be opened (they would be written in `root`): read the log.
    /// A store the process keeps open elsewhere (`--store nats://…`) is read where it is.
    ///
    /// # Errors
    /// The directory is in use by another process, holds no store, or its files are damaged
    /// (`audit verify` names the damage).
    pub fn open_read_only(root: &Path) -> Result<DataDir> {
        if let Some(store) = DataDir::kept_elsewhere(root) {
            return Ok(DataDir {
                root: root.to_path_buf(),
                store,
                shared: true,
                lease: None,
                _scratch: None,
            });
        }
        let (store, scratch) = stratagem_events::store::inspect::open_copy(&root.join("events"))
            .with_context(|| format!("cannot read the data directory {}", root.display()))?;
        Ok(DataDir {
            root: root.to_path_buf(),
            store: Arc::new(store),
            shared: false,
            lease: None,
            _scratch: Some(scratch),
        })
    }

    /// The store this process keeps open for `root`, if it does: for reads beside the
    /// holder of the lease (sled reads are safe while another thread appends).
    pub fn kept_store(root: &Path) -> Option<Arc<dyn EventStore>> {
        KEPT.lock()
            .ok()?
            .iter()
            .find(|k| k.root == root)
            .map(|k| k.store.clone())
    }

    /// The store kept open for `root` when it is not the directory's own (`--store`).
    fn kept_elsewhere(root: &Path) -> Option<Arc<dyn EventStore>> {
        KEPT.lock()
            .ok()?
            .iter()
            .find(|k| k.root == root && k.elsewhere.is_some())
            .map(|k| k.store.clone())
    }

    /// Where the log of `root` is when this process keeps it elsewhere than its `events/`
    /// (`--store`): the store's address.
    pub fn store_elsewhere(root: &Path) -> Option<String> {
        KEPT.lock()
            .ok()?
            .iter()
            .find(|k| k.root == root)
            .and_then(|k| k.elsewhere.clone())
    }

    /// Opens the store for the rest of the process's life (until the guard is dropped): every
    /// later [`DataDir::open`] of `root` borrows it. When a store is kept for `root` already
    /// (`--store`), that one stays.
    pub fn keep_open(root: &Path) -> Result<KeepOpen> {
        if DataDir::kept_store(root).is_some() {
            return Ok(KeepOpen(None));
        }
        let store = SledEventStore::open(root.join("events"))
            .with_context(|| format!("cannot open the data directory {}", root.display()))?;
        Ok(DataDir::keep(root, Arc::new(store), None))
    }

    /// Keeps `store` (at `address`) as the event log of `root` for the rest of the process
    /// (until the guard is dropped): the log is elsewhere (`--store sled:DIR` or `nats://…`);
    /// the projections and audit files stay in `root`.
    pub fn keep_store(root: &Path, store: Arc<dyn EventStore>, address: &str) -> KeepOpen {
        DataDir::keep(root, store, Some(address.to_string()))
    }

    fn keep(root: &Path, store: Arc<dyn EventStore>, elsewhere: Option<String>) -> KeepOpen {
        let kept = Arc::new(Kept {
            root: root.to_path_buf(),
            store,
            lent: AtomicBool::new(false),
            projections: Mutex::new(None),
            elsewhere,
        });
        if let Ok(mut slots) = KEPT.lock() {
            slots.retain(|k| k.root != root);
            slots.push(kept.clone());
        }
        KeepOpen(Some(kept))
    }

    /// Opens the data directory in a process whose other part may be holding it a moment
    /// longer (a phase of `run` letting go of the store it borrowed): a directory in use is
    /// waited for (up to 10 s) instead of refused.
    pub async fn reopen(root: &Path) -> Result<DataDir> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match DataDir::open(root) {
                Err(e) if std::time::Instant::now() < deadline && e.is_locked() => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// Whether this is a read-only look ([`DataDir::open_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self._scratch.is_some()
    }

    /// The event store.
    pub fn store(&self) -> &dyn EventStore {
        self.store.as_ref()
    }

    /// The event log, to share with a reader that outlives a borrow (the console).
    pub fn shared_store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    /// Opens the live projection files, repairing and catching them up with the log. While the
    /// process keeps the directory open, the projections of the previous holder are taken over
    /// and only the events since are projected.
    pub fn projections(&self) -> Result<Projected> {
        let context = || {
            format!(
                "cannot bring the projections in {} up to date",
                self.root.display()
            )
        };
        let kept = self
            .lease
            .as_ref()
            .and_then(|k| k.0.projections.lock().ok()?.take());
        let files = match kept {
            Some(mut files) => {
                files.catch_up(self.store.as_ref()).with_context(context)?;
                files
            }
            None => ProjectionFiles::open(&self.root, self.store.as_ref()).with_context(context)?,
        };
        Ok(Projected {
            files: Some(files),
            home: self.lease.clone(),
        })
    }

    /// The source of a generated strategy, as the log recorded it: one read at the sequence
    /// number the read model keeps.
    pub fn strategy_source(&self, projections: &ProjectionFiles, id: uuid::Uuid) -> Result<String> {
        use stratagem_events::Event;
        let Some(view) = projections.state().strategies.get(&id) else {
            return Err(WorkflowError::refused(format!(
                "no strategy {id} in the log"
            )));
        };
        let recorded = self.store.read(view.generated_seq, 1)?;
        match recorded.first().map(|rec| rec.event()).transpose()? {
            Some(Event::StrategyGenerated(e)) if e.strategy_id == id => Ok(e.source_code),
            _ => Err(WorkflowError::refused(format!(
                "event {} should hold the source of strategy {id} but does not",
                view.generated_seq
            ))),
        }
    }

    /// Appends durably, then brings the projections up to date.
    pub async fn append(
        &self,
        projections: &mut ProjectionFiles,
        request: AppendRequest,
    ) -> Result<AppendAck> {
        // The lifecycle binds every decision: a transition it does not list is refused here,
        // before anything is written.
        stratagem_events::projection::lifecycle::check(projections.state(), &request.events)
            .map_err(|e| WorkflowError::refused(e.to_string()))?;
        // A log other processes can write (`--store nats://…`): the decision was made on the
        // projections as of their last event, so it lands only right after it. A process whose
        // view is stale (a deposed leader) is refused rather than writing on what it missed.
        let mut request = request;
        if self.shared && request.expected == stratagem_events::Expected::Any {
            request = request.expecting(projections.state().last_seq + 1);
        }
        let ack = match self.store.append(request).await {
            Ok(ack) => ack,
            Err(e) => {
                if matches!(e, StoreError::Conflict { .. }) {
                    // Read what was missed, for whoever decides again.
                    let _ = projections.catch_up(self.store.as_ref());
                }
                return Err(e).context("cannot append to the event log");
            }
        };
        projections
            .catch_up(self.store.as_ref())
            .context("cannot update the projections")?;
        Ok(ack)
    }
}
