//! `stratagem run --once [--offline DIR]` and the daemon `stratagem run`: the whole pipeline,
//! one cycle or one cycle a tick. The cycle itself is the library's
//! (`stratagem_actors::workflow::run`); here are the loop, the signals, the metrics endpoint and
//! what is printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::SourceName;
use stratagem_actors::workflow::daemon::{
    dir_size, resident_bytes, serve, Daemon, Listening, Served, Stops, Tick,
};
use stratagem_actors::workflow::data_dir::DataDir;
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
    shared: Option<Arc<stratagem_events::JetStreamEventStore>>,
) -> anyhow::Result<ExitCode> {
    let mut stops = Stops::catch();
    // On a log other processes share (`--store nats://…`) one process acts at a time: the
    // holder of its leader lease. The others wait on standby.
    let leadership = match &shared {
        Some(store) => match super::store::lead(store, settings, &mut stops).await? {
            Some(l) => Some(l),
            None => return Ok(ExitCode::from(130)),
        },
        None => None,
    };
    // Progress on stderr, only when someone is watching.
    let progress: Progress = (std::io::stderr().is_terminal() && !json).then(|| {
        Arc::new(|what: &str| eprintln!("… {}", stratagem_events::text::printable(what)))
            as Arc<dyn Fn(&str) + Send + Sync>
    });
    let mode = stratagem_actors::workflow::discover::mode(offline)?;
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
            // A signal stops the cycle where it stands: every step recorded its start before it
            // acted, so what is in flight is on the log and resumes at the next start.
            Ok(selected) => tokio::select! {
                done = engine.cycle(selected) => match done {
                    Ok(done) => report(root, done, json),
                    Err(e) => Err(e.into()),
                },
                signal = stops.next() => {
                    eprintln!("stopped by {signal}: everything recorded is on the log, and `stratagem run --once` resumes what was in flight");
                    Ok(ExitCode::from(130))
                }
            },
            Err(e) => Err(e.into()),
        }
    } else {
        daemon(root, settings, &mode, &engine, stops, json).await
    };
    engine.stop().await;
    if let Some(l) = leadership {
        l.release().await;
    }
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
    mut stops: Stops,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stops.next().await;
        let _ = stop_tx.send(true);
    });
    let mut daemon = Daemon::new(root, settings, mode)?;
    let mut cycles = 0;
    let listening = |what: Served, at: Listening| match (what, at) {
        (Served::Metrics, Some(local)) if !json => {
            say!("metrics on http://{local}/metrics (and /livez, /readyz)")
        }
        (Served::Console, Some(local)) if !json => say!("console on http://{local}/"),
        _ => {}
    };
    let on_tick = |tick: &Tick, last: Option<&CycleDone>| {
        cycles = tick.cycles;
        if let (false, Some(last)) = (json, last) {
            say!(
                "cycle {} ({}, {} µs, log at {}): {}",
                tick.cycles,
                if tick.idle { "idle" } else { "worked" },
                tick.took.as_micros(),
                tick.head,
                last.funnel
            );
        }
    };
    let memory = serve(
        &mut daemon,
        engine,
        &settings.daemon()?,
        stop,
        listening,
        on_tick,
    )
    .await?;
    if !json {
        say!("stopped after {cycles} cycle(s): everything in flight is on the log and resumes at the next start");
        let mib = |b: Option<u64>| {
            b.map_or("?".to_string(), |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            })
        };
        say!(
            "resident memory {} at start, {} after the first cycle, {} after 24 cycles, {} at the end; event log {} on disk",
            mib(memory.start),
            mib(memory.first_cycle),
            mib(memory.day),
            mib(resident_bytes()),
            mib(Some(dir_size(&root.join("events"))))
        );
    }
    match daemon.into_last() {
        Some(done) if json => report(root, done, true),
        _ => Ok(ExitCode::SUCCESS),
    }
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
