//! The monitor's rules on hand-built equity curves, each expected figure worked out in a
//! comment.

use stratagem_events::projection::{OpportunityStatus, OpportunityView, StrategyView};
use stratagem_events::GenerationMode;

use super::*;

fn settings() -> MonitorSettings {
    MonitorSettings {
        step_hours: 6,
        window_hours: 12,
        underperform_hours: 18,
        ..MonitorSettings::default()
    }
}

/// An equity curve from 100,000 through the given per-bar returns.
fn curve(returns: &[f64]) -> Vec<f64> {
    let mut e = vec![100_000.0];
    for r in returns {
        let last = *e.last().unwrap();
        e.push(last * (1.0 + r));
    }
    e
}

fn hours(n: usize) -> Vec<i64> {
    (1..=n as i64).map(|i| 1_600_000_000 + i * 3600).collect()
}

fn curves<'a>(ts: &'a [i64], equity: &'a [f64], baseline: &'a [f64]) -> StayCurves<'a> {
    StayCurves {
        timestamps: ts,
        equity,
        baseline,
        bars_per_hour: 1,
        bars_per_year: 8760.0,
        trap: None,
    }
}

#[test]
fn a_drawdown_beyond_the_limit_degrades_and_a_full_window_above_the_baseline_is_a_winner() {
    // Ten bars up 1 %, then down 2 % a bar; the baseline is flat (Sharpe 0).
    let mut r = vec![0.01; 10];
    r.extend(vec![-0.02; 38]);
    let (ts, eq, flat) = (hours(48), curve(&r), vec![100_000.0; 49]);
    let got = readings(&curves(&ts, &eq, &flat), &settings(), 0, 0);
    // Readings at 6, 12 and 18 bars. At 6 the 12 h window is not full: healthy whatever the
    // Sharpe. At 12 it is full, up 10 % then down 4 %: Sharpe far above 1.5 and above 0, a
    // winner. At 18 the equity is 0.98^8 of its peak: 1 − 0.85076 = 14.9 % below, beyond 10 %.
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].health, Health::Healthy);
    assert_eq!(got[1].health, Health::Winner);
    assert_eq!(
        got[2].health,
        Health::Degraded("drawdown 14.9 % beyond the limit of 10.0 %".into())
    );
    // P&L of the stay: 100,000 × (1.01^10 × 0.98^8 − 1) = −6,023.
    assert!((got[2].pnl + 6_023.0).abs() < 1.0, "{}", got[2].pnl);
    assert!((got[2].total_return + 0.06023).abs() < 1e-4);
    // The rolling window of the third reading is bars 7 to 18.
    assert_eq!((got[2].window_start, got[2].window_end), (ts[6], ts[17]));
    assert_eq!(got[2].observation, 3);
}

#[test]
fn a_rolling_sharpe_below_the_baseline_for_the_set_time_degrades_and_resumes_by_number() {
    // The strategy goes +0.1 %, −0.1 % (Sharpe about 0); the baseline +0.3 %, −0.1 %.
    let r: Vec<f64> = (0..48)
        .map(|i| if i % 2 == 0 { 0.001 } else { -0.001 })
        .collect();
    let b: Vec<f64> = (0..48)
        .map(|i| if i % 2 == 0 { 0.003 } else { -0.001 })
        .collect();
    let (ts, eq, base) = (hours(48), curve(&r), curve(&b));
    let c = curves(&ts, &eq, &base);
    let got = readings(&c, &settings(), 0, 0);
    // The window is full from 12 bars on: below for 6 h at reading 2, 12 h at 3, 18 h at 4,
    // which is the limit.
    let below: Vec<u32> = got.iter().map(|r| r.below_baseline_hours).collect();
    assert_eq!(below, vec![0, 6, 12, 18]);
    let Health::Degraded(why) = &got[3].health else {
        panic!("{got:#?}")
    };
    assert!(why.contains("below the baseline's") && why.contains("for 18 h (the limit is 18 h)"));
    // After a crash that recorded two readings (12 h below), the next is reading 3, as before.
    let resumed = readings(&c, &settings(), 2, 6);
    assert_eq!(resumed, got[2..].to_vec());
    // A stay with every reading taken has nothing new.
    assert!(readings(&c, &settings(), 8, 0).is_empty());
    assert_eq!(readings_possible(48, 1, &settings()), 8);
}

#[test]
fn a_strategy_stopped_by_the_sandbox_is_degraded_at_its_next_reading() {
    let (ts, eq, flat) = (hours(12), vec![100_000.0; 13], vec![100_000.0; 13]);
    let mut c = curves(&ts, &eq, &flat);
    c.trap = Some("out of fuel");
    let got = readings(&c, &settings(), 0, 0);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].health,
        Health::Degraded("stopped by the sandbox: out of fuel".into())
    );
}

fn view(id: Uuid, opportunity: Uuid, stage: Stage) -> StrategyView {
    StrategyView {
        id,
        opportunity_id: opportunity,
        name: format!("momentum_{}", &id.simple().to_string()[..8]),
        path: String::new(),
        sha256: String::new(),
        mode: GenerationMode::Template,
        template: Some("momentum".into()),
        status: StrategyStatus::Staged,
        stage: Some(stage),
        highest_stage: Some(stage),
        last_completed_stage: Some(stage),
        approved_stages: Vec::new(),
        held: None,
        decision: None,
        layers_passed: 6,
        screened: false,
        validation_warnings: 0,
        last_metrics: None,
        implemented: stage == Stage::Full,
        open_run: None,
        generated_seq: 1,
        generated_at_micros: 0,
        tokens_used: 0,
        attempts: 1,
        parameters: vec![
            Parameter {
                name: "lookback".into(),
                value: 24.0,
            },
            Parameter {
                name: "threshold".into(),
                value: 0.01,
            },
        ],
        last_completed_run: Some(Uuid::from_u128(id.as_u128() + 1)),
        monitor: None,
        rollbacks: 0,
        clones: Vec::new(),
        marks: None,
        open_risk: Vec::new(),
        capital_fraction: 0.0,
        run_baseline: None,
        waiting: None,
    }
}

fn opportunity(id: Uuid, parent: Option<Uuid>) -> OpportunityView {
    OpportunityView {
        id,
        source: if parent.is_some() { "clone" } else { "manual" }.into(),
        external_id: None,
        title: "Momentum".into(),
        hypothesis: "Follow the day's trend.".into(),
        url: Some("https://example.org/paper".into()),
        family: Some("momentum".into()),
        template: Some("momentum".into()),
        asset_class: Some("crypto".into()),
        timeframe: Some("1h".into()),
        stated_sharpe: None,
        parameters: Vec::new(),
        parent_strategy_id: parent,
        discovered_seq: 1,
        discovered_at_micros: 0,
        score: None,
        status: OpportunityStatus::Generated,
        strategies: Vec::new(),
        needs: None,
        fit: None,
        read_by: None,
    }
}

fn reading(health: Health) -> Reading {
    Reading {
        observation: 1,
        window_start: 0,
        window_end: 3600,
        pnl: -1_000.0,
        total_return: -0.01,
        rolling_sharpe: -0.5,
        baseline_sharpe: 0.2,
        drawdown: 0.12,
        below_baseline_hours: 0,
        health,
    }
}

fn stay_of(v: &StrategyView) -> Stay {
    Stay {
        strategy_id: v.id,
        stage: Stage::Full,
        run_id: v.last_completed_run.unwrap(),
        done: 0,
        below: 0,
    }
}

#[test]
fn a_degraded_champion_is_rolled_back_the_previous_champion_reinstated_and_a_loser_retired() {
    let (a, b) = (Uuid::from_u128(10), Uuid::from_u128(20));
    let mut state = Projections::default();
    state
        .opportunities
        .insert(Uuid::from_u128(1), opportunity(Uuid::from_u128(1), None));
    let mut champion = view(a, Uuid::from_u128(1), Stage::Full);
    champion.rollbacks = 1;
    state.strategies.insert(a, champion.clone());
    state
        .strategies
        .insert(b, view(b, Uuid::from_u128(1), Stage::Full));
    state.champion = Some(a);
    state.previous_champions = vec![b];
    let degraded = reading(Health::Degraded(
        "drawdown 12.0 % beyond the limit of 10.0 %".into(),
    ));
    let events = plan(
        &state,
        &stay_of(&champion),
        std::slice::from_ref(&degraded),
        &settings(),
        &mut Uuid::now_v7,
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().as_str()).collect();
    assert_eq!(
        kinds,
        ["monitor.observed", "stage.rolled_back", "strategy.retired"]
    );
    let Event::StageRolledBack(back) = &events[1] else {
        unreachable!()
    };
    assert_eq!(
        (back.from, back.to, back.reinstated),
        (Stage::Full, Stage::Limited, Some(b))
    );
    let Event::StrategyRetired(retired) = &events[2] else {
        unreachable!()
    };
    assert!(
        retired.reason.contains("rolled back 2 time(s)"),
        "{}",
        retired.reason
    );

    // A first rollback does not retire; a previous champion no longer at FULL is not
    // reinstated.
    state.strategies.get_mut(&a).unwrap().rollbacks = 0;
    state.strategies.get_mut(&b).unwrap().status = StrategyStatus::Retired;
    let events = plan(
        &state,
        &stay_of(&champion),
        &[degraded],
        &settings(),
        &mut Uuid::now_v7,
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().as_str()).collect();
    assert_eq!(kinds, ["monitor.observed", "stage.rolled_back"]);
    let Event::StageRolledBack(back) = &events[1] else {
        unreachable!()
    };
    assert_eq!(back.reinstated, None);

    // A loss beyond the retire loss retires at the first rollback.
    let mut lost = reading(Health::Degraded("lost 25.0 %".into()));
    lost.total_return = -0.25;
    let events = plan(
        &state,
        &stay_of(&champion),
        &[lost],
        &settings(),
        &mut Uuid::now_v7,
    );
    assert_eq!(events.last().unwrap().kind().as_str(), "strategy.retired");
}

#[test]
fn a_winner_is_cloned_once_into_parameter_variants_linked_to_it() {
    let (parent_opp, w) = (Uuid::from_u128(1), Uuid::from_u128(10));
    let mut state = Projections::default();
    state
        .opportunities
        .insert(parent_opp, opportunity(parent_opp, None));
    let winner = view(w, parent_opp, Stage::Full);
    state.strategies.insert(w, winner.clone());
    let wins = [reading(Health::Winner), reading(Health::Winner)];
    let events = plan(
        &state,
        &stay_of(&winner),
        &wins,
        &settings(),
        &mut Uuid::now_v7,
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().as_str()).collect();
    // Two readings; the first spawns two variants (each an opportunity and its link); the
    // second does not clone again.
    assert_eq!(
        kinds,
        [
            "monitor.observed",
            "opportunity.discovered",
            "clone.spawned",
            "opportunity.discovered",
            "clone.spawned",
            "monitor.observed"
        ]
    );
    // lookback 24 moved by ∓25 %: 18 and 30; threshold unchanged.
    let variants: Vec<(f64, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::OpportunityDiscovered(o) => {
                assert_eq!(o.source, "clone");
                assert_eq!(o.parent_strategy_id, Some(w));
                assert_eq!(o.template.as_deref(), Some("momentum"));
                assert_eq!(o.family.as_deref(), Some("momentum"));
                assert!(o.hypothesis.starts_with("Follow the day's trend."));
                Some((o.parameters[0].value, o.parameters[1].value))
            }
            _ => None,
        })
        .collect();
    assert_eq!(variants, vec![(18.0, 0.01), (30.0, 0.01)]);

    // Cloned already: no more clones.
    let mut cloned = winner.clone();
    cloned.clones.push(Uuid::from_u128(99));
    state.strategies.insert(w, cloned.clone());
    let events = plan(
        &state,
        &stay_of(&cloned),
        &wins[..1],
        &settings(),
        &mut Uuid::now_v7,
    );
    assert_eq!(events.len(), 1);

    // Two generations of clones above it: too deep.
    let (o2, s2, o3, s3) = (
        Uuid::from_u128(2),
        Uuid::from_u128(30),
        Uuid::from_u128(3),
        Uuid::from_u128(40),
    );
    state.strategies.insert(w, winner.clone());
    state.opportunities.insert(o2, opportunity(o2, Some(w)));
    state.strategies.insert(s2, view(s2, o2, Stage::Full));
    state.opportunities.insert(o3, opportunity(o3, Some(s2)));
    let grandchild = view(s3, o3, Stage::Full);
    state.strategies.insert(s3, grandchild.clone());
    assert_eq!(clone_depth(&state, &grandchild), 2);
    let events = plan(
        &state,
        &stay_of(&grandchild),
        &wins[..1],
        &settings(),
        &mut Uuid::now_v7,
    );
    assert_eq!(events.len(), 1);
}

#[test]
fn variants_stay_within_the_parameters_range_and_skip_a_move_that_rounds_away() {
    let mut v = view(Uuid::from_u128(5), Uuid::from_u128(1), Stage::Full);
    // lookback 2 is the minimum: 1.5 clamps to 2 (no move) and 2.5 rounds to 3 (kept, in
    // Rust's round-half-away-from-zero); then threshold 0.01 moves to 0.0075.
    v.parameters[0].value = 2.0;
    let got = variants(&v, &settings());
    let moved: Vec<(String, f64)> = got.iter().map(|(_, p)| (p.name.clone(), p.value)).collect();
    assert_eq!(
        moved,
        vec![
            ("lookback".to_string(), 3.0),
            ("threshold".to_string(), 0.0075)
        ]
    );
    // No template, no variants.
    v.template = None;
    assert!(variants(&v, &settings()).is_empty());
}
