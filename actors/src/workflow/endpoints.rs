//! The daemon's observability endpoints on a local port (`METRICS_ADDR`, default
//! `127.0.0.1:9464`; `off` to disable): Prometheus `/metrics`, `/livez` and `/readyz`.
//!
//! The daemon holds the data directory only during a cycle, so the endpoints serve a snapshot
//! taken at the end of each cycle; they never touch the log. `/livez` is 200 while the cycle
//! loop has beaten within three ticks; `/readyz` is 200 once a cycle has completed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the endpoints serve.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The Prometheus text of the last cycle.
    pub text: String,
    /// When the loop last beat.
    pub heartbeat: Option<Instant>,
    /// Cycles completed.
    pub cycles: u64,
}

/// Shared between the loop and the server.
pub type Shared = Arc<Mutex<Snapshot>>;

/// Serves the endpoints until the process ends. A bind failure is reported and leaves the
/// daemon running without them.
pub async fn serve(listener: TcpListener, shared: Shared, tick: Duration) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, ctype, body) = {
                let s = shared
                    .lock()
                    .map(|s| (s.text.clone(), s.heartbeat, s.cycles))
                    .unwrap_or_default();
                let (text, heartbeat, cycles) = s;
                match path {
                    // The cycle count is this process's; the rest is the log's.
                    "/metrics" => (
                        "200 OK",
                        "text/plain; version=0.0.4",
                        format!(
                            "# HELP stratagem_cycles_total Pipeline cycles completed by this process.\n# TYPE stratagem_cycles_total counter\nstratagem_cycles_total {cycles}\n{text}"
                        ),
                    ),
                    "/livez" => match heartbeat {
                        Some(t) if t.elapsed() <= tick * 3 + Duration::from_secs(300) => {
                            ("200 OK", "text/plain", "ok\n".to_string())
                        }
                        Some(_) => (
                            "503 Service Unavailable",
                            "text/plain",
                            "the cycle loop is stuck\n".to_string(),
                        ),
                        None => ("200 OK", "text/plain", "starting\n".to_string()),
                    },
                    "/readyz" if cycles > 0 => ("200 OK", "text/plain", "ready\n".to_string()),
                    "/readyz" => (
                        "503 Service Unavailable",
                        "text/plain",
                        "the first cycle has not completed\n".to_string(),
                    ),
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /metrics, /livez or /readyz\n".to_string(),
                    ),
                }
            };
            let head = format!("HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}
