//! `--store` (where the event log is) and `stratagem store copy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use stratagem_actors::workflow::data_dir::{DataDir, KeepOpen};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::record::hex;
use stratagem_events::{EventStore, JetStreamEventStore, NatsAddress, SledEventStore};

use super::print_json;
use crate::cli::StoreCommand;

/// A store named on the command line.
enum Spec {
    Sled(PathBuf),
    Nats(NatsAddress),
}

fn parse(spec: &str) -> anyhow::Result<Spec> {
    if let Some(dir) = spec.strip_prefix("sled:") {
        if dir.is_empty() {
            anyhow::bail!("--store {spec:?}: sled:DIR names the store's directory");
        }
        return Ok(Spec::Sled(std::path::absolute(dir)?));
    }
    if spec.starts_with("nats://") {
        return NatsAddress::parse(spec)
            .map(Spec::Nats)
            .map_err(|e| anyhow::anyhow!("--store {e}"));
    }
    anyhow::bail!("--store {spec:?}: a store is sled:DIR or nats://HOST:PORT/STREAM")
}

/// Opens the store `spec` names; returns it with its address as printed.
///
/// # Errors
/// A malformed address, a store that cannot be opened (named).
pub async fn open(
    spec: &str,
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn EventStore>, String)> {
    Ok(match parse(spec)? {
        Spec::Sled(dir) => {
            let label = format!("sled:{}", dir.display());
            let store = SledEventStore::open(&dir)?;
            (Arc::new(store), label)
        }
        Spec::Nats(address) => {
            let servers = address.server.split(',').count();
            let replicas = settings.store_replicas(servers)?;
            let store = JetStreamEventStore::open(&address, replicas).await?;
            (Arc::new(store), address.label())
        }
    })
}

/// Keeps the store `spec` names as the log of the data directory `root` for this process.
///
/// # Errors
/// As [`open`]; the data directory cannot be created.
pub async fn keep(root: &Path, spec: &str, settings: &Settings) -> anyhow::Result<KeepOpen> {
    let (store, label) = open(spec, settings).await?;
    // The projections and audit files stay in the data directory.
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", root.display()))?;
    Ok(DataDir::keep_store(root, store, &label))
}

#[derive(Serialize)]
struct Copied {
    from: String,
    to: String,
    /// Events the target held already (a copy cut short).
    already: u64,
    copied: u64,
    keys: u64,
    events: u64,
    head_hash: String,
}

pub async fn run(settings: &Settings, cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Copy { from, to, json } = cmd;
    let (source, from) = open(&from, settings).await?;
    let (target, to) = open(&to, settings).await?;
    if from == to {
        anyhow::bail!("--from and --to are the same store ({from})");
    }
    let report = stratagem_events::copy(source.as_ref(), target.as_ref(), 1_000)
        .await
        .map_err(|e| anyhow::anyhow!("cannot copy {from} to {to}: {e}"))?;
    let out = Copied {
        from,
        to,
        already: report.already,
        copied: report.copied,
        keys: report.keys,
        events: report.head.seq,
        head_hash: hex(&report.head.hash),
    };
    if json {
        print_json(&out)?;
    } else {
        say!(
            "copied {} events ({} idempotency keys) from {} to {}{}",
            out.copied,
            out.keys,
            out.from,
            out.to,
            if out.already > 0 {
                format!(", after the {} it held already", out.already)
            } else {
                String::new()
            }
        );
        say!(
            "both end at event {}, head hash {}",
            out.events,
            out.head_hash
        );
    }
    Ok(ExitCode::SUCCESS)
}
