//! The account's capital on the real clock: each LIMITED or FULL run is allotted its share of
//! the account (`LIMITED_CAPITAL_FRACTION`, `FULL_CAPITAL_FRACTION` of `STAGE_CAPITAL`) when it
//! begins, and holds it while it trades (its run open, then its stay). A run whose share the
//! free capital cannot cover does not begin: `stage.waiting` says why (once per reason), and it
//! begins at a later cycle when a rollback, a retirement or a rejection frees enough. The paper
//! stages (COLD, WARM) hold nothing. **Invariant**: the shares held never add up to more than
//! the whole account, so what the strategies hold together never exceeds it (each trades within
//! its share: the host sizes on it).

use stratagem_events::projection::{StrategyStatus, StrategyView};
use stratagem_events::{Projections, Stage};
use uuid::Uuid;

use crate::stages::runner::StageSettings;

/// The share of the account a run of `stage` is allotted on the real clock.
pub fn share(stage: Stage, s: &StageSettings) -> f64 {
    match stage {
        Stage::Limited => s.limited_capital_fraction,
        Stage::Full => s.full_capital_fraction,
        Stage::Cold | Stage::Warm => 0.0,
    }
}

/// The share `s` holds: its open LIMITED or FULL run's, or its stay's (a completed LIMITED or
/// FULL run it trades on), else none.
pub fn held(s: &StrategyView) -> f64 {
    if s.status != StrategyStatus::Staged {
        return 0.0;
    }
    let trading = match s.open_run {
        Some((stage, _)) => matches!(stage, Stage::Limited | Stage::Full),
        None => {
            s.stage == Some(Stage::Full)
                && matches!(s.last_completed_stage, Some(Stage::Limited | Stage::Full))
        }
    };
    if trading {
        s.capital_fraction
    } else {
        0.0
    }
}

/// The share of the account strategy `id` is allotted for a run of `stage` beginning now, or
/// why it must wait. LIMITED gets `LIMITED_CAPITAL_FRACTION` or waits; FULL gets
/// `FULL_CAPITAL_FRACTION`, or what is free if less (its own share counts as free: it moves
/// from its LIMITED stay to its FULL run), but never less than a LIMITED share — below that it
/// waits. So two strategies that passed LIMITED together both reach FULL, sharing the account.
pub fn allot(
    state: &Projections,
    id: Uuid,
    stage: Stage,
    s: &StageSettings,
) -> Result<f64, String> {
    let wanted = share(stage, s);
    if wanted <= 0.0 {
        return Ok(wanted);
    }
    let holders: Vec<(Uuid, f64)> = state
        .strategies
        .values()
        .filter(|v| v.id != id)
        .map(|v| (v.id, held(v)))
        .filter(|(_, h)| *h > 0.0)
        .collect();
    let taken: f64 = holders.iter().map(|(_, h)| h).sum();
    let free = (1.0 - taken).max(0.0);
    let (got, least) = match stage {
        Stage::Full => (wanted.min(free), s.limited_capital_fraction.min(wanted)),
        _ => (wanted, wanted),
    };
    if got + 1e-9 >= least && taken + got <= 1.0 + 1e-9 {
        return Ok(got);
    }
    Err(format!(
        "waits for capital: {} needs {:.0} % of the account ({:.2}), {:.0} % is free ({})",
        stage.as_str().to_uppercase(),
        least * 100.0,
        least * s.capital,
        free * 100.0,
        holders
            .iter()
            .map(|(h, f)| format!("{h} holds {:.0} %", f * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratagem_events::{
        AppendRequest, Event, EventStore, GenerationMode, MemoryEventStore, StageCompleted,
        StageMetrics, StagePromoted, StageStarted, StrategyGenerated,
    };

    /// A strategy taken to FULL with its run allotted `fraction`.
    fn at_full(fraction: f64) -> Vec<Event> {
        let (id, opp, run) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut events = vec![Event::from(StrategyGenerated {
            strategy_id: id,
            opportunity_id: opp,
            name: format!("s{id}"),
            path: format!("strategies/{id}.rs"),
            sha256: String::new(),
            source_code: String::new(),
            mode: GenerationMode::Template,
            template: Some("momentum".into()),
            parameters: Vec::new(),
            model: None,
            prompt: None,
            reply: None,
            tokens_used: 0,
        })];
        for (from, to) in [(None, Stage::Cold), (Some(Stage::Cold), Stage::Warm)] {
            events.push(Event::from(StagePromoted {
                strategy_id: id,
                from,
                to,
            }));
        }
        events.push(Event::from(StagePromoted {
            strategy_id: id,
            from: Some(Stage::Warm),
            to: Stage::Limited,
        }));
        events.push(Event::from(StagePromoted {
            strategy_id: id,
            from: Some(Stage::Limited),
            to: Stage::Full,
        }));
        events.push(Event::from(StageStarted {
            strategy_id: id,
            stage: Stage::Full,
            run_id: run,
            baseline: None,
            capital_fraction: fraction,
            window_start: None,
            window_end: None,
        }));
        events.push(Event::from(StageCompleted {
            strategy_id: id,
            stage: Stage::Full,
            run_id: run,
            metrics: StageMetrics::default(),
            passed: true,
            gate: "none".into(),
        }));
        events
    }

    #[test]
    fn the_shares_held_never_add_up_to_more_than_the_account() {
        let store = MemoryEventStore::new();
        let s = StageSettings {
            full_capital_fraction: 0.3,
            ..StageSettings::default()
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        for _ in 0..3 {
            rt.block_on(store.append(AppendRequest::new(at_full(0.3))))
                .unwrap();
        }
        let state = Projections::replay(&store).unwrap();
        let holding: f64 = state.strategies.values().map(held).sum();
        assert!((holding - 0.9).abs() < 1e-12, "{holding}");
        let newcomer = Uuid::now_v7();
        // 10 % is free: a LIMITED run fits; a FULL run gets the 10 % left (a LIMITED share).
        assert_eq!(allot(&state, newcomer, Stage::Limited, &s), Ok(0.1));
        let full = allot(&state, newcomer, Stage::Full, &s).unwrap();
        assert!((full - 0.1).abs() < 1e-12, "{full}");
        // With a fourth holding 5 %, neither fits, and the wait names the figures.
        let mut crowded = state.clone();
        crowded
            .strategies
            .values_mut()
            .next()
            .unwrap()
            .capital_fraction = 0.35;
        let why = allot(&crowded, newcomer, Stage::Full, &s).unwrap_err();
        assert!(
            why.starts_with(
                "waits for capital: FULL needs 10 % of the account (10000.00), 5 % is free"
            ),
            "{why}"
        );
        assert!(allot(&crowded, newcomer, Stage::Limited, &s).is_err());
        // The paper stages hold nothing and need nothing.
        assert_eq!(allot(&crowded, newcomer, Stage::Warm, &s), Ok(0.0));
        // A strategy's own share is free for its next run.
        let one = *state.strategies.keys().next().unwrap();
        assert_eq!(allot(&state, one, Stage::Full, &s), Ok(0.3));
    }
}
