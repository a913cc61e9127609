//! The daemon's cycles: each checks the sources that are due (their interval passed since
//! their last check on the log, so a restart keeps the rhythm), then carries every piece of
//! in-flight work forward. A cycle with nothing due, nothing handed over and nothing to retry
//! is idle: it appends nothing and does nothing (see [`Idleness`]). [`serve`] runs the cycles a
//! tick apart, with the metrics endpoint, until it is told to stop; the binary adds the signals
//! and what is printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::data_dir::DataDir;
use super::endpoints::{self, Shared};
use super::review::handoffs_waiting;
use super::run::{sources_for, CycleDone, Engine, Sources};
use super::settings::{DaemonSettings, Settings};
use super::Result;
use crate::cycle::Idleness;
use crate::sources::check::Mode;
use crate::sources::SourceName;

/// The daemon's state between cycles.
pub struct Daemon {
    root: PathBuf,
    settings: Settings,
    mode: Mode,
    /// Hours a cycle advances the simulated clock (0: the real clock).
    simulated_hours: u64,
    started_micros: i64,
    cycles: u64,
    /// When each source was last checked on the simulated clock.
    simulated_checks: HashMap<SourceName, i64>,
    idleness: Idleness,
    last: Option<CycleDone>,
}

/// What one cycle of the daemon did.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Cycles so far, this one included.
    pub cycles: u64,
    /// Whether it was idle (the last cycle's report stands).
    pub idle: bool,
    /// How long it took.
    pub took: Duration,
    /// The log's head after it.
    pub head: u64,
}

impl Daemon {
    /// A daemon over the data directory `root`.
    ///
    /// # Errors
    /// A bad `RUN_*` setting, named.
    pub fn new(root: &Path, settings: &Settings, mode: &Mode) -> Result<Daemon> {
        Ok(Daemon {
            root: root.to_path_buf(),
            settings: settings.clone(),
            mode: mode.clone(),
            simulated_hours: settings.daemon()?.simulated_hours,
            started_micros: now_micros(),
            cycles: 0,
            simulated_checks: HashMap::new(),
            idleness: Idleness::default(),
            last: None,
        })
    }

    /// The last working cycle's report.
    pub fn last(&self) -> Option<&CycleDone> {
        self.last.as_ref()
    }

    /// Takes the last working cycle's report.
    pub fn into_last(self) -> Option<CycleDone> {
        self.last
    }

    /// One cycle: idle, or the sources due checked and the work carried forward by `engine`.
    ///
    /// # Errors
    /// The log cannot be read; the cycle failed past its actors' restarts.
    pub async fn tick(&mut self, engine: &Engine) -> Result<Tick> {
        let simulated = self.simulated_hours > 0;
        let now = if simulated {
            self.started_micros + (self.cycles * self.simulated_hours * 3_600_000_000) as i64
        } else {
            now_micros()
        };
        let due = Sources::Due {
            now,
            simulated: simulated.then_some(&self.simulated_checks),
        };
        let began = Instant::now();
        let selected = sources_for(&self.root, &self.settings, &self.mode, due)?;
        let mut head = self.head()?;
        let idle = self.last.is_some()
            && self
                .idleness
                .is_idle(&selected, head, handoffs_waiting(&self.root));
        if !idle {
            let done = engine.cycle(selected).await?;
            head = self.head()?;
            self.idleness.worked(head, done.retry);
            // Only a cycle that ran checked its sources (an idle one checks nothing).
            for name in &done.checked {
                self.simulated_checks.insert(*name, now);
            }
            self.last = Some(done);
        }
        self.cycles += 1;
        Ok(Tick {
            cycles: self.cycles,
            idle,
            took: began.elapsed(),
            head,
        })
    }

    fn head(&self) -> Result<u64> {
        Ok(DataDir::open(&self.root)?.store().head().seq)
    }
}

/// Resident memory over a daemon's life, to tell a leak from a settled cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// At start.
    pub start: Option<u64>,
    /// After the first cycle.
    pub first_cycle: Option<u64>,
    /// After 24 cycles (a simulated day, when the caches and the allocator have settled:
    /// growth after it is what a leak would show).
    pub day: Option<u64>,
}

/// Where the metrics endpoint listens, once it does.
pub type Listening = Option<std::net::SocketAddr>;

/// What the daemon serves beside its cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// `/metrics`, `/livez`, `/readyz` on `METRICS_ADDR`.
    Metrics,
    /// The console (pages and the read API's JSON) on `CONSOLE_ADDR`.
    Console,
}

/// Runs the daemon's cycles a tick apart until `stop` turns true (the cycle in progress
/// finishes; whatever is left is on the log and resumes at the next start) or `RUN_CYCLES`
/// cycles ran, serving `/metrics`, `/livez` and `/readyz` on `METRICS_ADDR` meanwhile.
/// The console is served on `CONSOLE_ADDR` meanwhile. `listening` is told where each listens,
/// `on_tick` each cycle.
///
/// # Errors
/// As [`Daemon::tick`].
pub async fn serve(
    daemon: &mut Daemon,
    engine: &Engine,
    settings: &DaemonSettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut listening: impl FnMut(Served, Listening),
    mut on_tick: impl FnMut(&Tick, Option<&CycleDone>),
) -> Result<Memory> {
    let mut memory = Memory {
        start: resident_bytes(),
        ..Memory::default()
    };
    let shared: Shared = Default::default();
    let addr = settings.metrics_addr.trim();
    if addr == "off" {
        listening(Served::Metrics, None);
    } else {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                listening(Served::Metrics, listener.local_addr().ok());
                tokio::spawn(endpoints::serve(listener, shared.clone(), settings.tick));
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot serve /metrics; running without it");
                listening(Served::Metrics, None);
            }
        }
    }
    // The read API on `DATA_DIR/daemon.sock`: reads while this process holds the log. The
    // first cycle always works and publishes the read models (nothing is cloned at start,
    // which every restart would pay); until then a read is asked to retry.
    let published: super::read_api::Published = Default::default();
    let api = std::sync::Arc::new(super::read_api::Server {
        root: daemon.root.clone(),
        published: published.clone(),
        stages: daemon.settings.stages()?,
        store: DataDir::kept_store(&daemon.root),
        kpi_window_days: daemon.settings.kpi_window_days()?,
    });
    let _bound = super::read_api::start(api.clone());
    // The console on `CONSOLE_ADDR`: the pages over the same read models, and the read API's
    // JSON under `/v1`. It stops with the daemon.
    let console_stop = stop.clone();
    let console_at = match daemon.settings.daemon_console()? {
        None => None,
        Some(console) => {
            console.check()?;
            start_console(api, console, console_stop).await
        }
    };
    listening(Served::Console, console_at);
    while !*stop.borrow() {
        if let Ok(mut s) = shared.lock() {
            s.heartbeat = Some(Instant::now());
        }
        let tick = daemon.tick(engine).await?;
        if !tick.idle {
            if let Err(e) = super::read_api::publish(&daemon.root, &published) {
                tracing::warn!(error = %e.to_string(), "cannot publish the read models");
            }
        }
        if let Ok(mut s) = shared.lock() {
            if let (false, Some(last)) = (tick.idle, daemon.last()) {
                s.text = last.metrics.clone();
            }
            s.cycles = tick.cycles;
            s.heartbeat = Some(Instant::now());
        }
        tracing::info!(
            cycles = tick.cycles,
            idle = tick.idle,
            took_us = tick.took.as_micros() as u64,
            "cycle done"
        );
        match tick.cycles {
            1 => memory.first_cycle = resident_bytes(),
            24 => memory.day = resident_bytes(),
            _ => {}
        }
        on_tick(&tick, daemon.last());
        if settings.max_cycles > 0 && tick.cycles >= settings.max_cycles {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.tick) => {}
            _ = stop.changed() => {}
        }
    }
    Ok(memory)
}

/// Binds the console and serves it until `stop` turns true; where it listens. A bind failure
/// is logged and the daemon runs without it.
async fn start_console(
    api: std::sync::Arc<super::read_api::Server>,
    settings: super::console::ConsoleSettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<std::net::SocketAddr> {
    let addr = settings.addr;
    let console = match super::console::Console::in_daemon(api, settings) {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            tracing::warn!(error = %e.to_string(), "cannot make the console; running without it");
            return None;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "cannot serve the console (CONSOLE_ADDR); running without it");
            return None;
        }
    };
    // Nothing of the log is read here: a daemon's start does not grow with its log. The
    // console's index and chain status are built when a page first asks for them.
    let bound = listener.local_addr().ok();
    tokio::spawn(async move {
        let stopped = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = super::console::serve(listener, console, stopped).await {
            tracing::warn!(error = %e, "the console stopped");
        }
    });
    bound
}

/// SIGINT and SIGTERM, caught from the moment this is made (a signal during start-up waits
/// here instead of killing the process).
pub struct Stops {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    /// Catches both from now on.
    pub fn catch() -> Stops {
        use tokio::signal::unix::{signal, SignalKind};
        Stops {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Waits for either; says which.
    pub async fn next(&mut self) -> &'static str {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.int) => "SIGINT",
            _ = recv(&mut self.term) => "SIGTERM",
        }
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// This process's resident memory (Linux `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The bytes of the files under `path`.
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
