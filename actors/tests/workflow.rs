//! The recorded workflows in-process, no binary spawned: the real [`Engine`] — the root
//! supervisor, the source actors over the shipped recordings, the scorer, the generator, the
//! validator (rustc → wasm32 → wasmtime), the stage runners and the monitor — over a sled data
//! directory in a temporary folder, driven as the daemon drives it.

use std::path::{Path, PathBuf};

use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::SourceName;
use stratagem_actors::workflow::daemon::Daemon;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::run::{sources_for, ChaosHooks, Engine, Funnel, Sources};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::Event;

fn recordings() -> Mode {
    Mode::Offline(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sources"))
}

fn settings() -> Settings {
    Settings::from_pairs([("VALIDATOR_CONCURRENCY", "2"), ("STAGE_CONCURRENCY", "2")])
}

#[path = "../../tests/common/http.rs"]
mod http;

/// The events of the log, in order. An actor the engine's stop is still winding down (a
/// restarted notifier, under load) may hold the directory a moment longer: waited for, as
/// `DataDir::reopen` waits, up to 10 s.
fn events(root: &Path) -> Vec<Event> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dir = loop {
        match DataDir::open(root) {
            Err(e) if e.is_locked() && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("open"),
        }
    };
    let store = dir.store();
    store
        .read(1, store.head().seq as usize)
        .expect("read")
        .iter()
        .map(|r| r.event().expect("decode"))
        .collect()
}

/// Each stage transition once: a start and a completion per run id, a promotion or a
/// rejection per strategy, stage and stay (a rollback begins another stay).
fn nothing_twice(root: &Path) {
    let mut seen = std::collections::HashSet::new();
    let mut stays = std::collections::HashMap::new();
    for e in events(root) {
        let stay = |id| stays.get(&id).copied().unwrap_or(0u32);
        let key = match &e {
            Event::StageRolledBack(r) => {
                *stays.entry(r.strategy_id).or_insert(0) += 1;
                continue;
            }
            Event::StageStarted(s) => format!("started {}", s.run_id),
            Event::StageCompleted(s) => format!("completed {}", s.run_id),
            Event::StagePromoted(p) => {
                format!(
                    "promoted {} {:?} {}",
                    p.strategy_id,
                    p.to,
                    stay(p.strategy_id)
                )
            }
            Event::StageRejected(r) => {
                format!(
                    "rejected {} {:?} {}",
                    r.strategy_id,
                    r.stage,
                    stay(r.strategy_id)
                )
            }
            Event::StrategyGenerated(g) => format!("generated {}", g.sha256),
            Event::ValidationDecided(v) => format!("decided {}", v.strategy_id),
            Event::ValidationLayerFinished(l) => format!("layer {} {}", l.layer, l.strategy_id),
            _ => continue,
        };
        assert!(seen.insert(key.clone()), "{key} is on the log twice");
    }
}

/// One cycle over every recording, then (the daemon) two idle cycles; returns the funnel.
async fn run(root: &Path, chaos: ChaosHooks) -> Funnel {
    run_with(root, chaos, settings()).await
}

async fn run_with(root: &Path, chaos: ChaosHooks, settings: Settings) -> Funnel {
    let mode = recordings();
    let _kept = DataDir::keep_open(root).expect("keep open");
    let engine = Engine::start(root, &mode, settings.clone(), None, chaos)
        .await
        .expect("start");
    let all = sources_for(root, &settings, &mode, Sources::All).expect("sources");
    assert_eq!(all.len(), SourceName::ALL.len());
    let mut daemon = Daemon::new(root, &settings, &mode).expect("daemon");
    let first = daemon.tick(&engine).await.expect("first cycle");
    assert!(!first.idle, "a first cycle works");
    let funnel = daemon.last().expect("a report").funnel.clone();
    for _ in 0..2 {
        let tick = daemon.tick(&engine).await.expect("cycle");
        assert!(tick.idle, "nothing due, nothing waiting: idle");
        assert_eq!(tick.head, first.head, "an idle cycle appends nothing");
    }
    // Every source once more (as `run --once` checks them): nothing new, nothing done twice.
    let again = engine.cycle(all).await.expect("again");
    assert_eq!(again.funnel, funnel);
    engine.stop().await;
    drop(_kept);
    nothing_twice(root);
    funnel
}

fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(name)
        .tempdir()
        .expect("temp dir");
    let root = dir.path().to_path_buf();
    (dir, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_runs_the_whole_pipeline_in_process_and_crashes_change_nothing() {
    let (_a, calm) = temp("workflow-calm");
    let undisturbed = run(&calm, ChaosHooks::default()).await;
    // The recordings' ideas reach every stage, and the monitor acts.
    assert!(undisturbed.discovered > 100, "{undisturbed}");
    assert!(undisturbed.generated >= 2, "{undisturbed}");
    assert!(undisturbed.reached_full >= 1, "{undisturbed}");
    assert!(undisturbed.rolled_back >= 1, "{undisturbed}");

    // A source actor, the pipeline phase, the validator and a stage runner each fail once.
    let (_b, stormy) = temp("workflow-chaos");
    let chaos = ChaosHooks {
        panic_stage: Some("validator".into()),
        panic_source: Some(SourceName::Arxiv),
        fail_phase: Some("pipeline".into()),
    };
    let disturbed = run(&stormy, chaos).await;
    assert_eq!(disturbed, undisturbed, "the crashes changed the outcome");
    let restarts = events(&stormy)
        .iter()
        .filter(|e| matches!(e, Event::ActorRestarted(_)))
        .count();
    assert!(
        restarts >= 2,
        "the failed actors were restarted ({restarts})"
    );

    // The projections on disk are a replay of the log.
    for root in [&calm, &stormy] {
        let dir = DataDir::open(root).expect("open");
        let live = dir.projections().expect("projections");
        let scratch = root.join("replay");
        ProjectionFiles::rebuild(&scratch, dir.store()).expect("rebuild");
        for name in stratagem_events::projection::files::projection_file_names() {
            let a = std::fs::read(live.dir().join(name)).unwrap_or_default();
            let b = std::fs::read(scratch.join(name)).unwrap_or_default();
            assert!(a == b, "{name} differs from a replay");
        }
    }
}

/// The notifier fails on its first delivery (the real Slack client, against a webhook on
/// loopback): it is restarted, the pipeline goes on as undisturbed, and the messages reach the
/// webhook, each outcome on the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_crashes_is_restarted_and_delivers() {
    let slack = http::LoopbackServer::start(vec![http::Reply::bytes(200, "text/plain", "ok")]);
    let (_a, root) = temp("workflow-notifier");
    let settings = Settings::from_pairs([
        ("VALIDATOR_CONCURRENCY", "2".to_string()),
        ("STAGE_CONCURRENCY", "2".to_string()),
        (
            "SLACK_WEBHOOK_URL",
            format!("{}/services/T0/B0/x", slack.url),
        ),
        ("SLACK_MIN_INTERVAL_MS", "0".to_string()),
    ]);
    let chaos = ChaosHooks {
        panic_stage: Some("notifier".into()),
        ..ChaosHooks::default()
    };
    let funnel = run_with(&root, chaos, settings).await;
    assert!(funnel.reached_full >= 1, "{funnel}");
    let log = events(&root);
    let restarted = log
        .iter()
        .filter(|e| matches!(e, Event::ActorRestarted(r) if r.actor == "notifier"))
        .count();
    assert_eq!(restarted, 1, "the notifier was restarted once");
    let sent = log
        .iter()
        .filter(|e| matches!(e, Event::NotificationSent(_)))
        .count();
    assert!(sent >= 1, "messages were delivered after the restart");
    assert!(slack.requests().len() >= sent, "the webhook got them");
}
