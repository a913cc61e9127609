//! The pipeline supervisor in-process (no binary): its workers over a log in memory
//! (`common::LogWork`), on a paused tokio clock (backoffs and hours-long stage runs take no real
//! time). What is under test is the supervisor's contract: each kind of actor that crashes is
//! restarted and its queue rebuilt from the log, a job cut short resumes, nothing is done
//! twice, jobs of a pool overlap but never share an id, a long stage run holds only its worker,
//! and past the restart limit a worker is given up with its work left on the log.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{actor_events, events, everything_done_once, log_with, Seen};
use stratagem_actors::pipeline::{run_until_idle, Chaos, Concurrency, Step};
use stratagem_actors::supervisor::RestartPolicy;
use stratagem_events::{Event, MemoryEventStore, Stage};

const POOLS: Concurrency = Concurrency {
    validators: 3,
    stages: 2,
};

#[tokio::test(start_paused = true)]
async fn each_kind_of_actor_that_crashes_is_restarted_and_nothing_is_done_twice() {
    let kinds = Step::ALL
        .iter()
        .map(|s| Chaos::Worker(*s))
        .chain([Chaos::Monitor]);
    for chaos in kinds {
        let (work, store, ids) = log_with(5, Arc::default()).await;
        let idle = run_until_idle(work.clone(), RestartPolicy::default(), Some(chaos), POOLS)
            .await
            .unwrap();
        everything_done_once(&work, &store, &ids).await;
        // The actor that crashed (the first worker of its pool takes the first job) was
        // restarted once, and said so on the log.
        let actor = match chaos {
            Chaos::Worker(step) => step.actor(),
            Chaos::Monitor => "monitor".to_string(),
        };
        assert_eq!(actor_events(&store, "restarted", &actor), 1, "{actor}");
        assert!(idle.monitor_errors.is_empty());
    }
}

fn crashes(store: &MemoryEventStore, kind: &str, actor: &str) -> usize {
    events(store)
        .iter()
        .filter(|e| match e {
            Event::ActorRestarted(r) => kind == "restarted" && r.actor.starts_with(actor),
            Event::ActorGaveUp(g) => kind == "gave_up" && g.actor.starts_with(actor),
            _ => false,
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_job_that_crashes_after_its_start_is_recorded_resumes_and_ends_once() {
    let seen = Arc::new(Seen::default());
    seen.crash_once.lock().unwrap().extend([
        Step::Screen,
        Step::Validate,
        Step::Stage(Stage::Warm),
    ]);
    let (work, store, ids) = log_with(4, seen.clone()).await;
    run_until_idle(work.clone(), RestartPolicy::default(), None, POOLS)
        .await
        .unwrap();
    // The validation began again and was decided once; the WARM run resumed under its own run
    // id (no second stage.started: `everything_done_once` would see it).
    everything_done_once(&work, &store, &ids).await;
    assert_eq!(crashes(&store, "restarted", "screener"), 1);
    assert_eq!(crashes(&store, "restarted", "validator"), 1);
    assert_eq!(crashes(&store, "restarted", "stage/warm"), 1);
    assert!(seen.crash_once.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn jobs_of_a_pool_overlap_up_to_its_size_and_never_share_an_id() {
    let seen = Arc::new(Seen::default());
    let (work, store, ids) = log_with(7, seen.clone()).await;
    run_until_idle(work.clone(), RestartPolicy::default(), None, POOLS)
        .await
        .unwrap();
    everything_done_once(&work, &store, &ids).await;
    assert_eq!(seen.most_validations.load(Ordering::SeqCst), 3);
    assert_eq!(seen.shared.load(Ordering::SeqCst), 0);
    // Each worker of each pool recorded its start once.
    for actor in ["validator", "validator#2", "validator#3", "stage/warm#2"] {
        assert_eq!(actor_events(&store, "started", actor), 1, "{actor}");
    }
    assert_eq!(actor_events(&store, "started", "validator#4"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_long_stage_run_holds_only_its_own_worker() {
    let (work, store, ids) = log_with(5, Arc::default()).await;
    let began = tokio::time::Instant::now();
    run_until_idle(work.clone(), RestartPolicy::default(), None, POOLS)
        .await
        .unwrap();
    everything_done_once(&work, &store, &ids).await;
    let log = events(&store);
    let completed = |stage: Stage| -> Vec<usize> {
        log.iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::StageCompleted(c) if c.stage == stage => Some(i),
                _ => None,
            })
            .collect()
    };
    // Every COLD run (0.2 s) ended while the first WARM runs (4 h each) were under way.
    assert!(completed(Stage::Cold).last() < completed(Stage::Warm).first());
    // Five WARM runs of 4 h and five LIMITED runs of 24 h, two workers each: LIMITED begins
    // after the first WARM run (4 h) and takes three rounds (72 h), while the other WARM runs go
    // on — 76 h of simulated time in all, where one job at a time would take 140 h (the clock is
    // paused: no real hour passed).
    let took = began.elapsed();
    assert!(took >= Duration::from_secs(76 * 3600), "{took:?}");
    assert!(took < Duration::from_secs(80 * 3600), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_worker_past_its_restart_limit_is_given_up_and_its_work_stays_on_the_log() {
    let seen = Arc::new(Seen::default());
    seen.always
        .lock()
        .unwrap()
        .insert(Step::Stage(Stage::Limited));
    let (work, store, ids) = log_with(3, seen).await;
    let policy = RestartPolicy {
        max_restarts: 2,
        window: Duration::from_secs(3 * 24 * 3600),
        initial_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(30),
    };
    run_until_idle(work.clone(), policy, None, POOLS)
        .await
        .unwrap();
    // A worker of the pool (or both) given up; no other step's.
    assert!(crashes(&store, "gave_up", "stage/limited") >= 1);
    assert_eq!(
        crashes(&store, "gave_up", ""),
        crashes(&store, "gave_up", "stage/limited")
    );
    assert!(crashes(&store, "restarted", "stage/limited") >= 2);
    // Every strategy waits in LIMITED; a run that began is open (the next start resumes it
    // under its own id), and none began twice.
    let w = work.lock().await;
    let state = w.state();
    assert_eq!(state.strategies.len(), ids.len());
    for s in state.strategies.values() {
        assert_eq!(s.stage, Some(Stage::Limited), "{s:?}");
    }
    let open = state
        .strategies
        .values()
        .filter(|s| matches!(s.open_run, Some((Stage::Limited, _))))
        .count();
    let limited_starts = events(&store)
        .iter()
        .filter(|e| matches!(e, Event::StageStarted(s) if s.stage == Stage::Limited))
        .count();
    assert!(open >= 1);
    assert_eq!(limited_starts, open);
}
