//! `stratagem run --once [--offline DIR]` and the daemon `stratagem run`: the whole pipeline,
//! one cycle or one cycle a tick. The cycle itself is the library's
//! (`stratagem_actors::workflow::run`); here are the loop, the signals, the metrics endpoint and
//! what is printed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use serde::Serialize;
use stratagem_actors::cycle::Idleness;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::SourceName;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::review::handoffs_waiting;
use stratagem_actors::workflow::run::{
    sources_for, ChaosHooks, CycleDone, Engine, Funnel, Progress, Sources,
};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::projection::files::AUTONOMY_FILE;
use stratagem_events::projection::AuditFile;

use super::print_json;

#[derive(Serialize)]
struct RunJson {
    funnel: Funnel,
    audit_files: Vec<String>,
    notes: Vec<String>,
}

pub async fn run(
    root: &Path,
    settings: &Settings,
    once: bool,
    offline: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    // Progress on stderr, only when someone is watching.
    let progress: Progress = (std::io::stderr().is_terminal() && !json)
        .then(|| Arc::new(|what: &str| eprintln!("… {what}")) as Arc<dyn Fn(&str) + Send + Sync>);
    let mode = match offline {
        None => Mode::Online,
        Some(dir) if dir.is_dir() => Mode::Offline(dir),
        Some(dir) => bail!("--offline {}: no such folder (it should hold one folder per source: arxiv/, reddit/, …)", dir.display()),
    };
    // The store stays open for the whole run (each phase borrows it): see `DataDir::keep_open`.
    let _kept = DataDir::keep_open(root)?;
    let chaos = ChaosHooks {
        panic_stage: crate::chaos::hook("PANIC_STAGE"),
        panic_source: crate::chaos::hook("PANIC_SOURCE").and_then(|s| SourceName::parse(&s)),
        fail_phase: crate::chaos::hook("FAIL_PHASE"),
    };
    let engine = Engine::start(root, &mode, settings.clone(), progress, chaos).await?;
    let result = if once {
        match sources_for(root, settings, &mode, Sources::All) {
            Ok(selected) => match engine.cycle(selected).await {
                Ok(done) => report(root, done, json),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    } else {
        daemon(root, settings, &mode, &engine, json).await
    };
    engine.stop().await;
    result
}

/// `stratagem run`: cycles until SIGINT or SIGTERM. Each cycle checks the sources that are due
/// (their interval passed since their last check on the log, so a restart keeps the rhythm),
/// then carries every piece of in-flight work forward. The data directory is held for the whole
/// run (a person's review decisions reach it through `review-inbox/`). A signal lets the cycle
/// in progress finish; whatever is left is on the log and resumes at the next start.
async fn daemon(
    root: &Path,
    settings: &Settings,
    mode: &Mode,
    engine: &Engine,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let daemon = settings.daemon()?;
    let (sim_hours, tick, max_cycles) = (daemon.simulated_hours, daemon.tick, daemon.max_cycles);
    let started_micros = now_micros();
    let rss_start = resident_bytes();
    let mut rss_first = None;
    // After a simulated day's cycles the caches and the allocator have settled: growth after
    // it is what a leak would show.
    let mut rss_day = None;
    let mut sim_checked: HashMap<SourceName, i64> = HashMap::new();
    let shared: crate::metrics::Shared = Default::default();
    let addr = daemon.metrics_addr;
    if addr.trim() != "off" {
        match tokio::net::TcpListener::bind(addr.trim()).await {
            Ok(listener) => {
                if let Ok(local) = listener.local_addr() {
                    if !json {
                        say!("metrics on http://{local}/metrics (and /livez, /readyz)");
                    }
                }
                tokio::spawn(crate::metrics::serve(listener, shared.clone(), tick));
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot serve /metrics; running without it")
            }
        }
    }
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    let mut cycles = 0u64;
    let mut last: Option<CycleDone> = None;
    let mut idleness = Idleness::default();
    while !*stop.borrow() {
        if let Ok(mut s) = shared.lock() {
            s.heartbeat = Some(std::time::Instant::now());
        }
        let now = if sim_hours > 0 {
            started_micros + (cycles * sim_hours * 3_600_000_000) as i64
        } else {
            now_micros()
        };
        let due = Sources::Due {
            now,
            simulated: (sim_hours > 0).then_some(&sim_checked),
        };
        let began = std::time::Instant::now();
        let selected = sources_for(root, settings, mode, due)?;
        let mut head = stratagem_events::EventStore::head(DataDir::open(root)?.store()).seq;
        // Idle (see `Idleness`): the cycle appends nothing and does nothing, and its report is
        // the last one's.
        let idle = last.is_some() && idleness.is_idle(&selected, head, handoffs_waiting(root));
        if !idle {
            let done = engine.cycle(selected).await?;
            head = stratagem_events::EventStore::head(DataDir::open(root)?.store()).seq;
            idleness.worked(head, done.retry);
            // Only a cycle that ran checked its sources (an idle one checks nothing).
            for name in &done.checked {
                sim_checked.insert(*name, now);
            }
            if let Ok(mut s) = shared.lock() {
                s.text = done.metrics.clone();
            }
            last = Some(done);
        }
        let took = began.elapsed();
        cycles += 1;
        if let Ok(mut s) = shared.lock() {
            s.cycles = cycles;
            s.heartbeat = Some(std::time::Instant::now());
        }
        tracing::info!(
            cycles,
            idle,
            took_us = took.as_micros() as u64,
            "cycle done"
        );
        if cycles == 1 {
            rss_first = resident_bytes();
        }
        if cycles == 24 {
            rss_day = resident_bytes();
        }
        if let (false, Some(done)) = (json, &last) {
            say!(
                "cycle {cycles} ({}, {} µs, log at {}): {}",
                if idle { "idle" } else { "worked" },
                took.as_micros(),
                head,
                done.funnel
            );
        }
        if max_cycles > 0 && cycles >= max_cycles {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
    if !json {
        say!("stopped after {cycles} cycle(s): everything in flight is on the log and resumes at the next start");
        let mib = |b: Option<u64>| {
            b.map_or("?".to_string(), |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            })
        };
        say!(
            "resident memory {} at start, {} after the first cycle, {} after 24 cycles, {} at the end; event log {} on disk",
            mib(rss_start),
            mib(rss_first),
            mib(rss_day),
            mib(resident_bytes()),
            mib(Some(dir_size(&root.join("events"))))
        );
    }
    match last {
        Some(done) if json => report(root, done, true),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// This process's resident memory (Linux `/proc/self/status`).
fn resident_bytes() -> Option<u64> {
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

fn dir_size(path: &Path) -> u64 {
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

fn report(root: &Path, done: CycleDone, json: bool) -> anyhow::Result<ExitCode> {
    let CycleDone {
        regime,
        funnel,
        notes,
        ..
    } = done;
    let mut audit_files: Vec<String> = AuditFile::ALL
        .iter()
        .map(|f| root.join(f.file_name()).display().to_string())
        .collect();
    audit_files.push(root.join(AUTONOMY_FILE).display().to_string());
    if json {
        print_json(&RunJson {
            funnel,
            audit_files,
            notes,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let f = &funnel;
    say!("regime        {regime}");
    say!(
        "funnel        discovered {} → scored {} → submitted {} → generated {} → validated {} → approved {}",
        f.discovered, f.scored, f.submitted, f.generated, f.validated, f.approved
    );
    say!(
        "stages        reached COLD {}, WARM {}, LIMITED {}, FULL {}",
        f.reached_cold,
        f.reached_warm,
        f.reached_limited,
        f.reached_full
    );
    say!(
        "monitor       rolled back {}, retired {}, clones spawned {}",
        f.rolled_back,
        f.retired,
        f.cloned
    );
    for n in &notes {
        say!("note          {n}");
    }
    say!("audit files   {}", audit_files.join("\n              "));
    Ok(ExitCode::SUCCESS)
}
