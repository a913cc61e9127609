//! The data directory: the event store in `events/`, the projection files beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendAck, AppendRequest, EventStore, SledEventStore};

/// An open data directory.
pub struct DataDir {
    root: PathBuf,
    store: Arc<SledEventStore>,
}

impl DataDir {
    /// Opens (creating if needed) the data directory's event store.
    pub fn open(root: &Path) -> anyhow::Result<DataDir> {
        let store = SledEventStore::open(root.join("events"))
            .with_context(|| format!("cannot open the data directory {}", root.display()))?;
        Ok(DataDir {
            root: root.to_path_buf(),
            store: Arc::new(store),
        })
    }

    /// The event store.
    pub fn store(&self) -> &SledEventStore {
        &self.store
    }

    /// Opens the live projection files, repairing and catching them up with the log.
    pub fn projections(&self) -> anyhow::Result<ProjectionFiles> {
        ProjectionFiles::open(&self.root, self.store.as_ref()).with_context(|| {
            format!(
                "cannot bring the projections in {} up to date",
                self.root.display()
            )
        })
    }

    /// The source of a generated strategy, as the log recorded it: one read at the sequence
    /// number the read model keeps.
    pub fn strategy_source(
        &self,
        projections: &ProjectionFiles,
        id: uuid::Uuid,
    ) -> anyhow::Result<String> {
        use stratagem_events::{Event, EventStore};
        let Some(view) = projections.state().strategies.get(&id) else {
            anyhow::bail!("no strategy {id} in the log");
        };
        let recorded = self.store.read(view.generated_seq, 1)?;
        match recorded.first().map(|rec| rec.event()).transpose()? {
            Some(Event::StrategyGenerated(e)) if e.strategy_id == id => Ok(e.source_code),
            _ => anyhow::bail!(
                "event {} should hold the source of strategy {id} but does not",
                view.generated_seq
            ),
        }
    }

    /// Appends durably, then brings the projections up to date.
    pub async fn append(
        &self,
        projections: &mut ProjectionFiles,
        request: AppendRequest,
    ) -> anyhow::Result<AppendAck> {
        let ack = self
            .store
            .append(request)
            .await
            .context("cannot append to the event log")?;
        projections
            .catch_up(self.store.as_ref())
            .context("cannot update the projections")?;
        Ok(ack)
    }
}
