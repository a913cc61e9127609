//! `--store` (where the event log is) and `stratagem store copy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use stratagem_actors::workflow::data_dir::{DataDir, KeepOpen};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::record::hex;
use stratagem_events::{EventStore, JetStreamEventStore, LeaderLease, NatsAddress, SledEventStore};

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

/// A store opened from the command line.
pub struct Opened {
    pub store: Arc<dyn EventStore>,
    /// Its address as printed.
    pub label: String,
    /// The same store when it is a JetStream stream (its leader lease).
    pub nats: Option<Arc<JetStreamEventStore>>,
}

/// Opens the store `spec` names.
///
/// # Errors
/// A malformed address, a store that cannot be opened (named).
pub async fn open(spec: &str, settings: &Settings) -> anyhow::Result<Opened> {
    Ok(match parse(spec)? {
        Spec::Sled(dir) => Opened {
            label: format!("sled:{}", dir.display()),
            store: Arc::new(SledEventStore::open(&dir)?),
            nats: None,
        },
        Spec::Nats(address) => {
            let servers = address.server.split(',').count();
            let replicas = settings.store_replicas(servers)?;
            let store = Arc::new(JetStreamEventStore::open(&address, replicas).await?);
            Opened {
                label: address.label(),
                store: store.clone(),
                nats: Some(store),
            }
        }
    })
}

/// The log kept elsewhere for this process.
pub struct Kept {
    _open: KeepOpen,
    /// When it is a JetStream stream.
    pub nats: Option<Arc<JetStreamEventStore>>,
}

/// Keeps the store `spec` names as the log of the data directory `root` for this process.
///
/// # Errors
/// As [`open`]; the data directory cannot be created.
pub async fn keep(root: &Path, spec: &str, settings: &Settings) -> anyhow::Result<Kept> {
    let opened = open(spec, settings).await?;
    // The projections and audit files stay in the data directory.
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", root.display()))?;
    Ok(Kept {
        _open: DataDir::keep_store(root, opened.store, &opened.label),
        nats: opened.nats,
    })
}

/// The leader lease this process holds on a shared log, renewed in the background.
pub struct Leadership {
    lease: Arc<tokio::sync::Mutex<LeaderLease>>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Gives the lease up (the process stops): another daemon takes over at once.
    pub async fn release(self) {
        self.renewer.abort();
        self.lease.lock().await.release().await;
    }
}

/// Takes the leader lease of `store` before this process acts on it: while another process
/// holds it, waits as a standby (saying who leads), and takes over once its lease lapses
/// (`LEADER_LEASE_SECONDS`). `None` when a signal came while waiting. Once held, it is renewed
/// every third of its time; a process that loses it (another took it, or it could not renew
/// before it lapsed) stops at once, exit 75: what it recorded is on the log, and its appends
/// after that would be refused by the expected-sequence check anyway.
///
/// # Errors
/// The lease's bucket cannot be opened or read.
pub async fn lead(
    store: &JetStreamEventStore,
    settings: &Settings,
    stops: &mut stratagem_actors::workflow::daemon::Stops,
) -> anyhow::Result<Option<Leadership>> {
    let ttl = std::time::Duration::from_secs(settings.leader_lease_seconds()?);
    let holder = format!(
        "{}:{}:{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into()),
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    );
    let replicas = settings.store_replicas(store.address().server.split(',').count())?;
    let mut lease = store.leader_lease(&holder, ttl, replicas).await?;
    let label = store.address().label();
    let mut said: Option<String> = None;
    loop {
        match lease.try_acquire().await? {
            None => break,
            Some(leader) => {
                if said.as_deref() != Some(leader.as_str()) {
                    eprintln!(
                        "standby: {leader} leads the log on {label}; this process takes over if its lease ({} s) lapses",
                        ttl.as_secs()
                    );
                    said = Some(leader);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep((ttl / 10).max(std::time::Duration::from_millis(200))) => {}
            signal = stops.next() => {
                eprintln!("stopped by {signal} while on standby");
                return Ok(None);
            }
        }
    }
    eprintln!("leader: {holder} leads the log on {label}");
    let lease = Arc::new(tokio::sync::Mutex::new(lease));
    let renewer = {
        let lease = lease.clone();
        tokio::spawn(async move {
            let mut renewed = std::time::Instant::now();
            loop {
                tokio::time::sleep(ttl / 3).await;
                match lease.lock().await.renew().await {
                    Ok(true) => renewed = std::time::Instant::now(),
                    Ok(false) => {
                        eprintln!("lost the leader lease of {label}: another process leads it now; stopping");
                        std::process::exit(75);
                    }
                    Err(e) if renewed.elapsed() >= ttl => {
                        eprintln!("the leader lease of {label} lapsed ({e}); stopping");
                        std::process::exit(75);
                    }
                    Err(e) => tracing::warn!("cannot renew the leader lease yet: {e}"),
                }
            }
        })
    };
    Ok(Some(Leadership { lease, renewer }))
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
    let (source, from) = {
        let o = open(&from, settings).await?;
        (o.store, o.label)
    };
    let (target, to) = {
        let o = open(&to, settings).await?;
        (o.store, o.label)
    };
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
