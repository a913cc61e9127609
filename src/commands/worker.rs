//! `stratagem worker --store nats://…`: validations from the job queue of a shared log.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use stratagem_actors::workflow::daemon::Stops;
use stratagem_actors::workflow::remote::work_one;
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::{JobQueue, NatsAddress};

pub async fn run(
    root: &Path,
    settings: &Settings,
    store: Option<&str>,
    jobs: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let Some(address) = store.filter(|s| s.starts_with("nats://")) else {
        anyhow::bail!(
            "a worker takes its jobs from a log on NATS JetStream: --store nats://HOST:PORT/STREAM (or STRATAGEM_STORE)"
        );
    };
    let address = NatsAddress::parse(address).map_err(|e| anyhow::anyhow!("--store {e}"))?;
    let replicas = settings.store_replicas(address.server.split(',').count())?;
    let ack_wait = Duration::from_secs(settings.job_ack_seconds()?);
    let queue = JobQueue::open(&address, replicas, ack_wait).await?;
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    let validator = Arc::new(settings.validator(root)?);
    let name = format!(
        "{}:{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into()),
        std::process::id()
    );
    eprintln!("worker {name}: taking jobs from {}", address.label());
    let mut stops = Stops::catch();
    let heartbeat = (ack_wait / 3).max(Duration::from_millis(200));
    let mut done = 0u64;
    while jobs.is_none_or(|n| done < n) {
        tokio::select! {
            worked = work_one(&queue, &validator, root, &name, Duration::from_secs(2), heartbeat) => {
                match worked {
                    Ok(Some(w)) => {
                        done += 1;
                        say!("job {} (delivery {}): {}", w.job, w.delivery, w.line);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            signal = stops.next() => {
                eprintln!("stopped by {signal} after {done} job(s); a job under way goes to another worker");
                return Ok(ExitCode::from(130));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
