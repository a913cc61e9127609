//! A work queue beside a JetStream event log, for workers on other machines
//! (`stratagem worker --store nats://…`).
//!
//! - Jobs go to the stream `{STREAM}_JOBS` (work-queue retention: a job is removed once a
//!   worker acknowledges it), each with its job id as `Nats-Msg-Id`, so a coordinator that asks
//!   again for the same job (after a restart) does not queue it twice.
//! - Workers share one durable pull consumer. A worker that takes a job tells the server it is
//!   still at it every few seconds; one that dies stops doing so, and the job is delivered to
//!   another worker after the ack deadline.
//! - A result goes to `{STREAM}_RESULTS` on the subject of its job id (again `Nats-Msg-Id`: a
//!   job done twice — its first worker died after finishing — has one result). The worker
//!   acknowledges the job only after its result is stored. The coordinator waits for the
//!   result on that subject and records it on the log under the job id: once.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use super::NatsAddress;
use crate::error::StoreError;

/// The work queue of a log's stream.
#[derive(Clone)]
pub struct JobQueue {
    context: jetstream::Context,
    stream: String,
    label: String,
    results: stream::Stream,
}

/// A job a worker took.
pub struct TakenJob {
    /// Its id (the coordinator's).
    pub id: String,
    /// Its kind (the last token of its subject: `validate`, `stage`).
    pub kind: String,
    /// What to do, as the coordinator wrote it.
    pub payload: Bytes,
    message: jetstream::Message,
}

impl TakenJob {
    /// Tells the server the worker is still at it (the ack deadline starts again).
    pub async fn still_working(&self) {
        let _ = self.message.ack_with(jetstream::AckKind::Progress).await;
    }

    /// Times this job was delivered (2 and more: a worker before this one did not finish it).
    pub fn deliveries(&self) -> i64 {
        self.message.info().map_or(1, |i| i.delivered)
    }
}

impl JobQueue {
    /// Opens (creating when missing) the queue and results streams of the log at `address`,
    /// with `replicas` copies; jobs not acknowledged within `ack_wait` go to another worker.
    ///
    /// # Errors
    /// The server cannot be reached or the streams cannot be made.
    pub async fn open(
        address: &NatsAddress,
        replicas: usize,
        ack_wait: Duration,
    ) -> Result<JobQueue, StoreError> {
        let label = address.label();
        let backend = |what: &str, e: &dyn std::fmt::Display| StoreError::Backend {
            path: PathBuf::from(&label),
            message: format!("{what}: {e}"),
        };
        let context = jetstream::new(super::jetstream::connect(address).await?);
        let name = &address.stream;
        let jobs = context
            .get_or_create_stream(stream::Config {
                name: format!("{name}_JOBS"),
                subjects: vec![format!("{name}.jobs.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                num_replicas: replicas.max(1),
                duplicate_window: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| backend("cannot open the job queue", &e))?;
        jobs.get_or_create_consumer(
            "workers",
            consumer::pull::Config {
                durable_name: Some("workers".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| backend("cannot open the job queue", &e))?;
        let results = context
            .get_or_create_stream(stream::Config {
                name: format!("{name}_RESULTS"),
                subjects: vec![format!("{name}.results.>")],
                storage: stream::StorageType::File,
                num_replicas: replicas.max(1),
                duplicate_window: Duration::from_secs(24 * 3600),
                allow_direct: true,
                ..Default::default()
            })
            .await
            .map_err(|e| backend("cannot open the job results", &e))?;
        Ok(JobQueue {
            context,
            stream: name.clone(),
            label,
            results,
        })
    }

    fn backend(&self, what: &str, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: PathBuf::from(&self.label),
            message: format!("{what}: {e}"),
        }
    }

    /// A job id as a subject token: letters, digits, `-` and `_` kept, anything else `_`.
    fn token(id: &str) -> String {
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// Queues job `id` (once however often it is asked within a day).
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn submit(&self, id: &str, kind: &str, payload: Vec<u8>) -> Result<(), StoreError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        headers.insert("Stratagem-Job-Id", id);
        let subject = format!("{}.jobs.{kind}", self.stream);
        self.context
            .publish_with_headers(subject, headers, Bytes::from(payload))
            .await
            .map_err(|e| self.backend("cannot queue a job", &e))?
            .await
            .map_err(|e| self.backend("cannot queue a job", &e))?;
        Ok(())
    }

    /// The result of job `id` once a worker stored it; `None` after `within`.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn result(&self, id: &str, within: Duration) -> Result<Option<Bytes>, StoreError> {
        let subject = format!("{}.results.{}", self.stream, JobQueue::token(id));
        let began = std::time::Instant::now();
        loop {
            match self.results.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => return Ok(Some(message.payload)),
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => tracing::warn!("job {id}: cannot ask for its result yet: {e}"),
            }
            if began.elapsed() >= within {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The next job for a worker (waiting up to `wait`); `None` when there is none.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn take(&self, wait: Duration) -> Result<Option<TakenJob>, StoreError> {
        let consumer: consumer::PullConsumer = self
            .context
            .get_consumer_from_stream("workers", format!("{}_JOBS", self.stream))
            .await
            .map_err(|e| self.backend("cannot read the job queue", &e))?;
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| self.backend("cannot read the job queue", &e))?;
        match batch.next().await {
            Some(Ok(message)) => {
                let id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Stratagem-Job-Id"))
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                let kind = message
                    .subject
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Ok(Some(TakenJob {
                    id,
                    kind,
                    payload: message.payload.clone(),
                    message,
                }))
            }
            Some(Err(e)) => Err(self.backend("cannot read the job queue", &e)),
            None => Ok(None),
        }
    }

    /// Stores the result of `job`, then acknowledges it (removing it from the queue).
    ///
    /// # Errors
    /// The server cannot be reached (the job is delivered again after its deadline).
    pub async fn finish(&self, job: TakenJob, result: Vec<u8>) -> Result<(), StoreError> {
        let subject = format!("{}.results.{}", self.stream, JobQueue::token(&job.id));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, job.id.as_str());
        self.context
            .publish_with_headers(subject, headers, Bytes::from(result))
            .await
            .map_err(|e| self.backend("cannot store a result", &e))?
            .await
            .map_err(|e| self.backend("cannot store a result", &e))?;
        job.message
            .double_ack()
            .await
            .map_err(|e| self.backend("cannot acknowledge a job", &e))?;
        Ok(())
    }
}
