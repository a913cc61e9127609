//! The seed's success criteria, measured on the log: what each event says about them is kept
//! as it is applied ([`KpiLog`], part of the read models and of the summary `status` reads),
//! and [`KpiLog::report`] judges a rolling window of it against the seed's targets.
//!
//! | criterion (the seed's) | measured as | target |
//! | --- | --- | --- |
//! | ≥ 1 opportunity discovered per day | `opportunity.discovered` in the window ÷ its days | ≥ 1 a day |
//! | ≥ 50 % validation pass rate | `validation.decided` approved ÷ decided, in the window | ≥ 50 % |
//! | ≥ 20 % COLD → WARM | strategies whose first COLD run completed in the window: share promoted to WARM since | ≥ 20 % |
//! | ≥ 10 % WARM → FULL | strategies promoted to WARM in the window: share promoted to FULL since | ≥ 10 % |
//! | < 5 min from discovery to validation decision | decisions in the window: time since their opportunity's `opportunity.discovered`, p50 and p95 | p95 < 300 s |
//! | 100 % of code security-scanned | strategies whose code first ran (the sandbox layer, or a stage run) in the window: share whose security layer had passed before | 100 % |
//! | full audit trail | events on the log that link to the hash of the one before them | 100 % |
//! | human approval optional | promotions in the window: share made without a person's approval | > 0 |
//!
//! The window ends at the newest event (`report_to_newest`): the figures are the log's, the same
//! whenever they are read.
//!
//! A criterion with nothing to measure in the window (no decision, no COLD run) says so: its
//! verdict is `no_data`, neither met nor missed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Decision, Event, Stage};
use crate::record::{Hash, RecordedEvent, GENESIS_HASH};

/// Microseconds in an hour.
const HOUR_MICROS: i64 = 3_600_000_000;
/// Microseconds in a day.
const DAY_MICROS: i64 = 24 * HOUR_MICROS;
/// The longest window a report may ask for, days: what is older than this before the newest
/// event is let go (the counts of the whole log stay in the autonomy state).
pub const MAX_WINDOW_DAYS: u32 = 90;
/// The default window, days.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;
/// The latency target: discovery to validation decision, seconds (p95).
pub const DECISION_LATENCY_TARGET_SECONDS: f64 = 300.0;

/// A validation decision, as the criteria count it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionMark {
    /// When it was recorded, µs since the epoch.
    pub at: i64,
    /// Approved by the validator.
    pub approved: bool,
    /// Microseconds from its opportunity's discovery (`None` when the log does not hold it).
    pub latency: Option<i64>,
}

/// How far one strategy went, and when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// Its first completed COLD run.
    pub cold_done: Option<i64>,
    /// Its first promotion to WARM.
    pub warm_at: Option<i64>,
    /// Its first promotion to FULL.
    pub full_at: Option<i64>,
    /// When its code first ran (the sandbox layer or a stage run).
    pub first_run: Option<i64>,
    /// Whether its security layer had passed when it first ran.
    pub scanned_before_run: bool,
}

/// What the events say about the seed's success criteria, kept as they are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiLog {
    /// Opportunities discovered, per hour (hours since the epoch).
    pub discovered_per_hour: BTreeMap<i64, u64>,
    /// Validation decisions, in order.
    pub decisions: Vec<DecisionMark>,
    /// Each strategy's way through the stages.
    pub journeys: BTreeMap<Uuid, Journey>,
    /// Strategies whose security layer passed.
    pub scanned: BTreeSet<Uuid>,
    /// Promotions, in order: when, and whether a person had approved that stage.
    pub promotions: Vec<(i64, bool)>,
    /// Events applied.
    pub events: u64,
    /// Of those, the ones whose previous hash is the hash of the event before them.
    pub linked: u64,
    /// The hash of the last event applied.
    pub head: Hash,
    /// The newest event's time, µs.
    pub newest: i64,
}

impl Default for KpiLog {
    fn default() -> Self {
        KpiLog {
            discovered_per_hour: BTreeMap::new(),
            decisions: Vec::new(),
            journeys: BTreeMap::new(),
            scanned: BTreeSet::new(),
            promotions: Vec::new(),
            events: 0,
            linked: 0,
            head: GENESIS_HASH,
            newest: i64::MIN,
        }
    }
}

/// What the log needs to know of a strategy for the criteria, looked up by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known {
    /// When the strategy's opportunity was discovered, µs.
    pub discovered_at: Option<i64>,
    /// Whether a person approved the stage an event promotes the strategy to.
    pub person_approved: bool,
}

impl KpiLog {
    /// Takes in one event (before the read models apply it: `known` is what they knew).
    pub fn observe(&mut self, rec: &RecordedEvent, event: &Event, known: Known) {
        let at = rec.recorded_at_micros;
        self.events += 1;
        if rec.prev_hash == self.head {
            self.linked += 1;
        }
        self.head = rec.hash;
        let hour = at.div_euclid(HOUR_MICROS);
        if at > self.newest {
            // Once an hour, what fell out of the longest window is let go.
            if self.newest.div_euclid(HOUR_MICROS) != hour {
                self.prune(at - i64::from(MAX_WINDOW_DAYS) * DAY_MICROS);
            }
            self.newest = at;
        }
        match event {
            Event::OpportunityDiscovered(_) => {
                *self.discovered_per_hour.entry(hour).or_default() += 1;
            }
            Event::ValidationDecided(e) => self.decisions.push(DecisionMark {
                at,
                approved: e.decision == Decision::Approved,
                latency: known.discovered_at.map(|d| (at - d).max(0)),
            }),
            Event::ValidationLayerFinished(e) => {
                if e.layer_name == "security" && e.passed {
                    self.scanned.insert(e.strategy_id);
                }
                if e.layer_name == "sandbox" {
                    self.ran(e.strategy_id, at);
                }
            }
            Event::StageStarted(e) => self.ran(e.strategy_id, at),
            Event::StageCompleted(e) if e.stage == Stage::Cold => {
                self.journeys
                    .entry(e.strategy_id)
                    .or_default()
                    .cold_done
                    .get_or_insert(at);
            }
            Event::StagePromoted(e) => {
                self.promotions.push((at, known.person_approved));
                let j = self.journeys.entry(e.strategy_id).or_default();
                match e.to {
                    Stage::Warm => {
                        j.warm_at.get_or_insert(at);
                    }
                    Stage::Full => {
                        j.full_at.get_or_insert(at);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn ran(&mut self, strategy: Uuid, at: i64) {
        let scanned = self.scanned.contains(&strategy);
        let j = self.journeys.entry(strategy).or_default();
        if j.first_run.is_none() {
            j.first_run = Some(at);
            j.scanned_before_run = scanned;
        }
    }

    /// Lets go of what happened before `before` (µs).
    fn prune(&mut self, before: i64) {
        let hour = before.div_euclid(HOUR_MICROS);
        self.discovered_per_hour = self.discovered_per_hour.split_off(&hour);
        self.decisions.retain(|d| d.at >= before);
        self.promotions.retain(|(at, _)| *at >= before);
        // A journey is kept while any of its steps may still fall in a window.
        let gone: Vec<Uuid> = self
            .journeys
            .iter()
            .filter(|(_, j)| {
                [j.cold_done, j.warm_at, j.full_at, j.first_run]
                    .into_iter()
                    .flatten()
                    .all(|t| t < before)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.journeys.remove(&id);
            self.scanned.remove(&id);
        }
    }

    /// The criteria over the `window_days` days up to the newest event (the log's own time:
    /// a read gives the same figures whenever it is made, during a run or after it); an empty
    /// log's window ends at `empty_now` (µs).
    pub fn report_to_newest(&self, window_days: u32, empty_now: i64) -> KpiReport {
        let now = if self.events == 0 {
            empty_now
        } else {
            self.newest
        };
        self.report(now, window_days)
    }

    /// The criteria over the `window_days` days up to `now` (µs).
    pub fn report(&self, now: i64, window_days: u32) -> KpiReport {
        let days = window_days.clamp(1, MAX_WINDOW_DAYS);
        let since = now - i64::from(days) * DAY_MICROS;
        let within = |t: i64| t > since && t <= now;
        let within_opt = |t: Option<i64>| t.is_some_and(within);
        // Discoveries: whole hours after `since`'s hour, up to `now`'s.
        let discovered: u64 = self
            .discovered_per_hour
            .range(since.div_euclid(HOUR_MICROS) + 1..=now.div_euclid(HOUR_MICROS))
            .map(|(_, n)| n)
            .sum();
        let decisions: Vec<&DecisionMark> =
            self.decisions.iter().filter(|d| within(d.at)).collect();
        let approved = decisions.iter().filter(|d| d.approved).count() as u64;
        let cold: Vec<&Journey> = self
            .journeys
            .values()
            .filter(|j| within_opt(j.cold_done))
            .collect();
        let warm: Vec<&Journey> = self
            .journeys
            .values()
            .filter(|j| within_opt(j.warm_at))
            .collect();
        let ran: Vec<&Journey> = self
            .journeys
            .values()
            .filter(|j| within_opt(j.first_run))
            .collect();
        let promotions: Vec<&(i64, bool)> = self
            .promotions
            .iter()
            .filter(|(at, _)| within(*at))
            .collect();
        let mut latencies: Vec<f64> = decisions
            .iter()
            .filter_map(|d| d.latency)
            .map(|us| us as f64 / 1e6)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let p50 = percentile(&latencies, 0.50);
        let p95 = percentile(&latencies, 0.95);
        KpiReport {
            window_days: days,
            since: super::rfc3339_micros(since),
            until: super::rfc3339_micros(now),
            discoveries_per_day: Kpi::rate(
                "≥ 1 a day",
                discovered as f64 / f64::from(days),
                discovered,
                |v| v >= 1.0,
            ),
            validation_pass_rate: Kpi::share("≥ 50 %", approved, decisions.len() as u64, |v| {
                v >= 0.5
            }),
            cold_to_warm: Kpi::share(
                "≥ 20 %",
                cold.iter().filter(|j| j.warm_at.is_some()).count() as u64,
                cold.len() as u64,
                |v| v >= 0.2,
            ),
            warm_to_full: Kpi::share(
                "≥ 10 %",
                warm.iter().filter(|j| j.full_at.is_some()).count() as u64,
                warm.len() as u64,
                |v| v >= 0.1,
            ),
            discovery_to_decision: LatencyKpi {
                target: "p95 < 5 min".into(),
                p50_seconds: p50,
                p95_seconds: p95,
                of: latencies.len() as u64,
                verdict: match p95 {
                    None => KpiVerdict::NoData,
                    Some(p) if p < DECISION_LATENCY_TARGET_SECONDS => KpiVerdict::Met,
                    Some(_) => KpiVerdict::Missed,
                },
            },
            security_scanned: Kpi::share(
                "100 %",
                ran.iter().filter(|j| j.scanned_before_run).count() as u64,
                ran.len() as u64,
                |v| v >= 1.0,
            ),
            audit_trail: Kpi::share("100 %", self.linked, self.events, |v| v >= 1.0),
            human_approval_optional: Kpi::share(
                "> 0 % without a person",
                promotions.iter().filter(|(_, person)| !person).count() as u64,
                promotions.len() as u64,
                |v| v > 0.0,
            ),
        }
    }
}

/// The `q` quantile of sorted values (nearest rank), `None` for none.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A criterion's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KpiVerdict {
    /// At or beyond its target.
    Met,
    /// Short of it.
    Missed,
    /// Nothing in the window to measure.
    NoData,
}

impl KpiVerdict {
    /// As `status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            KpiVerdict::Met => "met",
            KpiVerdict::Missed => "missed",
            KpiVerdict::NoData => "no data",
        }
    }
}

/// One criterion: its target, what the window measured, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    /// The target, in words.
    pub target: String,
    /// The value: a share (0–1) or a rate; `None` without data.
    pub value: Option<f64>,
    /// What it counts: the numerator of a share, the events of a rate.
    pub count: u64,
    /// The denominator of a share (`None` for a rate).
    pub of: Option<u64>,
    /// Met, missed, or no data.
    pub verdict: KpiVerdict,
}

impl Kpi {
    fn share(target: &str, count: u64, of: u64, met: impl Fn(f64) -> bool) -> Kpi {
        let value = (of > 0).then(|| count as f64 / of as f64);
        Kpi {
            target: target.into(),
            value,
            count,
            of: Some(of),
            verdict: match value {
                None => KpiVerdict::NoData,
                Some(v) if met(v) => KpiVerdict::Met,
                Some(_) => KpiVerdict::Missed,
            },
        }
    }

    fn rate(target: &str, value: f64, count: u64, met: impl Fn(f64) -> bool) -> Kpi {
        Kpi {
            target: target.into(),
            value: Some(value),
            count,
            of: None,
            verdict: if met(value) {
                KpiVerdict::Met
            } else {
                KpiVerdict::Missed
            },
        }
    }

    /// The value in words: a share as a percentage with its counts, a rate a day.
    pub fn shown(&self) -> String {
        match (self.value, self.of) {
            (None, Some(_)) => "none in the window".into(),
            (Some(v), Some(of)) => format!("{:.1} % ({} of {of})", v * 100.0, self.count),
            (Some(v), None) => format!("{v:.2} a day ({} in all)", self.count),
            (None, None) => "none".into(),
        }
    }
}

/// Discovery to decision, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyKpi {
    /// The target, in words.
    pub target: String,
    /// Median, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// Decisions measured.
    pub of: u64,
    /// Met, missed, or no data.
    pub verdict: KpiVerdict,
}

/// The eight criteria over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiReport {
    /// The window, days.
    pub window_days: u32,
    /// Its start (exclusive), RFC 3339.
    pub since: String,
    /// Its end, RFC 3339.
    pub until: String,
    /// ≥ 1 opportunity discovered per day.
    pub discoveries_per_day: Kpi,
    /// ≥ 50 % of validations approved.
    pub validation_pass_rate: Kpi,
    /// ≥ 20 % of COLD runs promoted to WARM.
    pub cold_to_warm: Kpi,
    /// ≥ 10 % of WARM entries reaching FULL.
    pub warm_to_full: Kpi,
    /// < 5 min from discovery to validation decision (p95).
    pub discovery_to_decision: LatencyKpi,
    /// 100 % of executed code security-scanned first.
    pub security_scanned: Kpi,
    /// Every event on the hash chain.
    pub audit_trail: Kpi,
    /// Promotions made without a person.
    pub human_approval_optional: Kpi,
}

impl KpiReport {
    /// The criteria as (name, target, value in words, verdict), in the seed's order.
    pub fn rows(&self) -> Vec<(&'static str, String, String, KpiVerdict)> {
        let kpi = |name, k: &Kpi| (name, k.target.clone(), k.shown(), k.verdict);
        let l = &self.discovery_to_decision;
        let secs = |s: Option<f64>| s.map_or("–".to_string(), |s| format!("{s:.1} s"));
        vec![
            kpi("discoveries per day", &self.discoveries_per_day),
            kpi("validation pass rate", &self.validation_pass_rate),
            kpi("COLD → WARM", &self.cold_to_warm),
            kpi("WARM → FULL", &self.warm_to_full),
            (
                "discovery → decision",
                l.target.clone(),
                if l.of == 0 {
                    "none in the window".into()
                } else {
                    format!(
                        "p50 {}, p95 {} ({} decisions)",
                        secs(l.p50_seconds),
                        secs(l.p95_seconds),
                        l.of
                    )
                },
                l.verdict,
            ),
            kpi("security-scanned code", &self.security_scanned),
            kpi("audit trail", &self.audit_trail),
            kpi("human approval optional", &self.human_approval_optional),
        ]
    }
}
