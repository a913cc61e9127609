//! The seed's success criteria, measured on a log whose every time is chosen: each figure is
//! checked against the arithmetic done by hand.

mod common;

use common::{discovered, generated_from};
use stratagem_events::projection::kpi::KpiVerdict;
use stratagem_events::record::RecordedEvent;
use stratagem_events::{
    Decision, Event, Projections, ReviewApproved, Stage, StageCompleted, StageMetrics,
    StagePromoted, StageStarted, ValidationDecided, ValidationLayerFinished,
};
use uuid::Uuid;

const SECOND: i64 = 1_000_000;
const DAY: i64 = 86_400 * SECOND;
/// "Now": 2026-12-03T12:00:00Z.
const NOW: i64 = 1_796_299_200 * SECOND;

/// A log built event by event at chosen times, linked as a chain (unless told to break it).
struct Log {
    p: Projections,
    seq: u64,
    prev: [u8; 32],
}

impl Log {
    fn new() -> Log {
        Log {
            p: Projections::default(),
            seq: 0,
            prev: [0; 32],
        }
    }

    fn at(&mut self, at: i64, event: impl Into<Event>) {
        self.add(at, event.into(), true);
    }

    fn add(&mut self, at: i64, event: Event, linked: bool) {
        self.seq += 1;
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&self.seq.to_be_bytes());
        hash[8] = 0xab;
        let rec = RecordedEvent {
            seq: self.seq,
            id: Uuid::now_v7(),
            recorded_at_micros: at,
            schema_version: 1,
            kind: event.kind(),
            payload: Vec::new(),
            prev_hash: if linked { self.prev } else { [0xee; 32] },
            hash,
        };
        self.p.apply_decoded(&rec, event);
        self.prev = hash;
    }
}

fn decided(id: Uuid, decision: Decision) -> ValidationDecided {
    ValidationDecided {
        strategy_id: id,
        decision,
        layers_passed: 6,
        reason: String::new(),
    }
}

fn layer(id: Uuid, layer: u8, name: &str, passed: bool) -> ValidationLayerFinished {
    ValidationLayerFinished {
        strategy_id: id,
        layer,
        layer_name: name.into(),
        passed,
        errors: vec![],
        warnings: vec![],
        duration_us: 1,
    }
}

fn promoted(id: Uuid, from: Option<Stage>, to: Stage) -> StagePromoted {
    StagePromoted {
        strategy_id: id,
        from,
        to,
    }
}

fn completed(id: Uuid, stage: Stage) -> StageCompleted {
    StageCompleted {
        strategy_id: id,
        stage,
        run_id: Uuid::now_v7(),
        metrics: StageMetrics::default(),
        passed: true,
        gate: String::new(),
    }
}

fn started(id: Uuid, stage: Stage) -> StageStarted {
    StageStarted {
        strategy_id: id,
        stage,
        run_id: Uuid::now_v7(),
        baseline: None,
        capital_fraction: 1.0,
        window_start: None,
        window_end: None,
    }
}

#[test]
fn each_criterion_is_the_arithmetic_of_the_events_in_its_window() {
    let mut log = Log::new();
    let id = |n: u128| Uuid::from_u128(n);
    // Three opportunities eight or more days ago (outside a 7-day window), ten inside.
    for n in 0..3 {
        log.at(
            NOW - 8 * DAY - n * 3600 * SECOND,
            discovered(id(100 + n as u128), "an old idea"),
        );
    }
    let t0 = NOW - 3 * DAY;
    for n in 0..10u128 {
        log.at(
            t0 + n as i64 * 60 * SECOND,
            discovered(id(n + 1), "an idea"),
        );
    }
    // An old strategy from an old opportunity: decided, COLD completed, 10 days ago.
    let old = id(500);
    log.at(NOW - 10 * DAY, generated_from(old, id(100)));
    log.at(NOW - 10 * DAY, decided(old, Decision::Rejected));
    log.at(NOW - 10 * DAY, completed(old, Stage::Cold));
    // Four strategies of opportunities 1–4 (discovered at t0, t0+60 s, t0+120 s, t0+180 s).
    let s: Vec<Uuid> = (1..=4).map(|n| id(1000 + n)).collect();
    for (n, sid) in s.iter().enumerate() {
        log.at(t0 + DAY, generated_from(*sid, id(n as u128 + 1)));
    }
    // Security passed for S1 and S2; S3's code runs in the sandbox without it.
    log.at(t0 + DAY, layer(s[0], 2, "security", true));
    log.at(t0 + DAY, layer(s[1], 2, "security", true));
    log.at(t0 + DAY, layer(s[2], 2, "security", false));
    log.at(t0 + DAY, layer(s[0], 6, "sandbox", true));
    log.at(t0 + DAY, layer(s[1], 6, "sandbox", true));
    log.at(t0 + DAY, layer(s[2], 6, "sandbox", false));
    // Decisions: latencies from discovery 30 s, 60 s, 120 s, 600 s.
    log.at(t0 + 30 * SECOND, decided(s[0], Decision::Approved));
    log.at(
        t0 + 60 * SECOND + 60 * SECOND,
        decided(s[1], Decision::Approved),
    );
    log.at(
        t0 + 120 * SECOND + 120 * SECOND,
        decided(s[2], Decision::Rejected),
    );
    log.at(
        t0 + 180 * SECOND + 600 * SECOND,
        decided(s[3], Decision::ManualReview),
    );
    // S1 goes all the way, a person approving LIMITED; S2 stops after COLD.
    let d = t0 + 2 * DAY;
    log.at(d, promoted(s[0], None, Stage::Cold));
    log.at(d, started(s[0], Stage::Cold));
    log.at(d, completed(s[0], Stage::Cold));
    log.at(d, promoted(s[0], Some(Stage::Cold), Stage::Warm));
    log.at(
        d,
        ReviewApproved {
            strategy_id: s[0],
            reviewer: "ada".into(),
            before_stage: Some(Stage::Limited),
            note: String::new(),
        },
    );
    log.at(d, promoted(s[0], Some(Stage::Warm), Stage::Limited));
    log.at(d, promoted(s[0], Some(Stage::Limited), Stage::Full));
    log.at(d, promoted(s[1], None, Stage::Cold));
    log.at(d, completed(s[1], Stage::Cold));
    // One event whose link is broken.
    log.add(d, Event::from(completed(s[1], Stage::Warm)), false);
    let events = log.seq;

    let k = log.p.kpis.report(NOW, 7);
    assert_eq!(k.window_days, 7);
    assert_eq!(k.since, "2026-11-26T12:00:00.000000Z");
    assert_eq!(k.until, "2026-12-03T12:00:00.000000Z");
    // 10 discoveries in 7 days.
    assert_eq!(k.discoveries_per_day.count, 10);
    assert!((k.discoveries_per_day.value.unwrap() - 10.0 / 7.0).abs() < 1e-12);
    assert_eq!(k.discoveries_per_day.verdict, KpiVerdict::Met);
    // 2 approved of 4 decided (the old one is outside): 50 %, met.
    assert_eq!(
        (k.validation_pass_rate.count, k.validation_pass_rate.of),
        (2, Some(4))
    );
    assert_eq!(k.validation_pass_rate.value, Some(0.5));
    assert_eq!(k.validation_pass_rate.verdict, KpiVerdict::Met);
    // COLD completed in the window by S1 and S2, one promoted to WARM: 50 %.
    assert_eq!((k.cold_to_warm.count, k.cold_to_warm.of), (1, Some(2)));
    assert_eq!(k.cold_to_warm.verdict, KpiVerdict::Met);
    // S1 entered WARM and reached FULL: 100 %.
    assert_eq!((k.warm_to_full.count, k.warm_to_full.of), (1, Some(1)));
    assert_eq!(k.warm_to_full.verdict, KpiVerdict::Met);
    // Latencies 30, 60, 120, 600 s: nearest-rank p50 = 60 s, p95 = 600 s ≥ 300 s: missed.
    let l = &k.discovery_to_decision;
    assert_eq!(
        (l.p50_seconds, l.p95_seconds, l.of),
        (Some(60.0), Some(600.0), 4)
    );
    assert_eq!(l.verdict, KpiVerdict::Missed);
    // Code that ran: S1, S2 scanned first, S3 not: 2 of 3, missed.
    assert_eq!(
        (k.security_scanned.count, k.security_scanned.of),
        (2, Some(3))
    );
    assert_eq!(k.security_scanned.verdict, KpiVerdict::Missed);
    // Every event but one links to the one before it.
    assert_eq!(
        (k.audit_trail.count, k.audit_trail.of),
        (events - 1, Some(events))
    );
    assert_eq!(k.audit_trail.verdict, KpiVerdict::Missed);
    // Promotions in the window: S1's four and S2's one; a person approved one of them.
    assert_eq!(
        (
            k.human_approval_optional.count,
            k.human_approval_optional.of
        ),
        (4, Some(5))
    );
    assert_eq!(k.human_approval_optional.value, Some(0.8));
    assert_eq!(k.human_approval_optional.verdict, KpiVerdict::Met);

    // A one-day window ending now holds none of it: every share says so, and the rate is 0.
    let k = log.p.kpis.report(NOW, 1);
    assert_eq!(k.discoveries_per_day.value, Some(0.0));
    assert_eq!(k.discoveries_per_day.verdict, KpiVerdict::Missed);
    for kpi in [
        &k.validation_pass_rate,
        &k.cold_to_warm,
        &k.warm_to_full,
        &k.security_scanned,
        &k.human_approval_optional,
    ] {
        assert_eq!(kpi.verdict, KpiVerdict::NoData, "{kpi:?}");
        assert_eq!(kpi.value, None);
    }
    assert_eq!(k.discovery_to_decision.verdict, KpiVerdict::NoData);
    // The whole log's chain is judged whatever the window.
    assert_eq!(k.audit_trail.of, Some(events));
}

#[test]
fn what_falls_out_of_the_longest_window_is_let_go() {
    let mut log = Log::new();
    for n in 0..50u128 {
        log.at(
            NOW - 200 * DAY + n as i64 * DAY,
            discovered(Uuid::from_u128(n + 1), "an idea"),
        );
    }
    // Events 200..151 days ago, then one now: only what is within 90 days of now stays.
    log.at(NOW, discovered(Uuid::from_u128(999), "today's idea"));
    let kept: u64 = log.p.kpis.discovered_per_hour.values().sum();
    assert_eq!(kept, 1);
    assert_eq!(log.p.kpis.report(NOW, 90).discoveries_per_day.count, 1);
}
