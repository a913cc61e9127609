//! The daemon's read API: while `stratagem run` holds a data directory, the read commands
//! (`status`, `opportunities`, `review list`, `audit verify`) ask it instead of opening the log.
//!
//! HTTP/1.1 with JSON bodies on a Unix socket in the data directory (`DATA_DIR/daemon.sock`):
//! local by construction, one per directory, no port to choose or collide on, and guarded by
//! the directory's own permissions. Routes, each answering the same data the command computes
//! offline (so the command prints the same thing either way):
//!
//! - `GET /v1/status` — [`StatusReport`];
//! - `GET /v1/opportunities?limit=N&offset=N&status=S&all=1` — a [`Page`] of [`OpportunityRow`];
//! - `GET /v1/review` — a [`Page`] of [`WaitingRow`];
//! - `GET /v1/audit/verify` — an [`Inspection`] of the daemon's open store.
//!
//! The read models come from a view the daemon publishes after each cycle that
//! worked (a cycle in progress holds the log; a read never waits for it). An error is a JSON
//! `{"error": …}` with a 4xx/5xx status.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stratagem_events::projection::files::projected_through;
use stratagem_events::store::inspect::{inspect_open, Inspection};
use stratagem_events::{EventStore, Head, Projections};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::data_dir::DataDir;
use super::query::{
    opportunity_page, parse_status, OpportunityQuery, OpportunityRow, Page, StatusReport,
};
use super::review::{waiting_rows, WaitingRow};
use super::{Result, WorkflowError};
use crate::stages::runner::StageSettings;

/// The socket's file name in the data directory.
pub const SOCKET: &str = "daemon.sock";

/// The largest answer read (a page of every opportunity of a large log fits).
const MAX_ANSWER: u64 = 256 * 1024 * 1024;

/// The read models as of the daemon's last cycle.
#[derive(Clone)]
pub struct View {
    /// The read models.
    pub state: Arc<Projections>,
    /// The log's head they are of.
    pub head: Head,
}

/// The view the daemon publishes and the server reads.
pub type Published = Arc<Mutex<Option<View>>>;

/// Publishes the read models as they are now (between cycles, the log is free to borrow).
///
/// # Errors
/// The log cannot be opened.
pub fn publish(root: &Path, published: &Published) -> Result<()> {
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let view = View {
        state: Arc::new(projections.state().clone()),
        head: dir.store().head(),
    };
    drop(projections);
    if let Ok(mut p) = published.lock() {
        *p = Some(view);
    }
    Ok(())
}

/// Whether a daemon answers for this data directory (its socket is there).
pub fn running(root: &Path) -> bool {
    root.join(SOCKET).exists()
}

/// Asks the daemon holding `root` for `path`; its JSON answer.
///
/// # Errors
/// No daemon answers (unavailable), or it answered with an error.
pub fn block_on_ask(root: &Path, path: &str) -> Result<serde_json::Value> {
    let socket = root.join(SOCKET);
    let unavailable = |why: String| {
        WorkflowError::Unavailable(format!(
            "the data directory {} is held by a running `stratagem run`, and it does not answer on {}: {why}",
            root.display(),
            socket.display()
        ))
    };
    let mut stream =
        std::os::unix::net::UnixStream::connect(&socket).map_err(|e| unavailable(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    // One write of the whole request (`write!` would send it in pieces).
    let request = format!("GET {path} HTTP/1.1\r\nHost: stratagem\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| unavailable(e.to_string()))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| unavailable(e.to_string()))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| unavailable("an answer that is not HTTP".into()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| unavailable("an answer without a status".into()))?;
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| unavailable(format!("an answer that is not JSON: {e}")))?;
    if status != 200 {
        let message = value["error"].as_str().unwrap_or("error").to_string();
        return Err(match status {
            400 => WorkflowError::Usage(message),
            503 => WorkflowError::Unavailable(message),
            _ => WorkflowError::refused(message),
        });
    }
    Ok(value)
}

/// What the server answers with.
pub struct Server {
    /// The data directory.
    pub root: PathBuf,
    /// The read models of the last cycle.
    pub published: Published,
    /// The stages' settings (who waits for review depends on them).
    pub stages: StageSettings,
    /// The daemon's open store (for `audit verify`).
    pub store: Option<Arc<dyn EventStore>>,
    /// The window of the success criteria, days (`KPI_WINDOW_DAYS`).
    pub kpi_window_days: u32,
}

/// Removes the socket when the daemon ends.
pub struct Bound(PathBuf);

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds the socket in the data directory (a stale one, left by a daemon that was killed, is
/// replaced: the directory's lock says no other daemon runs) and serves until the process
/// ends. A bind failure is logged and the daemon runs without it.
pub fn start(server: Arc<Server>) -> Option<Bound> {
    let path = server.root.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot serve the read API; reads wait for the daemon to stop");
            return None;
        }
    };
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                // The request's head, read until its blank line (it may come in pieces).
                let mut buf = Vec::with_capacity(1024);
                let read_head = async {
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                };
                if tokio::time::timeout(Duration::from_secs(5), read_head)
                    .await
                    .is_err()
                {
                    return;
                }
                let request = String::from_utf8_lossy(&buf).into_owned();
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let answer = tokio::task::spawn_blocking(move || server.answer(&target))
                    .await
                    .unwrap_or_else(|e| (500, error_body(&format!("the read failed: {e}"))));
                let (status, body) = answer;
                let reason = match status {
                    200 => "OK",
                    400 => "Bad Request",
                    404 => "Not Found",
                    503 => "Service Unavailable",
                    _ => "Internal Server Error",
                };
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Some(Bound(path))
}

/// The JSON body of an error answer.
pub(crate) fn error_body(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

impl Server {
    pub(crate) fn view(&self) -> Option<View> {
        self.published.lock().ok().and_then(|v| v.clone())
    }

    /// The answer to one request: a status and a JSON body.
    pub(crate) fn answer(&self, target: &str) -> (u16, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let json = |v: serde_json::Result<String>| match v {
            Ok(body) => (200, body),
            Err(e) => (500, error_body(&e.to_string())),
        };
        if path == "/v1/audit/verify" {
            let Some(store) = &self.store else {
                return (503, error_body("the daemon's store is not open"));
            };
            let found: Inspection = match DataDir::store_elsewhere(&self.root) {
                Some(label) => {
                    stratagem_events::store::inspect::inspect_store(store.as_ref(), &label)
                }
                None => inspect_open(
                    store.as_ref(),
                    &self.root.join("events"),
                    projected_through(&self.root),
                ),
            };
            return json(serde_json::to_string(&found));
        }
        let Some(view) = self.view() else {
            return (
                503,
                error_body("the daemon has not read the log yet; try again in a moment"),
            );
        };
        match path {
            "/v1/status" => json(serde_json::to_string(&StatusReport::of_state(
                &self.root,
                &view.state,
                view.head,
                self.kpi_window_days,
            ))),
            "/v1/opportunities" => {
                let number = |name: &str, default: usize| {
                    param(name).map_or(Ok(default), |v| {
                        v.parse::<usize>()
                            .map_err(|_| format!("{name}={v:?} is not a number"))
                    })
                };
                let status = match param("status").map(|s| parse_status(&s)).transpose() {
                    Ok(s) => s,
                    Err(e) => return (400, error_body(&e.to_string())),
                };
                let (limit, offset) = match (number("limit", 20), number("offset", 0)) {
                    (Ok(l), Ok(o)) => (l, o),
                    (Err(e), _) | (_, Err(e)) => return (400, error_body(&e)),
                };
                let q = OpportunityQuery {
                    limit,
                    offset,
                    status,
                    all: param("all").is_some_and(|v| v == "1" || v == "true"),
                };
                let page: Page<OpportunityRow> = opportunity_page(&view.state, &q);
                json(serde_json::to_string(&page))
            }
            "/v1/review" => {
                let rows: Vec<WaitingRow> = waiting_rows(&view.state, &self.stages);
                json(serde_json::to_string(&Page::all(rows)))
            }
            _ => match path.strip_prefix("/v1/trace/") {
                Some(id) => {
                    let Ok(id) = id.parse::<uuid::Uuid>() else {
                        return (
                            400,
                            error_body(&format!("{id:?} is not a strategy id (a UUID)")),
                        );
                    };
                    let Some(store) = &self.store else {
                        return (503, error_body("the daemon's store is not open"));
                    };
                    match super::trace::trace(store.as_ref(), &view.state, id) {
                        Ok(t) => json(serde_json::to_string(&t)),
                        Err(e) => (404, error_body(&e.to_string())),
                    }
                }
                None => (404, error_body(&format!("no such route: {path}"))),
            },
        }
    }
}
