//! Validations and stage runs on workers (`REMOTE_WORKERS=1` with `--store nats://…`): the
//! coordinator queues each on the log's job queue ([`stratagem_events::JobQueue`]) and records
//! the result a worker stored; `stratagem worker` takes jobs, runs them with its own sandbox,
//! and stores the result. Only the coordinator writes the log.
//!
//! - A validation's job id is the strategy's (`validate-{id}`): asked again after a coordinator
//!   restart, it is not queued twice, and its result is recorded once (the strategy no longer
//!   waits for validation after it).
//! - A stage run (COLD's backtest, a paper stage's step) travels whole: its plan (sources,
//!   market, the marks it resumes from, risk states) and the coordinator's stage settings, so the
//!   worker computes what the coordinator would; the step it returns is recorded by the
//!   coordinator under the run's idempotency keys, as a local step is.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratagem_events::{Decision, JobQueue, ValidationLayerFinished};
use uuid::Uuid;

use crate::stages::realclock::StageStep;
use crate::stages::runner::StageSettings;
use crate::validator::sandbox::compile::Author;
use crate::validator::{ValidationReport, Validator};

/// The kind of a validation job on the queue's subject.
pub const VALIDATE: &str = "validate";

/// The kind of a stage run's job.
pub const STAGE: &str = "stage";

/// A stage run (or a step of one) to do.
#[derive(Serialize, Deserialize)]
pub struct StageJob {
    /// Its id.
    pub id: String,
    /// The strategy.
    pub strategy_id: Uuid,
    /// The run, as the coordinator began it.
    pub plan: super::stage::StagePlan,
    /// The coordinator's stage settings.
    pub settings: StageSettings,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

/// Queues the stage run `job` and waits (up to `within`) for the step a worker computed.
///
/// # Errors
/// The queue cannot be reached; the worker could not run it (its words); no answer in time.
pub async fn run_stage(
    queue: &JobQueue,
    job: &StageJob,
    within: Duration,
) -> Result<StageStep, String> {
    queue
        .submit(&job.id, STAGE, encode(job)?)
        .await
        .map_err(|e| e.to_string())?;
    match queue
        .result(&job.id, within)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(bytes) => decode::<Result<StageStep, String>>(&bytes)
            .map_err(|e| format!("the result of job {} does not read: {e}", job.id))?,
        None => Err(format!(
            "no worker finished job {} within {} s: is a `stratagem worker` running on this store?",
            job.id,
            within.as_secs()
        )),
    }
}

/// A validation to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateJob {
    /// The strategy.
    pub strategy_id: Uuid,
    /// Its source, as the log holds it.
    pub source: String,
    /// Whether we did not write it (a model's, a file given): rustc runs jailed for it.
    pub untrusted: bool,
}

impl ValidateJob {
    /// The job's id: one per strategy.
    pub fn id(&self) -> String {
        ValidateJob::id_of(self.strategy_id)
    }

    /// The id of strategy `id`'s validation job.
    pub fn id_of(id: Uuid) -> String {
        format!("{VALIDATE}-{id}")
    }
}

/// A validation's result as a worker stores it: what the log records of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteReport {
    /// Each layer that ran, as its event.
    pub layers: Vec<ValidationLayerFinished>,
    /// The verdict.
    pub decision: Decision,
    /// Layers that passed.
    pub layers_passed: u8,
    /// One line saying why.
    pub reason: String,
    /// The worker that did it.
    pub worker: String,
}

impl RemoteReport {
    /// The result of `report` for strategy `id`, done by `worker`.
    pub fn of(report: &ValidationReport, id: Uuid, worker: &str) -> RemoteReport {
        RemoteReport {
            layers: report.layers.iter().map(|l| l.to_event(id)).collect(),
            decision: report.decision,
            layers_passed: report.layers_passed(),
            reason: report.reason(),
            worker: worker.to_string(),
        }
    }
}

/// Queues the validation `job` and waits (up to `within`) for a worker's result.
///
/// # Errors
/// The queue cannot be reached; no worker answered in time (the job stays queued: the next
/// cycle asks again and finds its result).
pub async fn validate(
    queue: &JobQueue,
    job: &ValidateJob,
    within: Duration,
) -> Result<RemoteReport, String> {
    let id = job.id();
    let payload = serde_json::to_vec(job).map_err(|e| e.to_string())?;
    queue
        .submit(&id, VALIDATE, payload)
        .await
        .map_err(|e| e.to_string())?;
    match queue.result(&id, within).await.map_err(|e| e.to_string())? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("the result of job {id} does not read: {e}")),
        None => Err(format!(
            "no worker finished job {id} within {} s: is a `stratagem worker` running on this store?",
            within.as_secs()
        )),
    }
}

/// What a worker did with a job.
#[derive(Debug, Clone)]
pub struct Worked {
    /// The job's id.
    pub job: String,
    /// Times it was delivered (2 and more: an earlier worker did not finish it).
    pub delivery: i64,
    /// What it came to.
    pub line: String,
}

/// Takes one job (waiting up to `wait`), does it, stores its result; `None` when none came.
/// While it works it tells the server so every `heartbeat`, so only a worker that died loses
/// its job to another. `root` holds its compile caches.
///
/// # Errors
/// The queue cannot be reached; a job that cannot be read (it is left for its deadline).
pub async fn work_one(
    queue: &JobQueue,
    validator: &Arc<Validator>,
    root: &std::path::Path,
    worker: &str,
    wait: Duration,
    heartbeat: Duration,
) -> Result<Option<Worked>, String> {
    let Some(job) = queue.take(wait).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let delivery = job.deliveries();
    tracing::info!("job {} (delivery {delivery})", job.id);
    eprintln!("took job {} (delivery {delivery})", job.id);
    let (bytes, line) = match job.kind.as_str() {
        STAGE => {
            let spec: StageJob =
                decode(&job.payload).map_err(|e| format!("job {} does not read: {e}", job.id))?;
            let validator = validator.clone();
            let root = root.to_path_buf();
            let handle = tokio::runtime::Handle::current();
            let what = format!(
                "{} of strategy {}",
                spec.plan.stage.as_str().to_uppercase(),
                spec.strategy_id
            );
            let run = tokio::task::spawn_blocking(move || {
                let sandbox = validator.sandbox.sandbox();
                handle.block_on(spec.plan.step(sandbox, &root, &spec.settings, None, None))
            });
            tokio::pin!(run);
            let step = loop {
                tokio::select! {
                    done = &mut run => break done,
                    _ = tokio::time::sleep(heartbeat) => job.still_working().await,
                }
            };
            let step = step
                .map_err(|e| format!("job {}: the stage run stopped: {e}", job.id))?
                .map_err(|e| e.to_string());
            let line = match &step {
                Ok(s) => match &s.outcome {
                    Some(o) => format!("{what}: {}", o.gate),
                    None => format!("{what}: under way"),
                },
                Err(e) => format!("{what}: could not be done: {e}"),
            };
            (encode(&step)?, line)
        }
        _ => {
            let spec: ValidateJob = serde_json::from_slice(&job.payload)
                .map_err(|e| format!("job {} does not read: {e}", job.id))?;
            let author = if spec.untrusted {
                Author::Untrusted
            } else {
                Author::Template
            };
            let validation = validator
                .clone()
                .validate_async(spec.source.clone(), author);
            tokio::pin!(validation);
            let report = loop {
                tokio::select! {
                    done = &mut validation => break done,
                    _ = tokio::time::sleep(heartbeat) => job.still_working().await,
                }
            };
            let report = match report {
                Ok(report) => RemoteReport::of(&report, spec.strategy_id, worker),
                // The sandbox could not run here (no rustc, no jail): not a verdict.
                Err(e) => return Err(format!("job {}: cannot validate here: {e}", job.id)),
            };
            let line = format!(
                "validated strategy {}: {:?}, {}",
                spec.strategy_id, report.decision, report.reason
            );
            (
                serde_json::to_vec(&report).map_err(|e| e.to_string())?,
                line,
            )
        }
    };
    let id = job.id.clone();
    queue.finish(job, bytes).await.map_err(|e| e.to_string())?;
    Ok(Some(Worked {
        job: id,
        delivery,
        line,
    }))
}
