//! Projections: state derived from the log by replay, and nothing else.
//!
//! [`Projections::apply`] is a pure function of the events in order (no clock, no I/O), so
//! replaying the same log always yields the same state and the same audit lines. The files in
//! the data directory are written by [`files::ProjectionFiles`].

pub mod files;
pub mod kpi;
pub mod lifecycle;
pub mod snapshot;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DecodeError, StoreError};
use crate::event::{
    Decision, Event, GenerationMode, MonitorObserved, Parameter, SourceOutcome, Stage,
    StageMetrics, SubScore,
};
use crate::record::{hex, RecordedEvent};
use crate::store::{iter_from, EventStore};

/// Strategies currently in each stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    /// In COLD (backtest).
    pub cold: u64,
    /// In WARM (paper).
    pub warm: u64,
    /// In LIMITED.
    pub limited: u64,
    /// In FULL.
    pub full: u64,
}

impl StageCounts {
    fn slot(&mut self, stage: Stage) -> &mut u64 {
        match stage {
            Stage::Cold => &mut self.cold,
            Stage::Warm => &mut self.warm,
            Stage::Limited => &mut self.limited,
            Stage::Full => &mut self.full,
        }
    }
}

/// The seed's `autonomy_state.json`: exactly its keys, plus the strategies per stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutonomyState {
    /// Whether the discovery loop is running (last `discovery.toggled`).
    pub strategy_discovery_active: bool,
    /// Opportunities discovered, from every source.
    pub opportunities_discovered: u64,
    /// Opportunities scored at least once.
    pub opportunities_scored: u64,
    /// Opportunities submitted to code generation.
    pub opportunities_submitted: u64,
    /// Strategies whose validation started and has not been decided.
    pub strategies_in_validation: u64,
    /// Strategies approved (by the validator, or by a person after manual review).
    pub strategies_approved: u64,
    /// Strategies rejected (by the validator, or by a person after manual review).
    pub strategies_rejected: u64,
    /// Strategies that reached FULL.
    pub strategies_implemented: u64,
    /// Strategies in each stage now.
    pub stages: StageCounts,
}

impl AutonomyState {
    /// Replays a whole log into the autonomy state.
    ///
    /// # Errors
    /// A storage error or an unreadable event, naming its sequence number.
    pub fn replay(store: &dyn EventStore) -> Result<AutonomyState, StoreError> {
        Ok(Projections::replay(store)?.autonomy)
    }
}

/// Where an opportunity is in the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    /// Discovered, not scored yet.
    Discovered,
    /// Scored below the threshold; re-scored next cycle.
    Held,
    /// Submitted to code generation.
    Submitted,
    /// A near-duplicate; never submitted.
    Duplicate,
    /// A strategy was generated from it.
    Generated,
    /// Rejected with a reason, for good (a clone its parent's evidence does not carry).
    Rejected,
}

/// The five sub-scores and composite of the latest scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    /// Novelty.
    pub novelty: SubScore,
    /// Market fit.
    pub market_fit: SubScore,
    /// Implementation complexity (higher = simpler).
    pub complexity: SubScore,
    /// Capital efficiency.
    pub capital_efficiency: SubScore,
    /// Risk profile.
    pub risk: SubScore,
    /// Weighted composite.
    pub composite: f64,
    /// Regime judged against.
    pub regime: String,
}

/// Read model of one opportunity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityView {
    /// Our id.
    pub id: Uuid,
    /// Source name.
    pub source: String,
    /// The source's id.
    pub external_id: Option<String>,
    /// Title.
    pub title: crate::text::Untrusted,
    /// Hypothesis.
    pub hypothesis: crate::text::Untrusted,
    /// Link.
    pub url: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// Fitting template.
    pub template: Option<String>,
    /// Asset class, when known.
    pub asset_class: Option<String>,
    /// Time-frame hint, when stated.
    pub timeframe: Option<String>,
    /// A Sharpe ratio the text claims.
    pub stated_sharpe: Option<f64>,
    /// Parameters the text states.
    pub parameters: Vec<crate::event::Parameter>,
    /// For clones, the parent strategy.
    pub parent_strategy_id: Option<Uuid>,
    /// Sequence number of its discovery event.
    pub discovered_seq: u64,
    /// When it was discovered (its discovery event recorded), µs since the epoch.
    #[serde(default)]
    pub discovered_at_micros: i64,
    /// Latest score.
    pub score: Option<ScoreView>,
    /// Funnel status.
    pub status: OpportunityStatus,
    /// Strategies generated from it.
    pub strategies: Vec<Uuid>,
    /// What it needs to be tested as stated (its latest `opportunity.read`), if read.
    #[serde(default)]
    pub needs: Option<crate::event::IdeaNeeds>,
    /// The template-fit decision over those needs, if read.
    #[serde(default)]
    pub fit: Option<crate::event::IdeaFit>,
    /// Who read it: `rules` or `model`.
    #[serde(default)]
    pub read_by: Option<String>,
}

/// Where a strategy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyStatus {
    /// Generated, not validated yet.
    Generated,
    /// In validation.
    Validating,
    /// Approved for COLD, not started.
    Approved,
    /// Rejected by the validator, a person or a stage gate.
    Rejected,
    /// Waiting for a person.
    ManualReview,
    /// In a stage (see `stage`).
    Staged,
    /// Retired.
    Retired,
}

impl StrategyStatus {
    /// Its name, as JSON spells it (`manual_review`).
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyStatus::Generated => "generated",
            StrategyStatus::Validating => "validating",
            StrategyStatus::Approved => "approved",
            StrategyStatus::Rejected => "rejected",
            StrategyStatus::ManualReview => "manual_review",
            StrategyStatus::Staged => "staged",
            StrategyStatus::Retired => "retired",
        }
    }
}

/// Read model of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyView {
    /// Our id.
    pub id: Uuid,
    /// Opportunity it implements.
    pub opportunity_id: Uuid,
    /// File stem.
    pub name: String,
    /// File path, relative to the data directory.
    pub path: String,
    /// SHA-256 of its source.
    pub sha256: String,
    /// Generation mode.
    pub mode: GenerationMode,
    /// Template, if any.
    pub template: Option<String>,
    /// Status.
    pub status: StrategyStatus,
    /// Current stage, when staged.
    pub stage: Option<Stage>,
    /// The furthest stage it ever reached (rollbacks do not lower it): the funnel counts this.
    pub highest_stage: Option<Stage>,
    /// The stage of its last completed run (FULL's run done, or not yet).
    pub last_completed_stage: Option<Stage>,
    /// Stages a person approved it for (the human checkpoint).
    pub approved_stages: Vec<Stage>,
    /// A stage that waits for a person whatever the settings, and why (`stage.held`: figures
    /// too good to believe).
    pub held: Option<(Stage, String)>,
    /// The validator's decision.
    pub decision: Option<Decision>,
    /// Layers passed in the last validation.
    pub layers_passed: u8,
    /// Layers 1–5 of its validation under way passed and are on the log: layer 6 (the sandbox)
    /// is what is left. False before, and once the validation is decided.
    pub screened: bool,
    /// Warnings the layers of its validation under way found so far.
    pub validation_warnings: u32,
    /// Metrics of the last completed stage run.
    pub last_metrics: Option<StageMetrics>,
    /// Whether it ever reached FULL.
    pub implemented: bool,
    /// A stage run started and not yet completed (in flight, or cut short by a crash).
    pub open_run: Option<(Stage, Uuid)>,
    /// Sequence number of its `strategy.generated` event (which holds the source).
    pub generated_seq: u64,
    /// When it was generated, microseconds since the Unix epoch.
    pub generated_at_micros: i64,
    /// Model tokens its generation used.
    pub tokens_used: u64,
    /// Model requests made for it (`generation.attempted`), repairs included; 1 for a
    /// template.
    pub attempts: u32,
    /// The parameters it was generated with.
    pub parameters: Vec<Parameter>,
    /// The run id of its last completed stage run.
    pub last_completed_run: Option<Uuid>,
    /// The monitor's latest reading of its current stay in LIMITED or FULL.
    pub monitor: Option<MonitorObserved>,
    /// Times the monitor rolled it back.
    pub rollbacks: u32,
    /// Opportunities spawned as its parameter variants.
    pub clones: Vec<Uuid>,
    /// Where its last stage run on the real clock stands (`stage.marked`).
    pub marks: Option<MarksView>,
    /// The risk states its open run trades under, each from the bar after `after` (the last
    /// bar the run had marked when the state changed; `i64::MIN`: from its first bar).
    pub open_risk: Vec<RiskMark>,
    /// The share of the account its last stage run was allotted (`stage.started`).
    pub capital_fraction: f64,
    /// The baseline its last stage run measures against (`stage.started`: `buy_and_hold` or a
    /// strategy id).
    pub run_baseline: Option<String>,
    /// The stage it waits to run for capital, and why (`stage.waiting`; cleared when a run
    /// starts).
    pub waiting: Option<(Stage, String)>,
}

/// A risk state as one run honours it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskMark {
    /// It applies to the bars after this open time.
    pub after: i64,
    /// The state.
    pub state: crate::RiskState,
    /// Close the position at its first bar (a halt with flatten).
    pub flatten: bool,
}

/// The account's risk state, as the last `risk.state_changed` left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskView {
    /// The state.
    pub state: crate::RiskState,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// When, microseconds since the epoch (0: never changed).
    pub since_micros: i64,
}

/// Where a stage run on the real clock stands: its marks summed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarksView {
    /// The run.
    pub run_id: Uuid,
    /// Its stage.
    pub stage: Stage,
    /// Its series.
    pub series: String,
    /// Open time of the window's first bar.
    pub window_start: i64,
    /// Bars of the window.
    pub window_bars: u64,
    /// Bars consumed.
    pub bars: u64,
    /// Open time of the last bar consumed.
    pub through: i64,
    /// Fills so far.
    pub fills: u64,
    /// The candidate's equity at the last mark.
    pub equity: f64,
    /// The baseline's equity at the last mark.
    pub baseline_equity: f64,
    /// The candidate's equity as the UTC day of `through` began (its last mark of the day
    /// before, or its first mark).
    pub day_open_equity: f64,
}

/// Every projection of the log, kept together so one pass of replay builds them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Projections {
    /// The seed's counters.
    pub autonomy: AutonomyState,
    /// Opportunities by id (UUID v7, so in discovery order).
    pub opportunities: BTreeMap<Uuid, OpportunityView>,
    /// Strategies by id.
    pub strategies: BTreeMap<Uuid, StrategyView>,
    /// COLD runs completed: the number of trials for the deflated Sharpe ratio.
    pub backtest_trials: u64,
    /// Trials by family (`backtest.trial` events and every completed stage run), for the
    /// deflated Sharpe ratio of a strategy's family.
    pub trials_by_family: BTreeMap<String, u64>,
    /// Health of each discovery source, by name.
    pub sources: BTreeMap<String, SourceHealth>,
    /// The FULL champion: the strategy whose FULL run completed most recently and that has not
    /// been rolled back or retired since.
    /// WARM and LIMITED measure candidates against it.
    pub champion: Option<Uuid>,
    /// Earlier champions, oldest first: a rollback of the champion reinstates the last of them.
    pub previous_champions: Vec<Uuid>,
    /// Whether discovery was ever switched on or off by a `discovery.toggled` event (then the
    /// switch, not the checks, says whether it is active).
    pub discovery_switched: bool,
    /// Messages queued and not delivered yet (nor dropped), oldest first: the notifier's
    /// outbox. Bounded by whoever queues (`notification.dropped`).
    pub outbox: Vec<PendingNotification>,
    /// Model tokens charged, by UTC day (days since the epoch): every attempt's, and a
    /// generation's recorded before attempts were on the log.
    pub model_tokens_by_day: BTreeMap<i64, u64>,
    /// Sources written by model attempts whose `strategy.generated` has not come yet (their
    /// tokens are charged already), with the attempt that wrote them.
    pub attempted_sources: BTreeMap<String, u32>,
    /// The account's risk state.
    pub risk: RiskView,
    /// The execution venue's account as the log knows it.
    pub venue: VenueView,
    /// What the events say about the seed's success criteria.
    #[serde(default)]
    pub kpis: kpi::KpiLog,
    /// Last sequence number applied.
    pub last_seq: u64,
}

/// The execution venue's account as the log knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VenueView {
    /// Orders recorded (`order.submitted`) and neither acknowledged nor rejected yet, by client
    /// order id: they are sent, or asked for, before anything else.
    pub pending: BTreeMap<String, crate::OrderSubmitted>,
    /// Orders the log knows of (submitted, whatever became of them), by client order id, with
    /// their strategy's run.
    pub known: BTreeMap<String, Uuid>,
    /// The balances of the last reconciliation.
    pub balances: Vec<crate::VenueBalance>,
    /// What the acknowledged fills moved each asset by since then.
    pub moved: BTreeMap<String, f64>,
    /// Assets of each symbol traded (base, quote), for the fills' accounting.
    pub assets: BTreeMap<String, (String, String)>,
    /// Each run's fills on the venue, in the order acknowledged, with the bar that decided
    /// each (its order's `decided_at`; time: the venue's execution, in seconds; fee: in the
    /// quote asset when charged in the base or the quote).
    pub fills: BTreeMap<Uuid, Vec<(i64, crate::StageFill)>>,
    /// The last bar each run decided an order at (`order.submitted`'s `decided_at`): a stay's
    /// fills after it are the ones not sent yet.
    pub submitted_through: BTreeMap<Uuid, i64>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingNotification {
    /// The message's id (`notification.queued`).
    pub notification_id: Uuid,
    /// `slack`, …
    pub channel: String,
    /// Which message.
    pub message_kind: String,
    /// What it is about.
    pub subject_id: Option<Uuid>,
    /// The text.
    pub text: String,
    /// Delivery attempts that failed so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl Projections {
    /// The first message in the outbox that an outcome for (`channel`, `kind`, `subject`) is
    /// about: messages are delivered in the order they were queued.
    fn pending_for(&self, channel: &str, kind: &str, subject: Option<Uuid>) -> Option<usize> {
        self.outbox
            .iter()
            .position(|p| p.channel == channel && p.message_kind == kind && p.subject_id == subject)
    }
}

/// What the log says of one discovery source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// Checks recorded.
    pub checks: u64,
    /// Checks that failed.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// When it was last checked (micros since the epoch).
    pub last_checked_micros: i64,
    /// When a check last succeeded (micros since the epoch), if ever.
    pub last_success_micros: Option<i64>,
    /// `ok`, `not_modified` or `failed`.
    pub last_outcome: String,
    /// The last failure's message, while failing.
    pub last_error: Option<String>,
    /// Items fetched, all checks.
    pub fetched: u64,
    /// New items, all checks.
    pub new_items: u64,
}

impl Projections {
    /// Replays a whole log.
    ///
    /// # Errors
    /// A storage error or an unreadable event, naming its sequence number.
    pub fn replay(store: &dyn EventStore) -> Result<Projections, StoreError> {
        let mut p = Projections::default();
        for rec in iter_from(store, 1) {
            let rec = rec?;
            p.apply(&rec).map_err(|source| StoreError::Corrupt {
                seq: rec.seq,
                source,
            })?;
        }
        Ok(p)
    }

    /// Decodes and applies one recorded event.
    ///
    /// # Errors
    /// When its payload does not decode.
    pub fn apply(&mut self, rec: &RecordedEvent) -> Result<(), DecodeError> {
        let event = rec.event()?;
        self.apply_decoded(rec, event);
        Ok(())
    }

    /// Applies an event already decoded from `rec`.
    pub fn apply_decoded(&mut self, rec: &RecordedEvent, event: Event) {
        let known = self.known_for_kpis(&event);
        self.kpis.observe(rec, &event, known);
        self.apply_event(rec.seq, rec.recorded_at_micros, event);
        self.last_seq = rec.seq;
    }

    /// What the criteria need to know of an event's strategy before it is applied.
    fn known_for_kpis(&self, event: &Event) -> kpi::Known {
        match event {
            Event::ValidationDecided(e) => kpi::Known {
                discovered_at: self
                    .strategies
                    .get(&e.strategy_id)
                    .and_then(|s| self.opportunities.get(&s.opportunity_id))
                    .map(|o| o.discovered_at_micros),
                person_approved: false,
            },
            Event::StagePromoted(e) => kpi::Known {
                discovered_at: None,
                person_approved: self
                    .strategies
                    .get(&e.strategy_id)
                    .is_some_and(|s| s.approved_stages.contains(&e.to)),
            },
            _ => kpi::Known::default(),
        }
    }

    /// The family a strategy's trials are counted in: its opportunity's family, else its
    /// template, else `unknown`.
    pub fn family_of(&self, strategy_id: Uuid) -> String {
        let Some(s) = self.strategies.get(&strategy_id) else {
            return "unknown".into();
        };
        self.opportunities
            .get(&s.opportunity_id)
            .and_then(|o| o.family.clone())
            .or_else(|| s.template.clone())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Trials recorded for a family.
    pub fn trials_of_family(&self, family: &str) -> u64 {
        self.trials_by_family.get(family).copied().unwrap_or(0)
    }

    /// Model tokens charged on the UTC days from the one holding `since_micros` on.
    pub fn tokens_used_since(&self, since_micros: i64) -> u64 {
        self.model_tokens_by_day
            .range(utc_day(since_micros)..)
            .map(|(_, t)| t)
            .sum()
    }

    fn charge(&mut self, at_micros: i64, tokens: u64) {
        if tokens > 0 {
            *self
                .model_tokens_by_day
                .entry(utc_day(at_micros))
                .or_default() += tokens;
        }
    }

    fn set_strategy_status(&mut self, id: Uuid, status: StrategyStatus) {
        let a = &mut self.autonomy;
        let Some(s) = self.strategies.get_mut(&id) else {
            return;
        };
        if s.status == StrategyStatus::Validating {
            a.strategies_in_validation = a.strategies_in_validation.saturating_sub(1);
        }
        if status == StrategyStatus::Validating {
            a.strategies_in_validation += 1;
        }
        // Leaving the stages clears the stage count; entering one is done by `set_stage`.
        if status != StrategyStatus::Staged {
            if let Some(stage) = s.stage.take() {
                let slot = a.stages.slot(stage);
                *slot = slot.saturating_sub(1);
            }
        }
        s.status = status;
    }

    fn set_stage(&mut self, id: Uuid, stage: Stage) {
        self.set_strategy_status(id, StrategyStatus::Staged);
        let a = &mut self.autonomy;
        let Some(s) = self.strategies.get_mut(&id) else {
            return;
        };
        if let Some(old) = s.stage.replace(stage) {
            let slot = a.stages.slot(old);
            *slot = slot.saturating_sub(1);
        }
        *a.stages.slot(stage) += 1;
        s.highest_stage = s.highest_stage.max(Some(stage));
        if stage == Stage::Full && !s.implemented {
            s.implemented = true;
            a.strategies_implemented += 1;
        }
    }

    fn set_opportunity_status(&mut self, id: Uuid, status: OpportunityStatus) {
        let Some(o) = self.opportunities.get_mut(&id) else {
            return;
        };
        let was_submitted = matches!(
            o.status,
            OpportunityStatus::Submitted | OpportunityStatus::Generated
        );
        if !was_submitted && status == OpportunityStatus::Submitted {
            self.autonomy.opportunities_submitted += 1;
        }
        // Once generated, a later re-score does not move it back.
        if o.status != OpportunityStatus::Generated {
            o.status = status;
        }
    }

    fn apply_event(&mut self, seq: u64, recorded_at_micros: i64, event: Event) {
        match event {
            Event::DiscoveryToggled(e) => {
                self.autonomy.strategy_discovery_active = e.active;
                self.discovery_switched = true;
            }
            Event::SourceChecked(e) => {
                // A source was checked: discovery runs (until a switch says otherwise).
                if !self.discovery_switched {
                    self.autonomy.strategy_discovery_active = true;
                }
                let h = self.sources.entry(e.source).or_default();
                h.checks += 1;
                h.last_checked_micros = recorded_at_micros;
                h.fetched += u64::from(e.fetched);
                h.new_items += u64::from(e.new_items);
                match e.outcome {
                    SourceOutcome::Ok | SourceOutcome::NotModified => {
                        h.consecutive_failures = 0;
                        h.last_success_micros = Some(recorded_at_micros);
                        h.last_error = None;
                        h.last_outcome = if e.outcome == SourceOutcome::Ok {
                            "ok".into()
                        } else {
                            "not_modified".into()
                        };
                    }
                    SourceOutcome::Failed { error } => {
                        h.failures += 1;
                        h.consecutive_failures += 1;
                        h.last_error = Some(error);
                        h.last_outcome = "failed".into();
                    }
                }
            }
            Event::NotificationQueued(e) => self.outbox.push(PendingNotification {
                notification_id: e.notification_id,
                channel: e.channel,
                message_kind: e.message_kind,
                subject_id: e.subject_id,
                text: e.text,
                attempts: 0,
                last_error: None,
            }),
            Event::NotificationDropped(e) => {
                self.outbox
                    .retain(|p| p.notification_id != e.notification_id);
            }
            Event::NotificationSent(e) => {
                if let Some(i) = self.pending_for(&e.channel, &e.message_kind, e.subject_id) {
                    self.outbox.remove(i);
                }
            }
            Event::NotificationFailed(e) => {
                if let Some(i) = self.pending_for(&e.channel, &e.message_kind, e.subject_id) {
                    let p = &mut self.outbox[i];
                    p.attempts = p.attempts.saturating_add(e.attempts);
                    p.last_error = Some(e.error);
                }
            }
            // A parity ledger is a report: the read model keeps nothing of it (the audit file has it).
            Event::StageParity(_) => {}
            // A curve is for reading (the console draws it): the read model keeps nothing of it.
            Event::StageCurve(_) => {}
            Event::OrderSubmitted(e) => {
                self.venue.assets.insert(
                    e.symbol.clone(),
                    (e.base_asset.clone(), e.quote_asset.clone()),
                );
                self.venue.known.insert(e.client_order_id.clone(), e.run_id);
                let through = self
                    .venue
                    .submitted_through
                    .entry(e.run_id)
                    .or_insert(e.decided_at);
                *through = (*through).max(e.decided_at);
                self.venue.pending.insert(e.client_order_id.clone(), e);
            }
            Event::OrderAcknowledged(e) => {
                if let Some(order) = self.venue.pending.remove(&e.client_order_id) {
                    let assets = self.venue.assets.get(&order.symbol);
                    let fee = match assets {
                        Some((base, _)) if *base == e.fee_asset => e.fee * e.average_price,
                        _ => e.fee,
                    };
                    if e.executed_quantity != 0.0 {
                        self.venue.fills.entry(e.run_id).or_default().push((
                            order.decided_at,
                            crate::StageFill {
                                at: e.transact_time_ms.div_euclid(1000),
                                quantity: e.executed_quantity,
                                price: e.average_price,
                                fee,
                            },
                        ));
                    }
                    if let Some((base, quote)) = assets.cloned() {
                        let m = &mut self.venue.moved;
                        *m.entry(base).or_default() += e.executed_quantity;
                        *m.entry(quote).or_default() -= e.executed_quantity * e.average_price;
                        *m.entry(e.fee_asset.clone()).or_default() -= e.fee;
                    }
                }
            }
            Event::OrderRejected(e) => {
                self.venue.pending.remove(&e.client_order_id);
            }
            Event::VenueReconciled(e) => {
                self.venue.balances = e.balances;
                self.venue.moved.clear();
            }
            Event::ActorStarted(_) | Event::ActorRestarted(_) | Event::ActorGaveUp(_) => {}
            Event::ValidationLayerFinished(e) => {
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.validation_warnings += u32::try_from(e.warnings.len()).unwrap_or(u32::MAX);
                    // Fail-fast: layer 5 on the log and passed means 1–4 passed before it.
                    if e.layer == 5 && e.passed && s.status == StrategyStatus::Validating {
                        s.screened = true;
                    }
                }
            }
            Event::CloneSpawned(e) => {
                if let Some(s) = self.strategies.get_mut(&e.parent_strategy_id) {
                    if !s.clones.contains(&e.opportunity_id) {
                        s.clones.push(e.opportunity_id);
                    }
                }
            }
            Event::MonitorObserved(e) => {
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.monitor = Some(e);
                }
            }
            Event::StageStarted(e) => {
                let risk = self.risk.state;
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.open_run = Some((e.stage, e.run_id));
                    s.capital_fraction = e.capital_fraction;
                    s.run_baseline = e.baseline.clone();
                    s.waiting = None;
                    // A run starts under the account's state.
                    s.open_risk = (risk != crate::RiskState::Active)
                        .then_some(RiskMark {
                            after: i64::MIN,
                            state: risk,
                            flatten: false,
                        })
                        .into_iter()
                        .collect();
                }
            }
            Event::StageWaiting(e) => {
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.waiting = Some((e.stage, e.reason));
                }
            }
            Event::RiskStateChanged(e) => {
                self.risk = RiskView {
                    state: e.state,
                    reason: e.reason,
                    by: e.by,
                    since_micros: recorded_at_micros,
                };
                // Every open run honours it from the first bar it has not marked; a stay (a
                // completed LIMITED or FULL run trading on) from the bar after the monitor's
                // last reading of it.
                for s in self.strategies.values_mut() {
                    if s.status != StrategyStatus::Staged {
                        continue;
                    }
                    let Some(run) = s.open_run.map(|(_, r)| r).or(s.last_completed_run) else {
                        continue;
                    };
                    let marked = s
                        .marks
                        .as_ref()
                        .filter(|m| m.run_id == run)
                        .map(|m| m.through);
                    let read = s
                        .monitor
                        .as_ref()
                        .filter(|m| s.open_run.is_none() && m.run_id == run)
                        .map(|m| m.window_end);
                    let after = read.or(marked).unwrap_or(i64::MIN);
                    s.open_risk.push(RiskMark {
                        after,
                        state: e.state,
                        flatten: e.flatten,
                    });
                }
            }
            Event::StageMarked(e) => {
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    let previous = s.marks.as_ref().filter(|m| m.run_id == e.run_id);
                    let before = previous.map_or(0, |m| m.fills);
                    let day_open_equity = match previous {
                        Some(m) if m.through.div_euclid(86_400) == e.through.div_euclid(86_400) => {
                            m.day_open_equity
                        }
                        Some(m) => m.equity,
                        None => e.equity,
                    };
                    s.marks = Some(MarksView {
                        run_id: e.run_id,
                        stage: e.stage,
                        series: e.series,
                        window_start: e.window_start,
                        window_bars: e.window_bars,
                        bars: e.bars,
                        through: e.through,
                        fills: before + e.fills.len() as u64,
                        equity: e.equity,
                        baseline_equity: e.baseline_equity,
                        day_open_equity,
                    });
                }
            }
            Event::OpportunityDiscovered(e) => {
                if self.opportunities.contains_key(&e.opportunity_id) {
                    return;
                }
                self.autonomy.opportunities_discovered += 1;
                self.opportunities.insert(
                    e.opportunity_id,
                    OpportunityView {
                        id: e.opportunity_id,
                        source: e.source,
                        external_id: e.external_id,
                        title: e.title,
                        hypothesis: e.hypothesis,
                        url: e.url,
                        family: e.family,
                        template: e.template,
                        asset_class: e.asset_class,
                        timeframe: e.timeframe,
                        stated_sharpe: e.stated_sharpe,
                        parameters: e.parameters,
                        parent_strategy_id: e.parent_strategy_id,
                        discovered_at_micros: recorded_at_micros,
                        discovered_seq: seq,
                        score: None,
                        status: OpportunityStatus::Discovered,
                        strategies: Vec::new(),
                        needs: None,
                        fit: None,
                        read_by: None,
                    },
                );
            }
            Event::OpportunityRead(e) => {
                self.charge(recorded_at_micros, e.tokens_used);
                let Some(o) = self.opportunities.get_mut(&e.opportunity_id) else {
                    return;
                };
                o.needs = Some(e.needs);
                o.fit = Some(e.fit);
                o.read_by = Some(e.extractor);
            }
            Event::OpportunityScored(e) => {
                let Some(o) = self.opportunities.get_mut(&e.opportunity_id) else {
                    return;
                };
                if o.score.is_none() {
                    self.autonomy.opportunities_scored += 1;
                }
                o.score = Some(ScoreView {
                    novelty: e.novelty,
                    market_fit: e.market_fit,
                    complexity: e.complexity,
                    capital_efficiency: e.capital_efficiency,
                    risk: e.risk,
                    composite: e.composite,
                    regime: e.regime,
                });
            }
            Event::OpportunityHeld(e) => {
                self.set_opportunity_status(e.opportunity_id, OpportunityStatus::Held)
            }
            Event::OpportunitySubmitted(e) => {
                self.set_opportunity_status(e.opportunity_id, OpportunityStatus::Submitted)
            }
            Event::OpportunityRejectedDuplicate(e) => {
                self.set_opportunity_status(e.opportunity_id, OpportunityStatus::Duplicate)
            }
            Event::OpportunityRejected(e) => {
                self.set_opportunity_status(e.opportunity_id, OpportunityStatus::Rejected)
            }
            Event::GenerationAttempted(e) => {
                self.charge(recorded_at_micros, e.tokens_charged());
                if let Some(sha) = &e.source_sha256 {
                    self.attempted_sources.insert(sha.clone(), e.attempt);
                }
            }
            Event::StrategyGenerated(e) => {
                if self.strategies.contains_key(&e.strategy_id) {
                    return;
                }
                // A model's attempts charged their tokens already; older logs have none.
                let attempts = match self.attempted_sources.remove(&e.sha256) {
                    Some(n) => n,
                    None => {
                        self.charge(recorded_at_micros, e.tokens_used);
                        1
                    }
                };
                if let Some(o) = self.opportunities.get_mut(&e.opportunity_id) {
                    o.strategies.push(e.strategy_id);
                    o.status = OpportunityStatus::Generated;
                }
                self.strategies.insert(
                    e.strategy_id,
                    StrategyView {
                        id: e.strategy_id,
                        opportunity_id: e.opportunity_id,
                        name: e.name,
                        path: e.path,
                        sha256: e.sha256,
                        mode: e.mode,
                        template: e.template,
                        status: StrategyStatus::Generated,
                        stage: None,
                        highest_stage: None,
                        last_completed_stage: None,
                        approved_stages: Vec::new(),
                        held: None,
                        decision: None,
                        layers_passed: 0,
                        screened: false,
                        validation_warnings: 0,
                        last_metrics: None,
                        implemented: false,
                        open_run: None,
                        generated_seq: seq,
                        generated_at_micros: recorded_at_micros,
                        tokens_used: e.tokens_used,
                        attempts,
                        parameters: e.parameters,
                        last_completed_run: None,
                        monitor: None,
                        rollbacks: 0,
                        clones: Vec::new(),
                        marks: None,
                        open_risk: Vec::new(),
                        capital_fraction: 0.0,
                        run_baseline: None,
                        waiting: None,
                    },
                );
            }
            Event::ValidationStarted(e) => {
                self.set_strategy_status(e.strategy_id, StrategyStatus::Validating);
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.screened = false;
                    s.validation_warnings = 0;
                }
            }
            Event::ValidationDecided(e) => {
                let status = match e.decision {
                    Decision::Approved => {
                        self.autonomy.strategies_approved += 1;
                        StrategyStatus::Approved
                    }
                    Decision::Rejected => {
                        self.autonomy.strategies_rejected += 1;
                        StrategyStatus::Rejected
                    }
                    Decision::ManualReview => StrategyStatus::ManualReview,
                };
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.decision = Some(e.decision);
                    s.layers_passed = e.layers_passed;
                    s.screened = false;
                }
                self.set_strategy_status(e.strategy_id, status);
            }
            Event::ReviewApproved(e) => {
                // The validator's manual review (no stage) turns into an approval; a stage
                // checkpoint approval leaves the strategy where it is until it is promoted.
                if e.before_stage.is_none() {
                    let waiting = self.strategies.get(&e.strategy_id).map(|s| s.status)
                        == Some(StrategyStatus::ManualReview);
                    if waiting {
                        self.autonomy.strategies_approved += 1;
                        self.set_strategy_status(e.strategy_id, StrategyStatus::Approved);
                    }
                } else if let (Some(stage), Some(s)) =
                    (e.before_stage, self.strategies.get_mut(&e.strategy_id))
                {
                    if !s.approved_stages.contains(&stage) {
                        s.approved_stages.push(stage);
                    }
                }
            }
            Event::ReviewRejected(e) => {
                let status = self.strategies.get(&e.strategy_id).map(|s| s.status);
                if e.before_stage.is_none() && status == Some(StrategyStatus::ManualReview) {
                    self.autonomy.strategies_rejected += 1;
                }
                if status.is_some() {
                    self.set_strategy_status(e.strategy_id, StrategyStatus::Rejected);
                }
            }
            Event::ReviewReopened(e) => {
                let terminal = self.strategies.get(&e.strategy_id).is_some_and(|s| {
                    matches!(s.status, StrategyStatus::Retired | StrategyStatus::Rejected)
                });
                if terminal {
                    self.set_strategy_status(e.strategy_id, StrategyStatus::Generated);
                    if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                        s.decision = None;
                        s.layers_passed = 0;
                        s.screened = false;
                        s.validation_warnings = 0;
                        s.open_run = None;
                    }
                }
            }
            Event::BacktestTrial(e) => {
                *self.trials_by_family.entry(e.family).or_default() += 1;
            }
            Event::StageCompleted(e) => {
                if e.stage == Stage::Cold {
                    self.backtest_trials += 1;
                }
                let family = self.family_of(e.strategy_id);
                *self.trials_by_family.entry(family).or_default() += 1;
                // A strategy whose FULL run is done trades full capital: the new champion.
                if e.stage == Stage::Full && e.passed && self.champion != Some(e.strategy_id) {
                    self.previous_champions.retain(|c| *c != e.strategy_id);
                    if let Some(old) = self.champion.replace(e.strategy_id) {
                        self.previous_champions.push(old);
                    }
                }
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.last_metrics = Some(e.metrics);
                    s.last_completed_stage = Some(e.stage);
                    s.last_completed_run = Some(e.run_id);
                    if s.open_run.is_some_and(|(_, run)| run == e.run_id) {
                        s.open_run = None;
                    }
                }
            }
            Event::StagePromoted(e) => self.set_stage(e.strategy_id, e.to),
            Event::StageHeld(e) => {
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.held = Some((e.stage, e.reason));
                }
            }
            Event::StageRolledBack(e) => {
                if e.from == Stage::Full {
                    if self.champion == Some(e.strategy_id) {
                        self.champion = e.reinstated;
                    }
                    self.previous_champions
                        .retain(|c| *c != e.strategy_id && Some(*c) != self.champion);
                }
                if let Some(s) = self.strategies.get_mut(&e.strategy_id) {
                    s.rollbacks += 1;
                    s.monitor = None;
                }
                self.set_stage(e.strategy_id, e.to)
            }
            Event::StageRejected(e) => {
                // Rejected at a stage is rejected: the seed's counter says so.
                if self.strategies.get(&e.strategy_id).map(|s| s.status)
                    != Some(StrategyStatus::Rejected)
                {
                    self.autonomy.strategies_rejected += 1;
                }
                self.set_strategy_status(e.strategy_id, StrategyStatus::Rejected)
            }
            Event::StrategyRetired(e) => {
                self.previous_champions.retain(|c| *c != e.strategy_id);
                if self.champion == Some(e.strategy_id) {
                    self.champion = self.previous_champions.pop();
                }
                self.set_strategy_status(e.strategy_id, StrategyStatus::Retired)
            }
        }
    }
}

/// The audit-trail files, one per part of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFile {
    /// `strategy_opportunities.jsonl`: discovery, scoring, submission, duplicates.
    Opportunities,
    /// `strategy_generation.jsonl`: generated strategies, with prompt and reply.
    Generation,
    /// `strategy_validation.jsonl`: validation layers, decisions, manual reviews.
    Validation,
    /// `strategy_stages.jsonl`: stage runs, promotions, rollbacks, retirements, clones.
    Stages,
    /// `operations.jsonl`: source checks, actor starts, restarts and give-ups, notifications,
    /// the discovery switch — how the machine ran, beside what it decided.
    Operations,
}

impl AuditFile {
    /// All files, in a fixed order.
    pub const ALL: [AuditFile; 5] = [
        AuditFile::Opportunities,
        AuditFile::Generation,
        AuditFile::Validation,
        AuditFile::Stages,
        AuditFile::Operations,
    ];

    /// File name.
    pub fn file_name(self) -> &'static str {
        match self {
            AuditFile::Opportunities => "strategy_opportunities.jsonl",
            AuditFile::Generation => "strategy_generation.jsonl",
            AuditFile::Validation => "strategy_validation.jsonl",
            AuditFile::Stages => "strategy_stages.jsonl",
            AuditFile::Operations => "operations.jsonl",
        }
    }

    pub(crate) fn idx(self) -> usize {
        self as usize
    }
}

/// Days since the epoch of a time in microseconds (UTC).
fn utc_day(micros: i64) -> i64 {
    micros.div_euclid(86_400_000_000)
}

/// The audit file an event belongs in.
pub fn audit_file_of(event: &Event) -> Option<AuditFile> {
    match event {
        Event::OpportunityDiscovered(_)
        | Event::OpportunityRead(_)
        | Event::OpportunityScored(_)
        | Event::OpportunityHeld(_)
        | Event::OpportunitySubmitted(_)
        | Event::OpportunityRejectedDuplicate(_)
        | Event::OpportunityRejected(_) => Some(AuditFile::Opportunities),
        Event::StrategyGenerated(_) | Event::GenerationAttempted(_) => Some(AuditFile::Generation),
        Event::ValidationStarted(_)
        | Event::ValidationLayerFinished(_)
        | Event::ValidationDecided(_) => Some(AuditFile::Validation),
        Event::ReviewApproved(e) if e.before_stage.is_none() => Some(AuditFile::Validation),
        Event::ReviewRejected(e) if e.before_stage.is_none() => Some(AuditFile::Validation),
        Event::ReviewReopened(_) => Some(AuditFile::Validation),
        Event::ReviewApproved(_)
        | Event::ReviewRejected(_)
        | Event::StageStarted(_)
        | Event::StageMarked(_)
        | Event::StageCompleted(_)
        | Event::StagePromoted(_)
        | Event::StageRejected(_)
        | Event::StageRolledBack(_)
        | Event::StageHeld(_)
        | Event::StrategyRetired(_)
        | Event::CloneSpawned(_)
        | Event::MonitorObserved(_)
        | Event::BacktestTrial(_) => Some(AuditFile::Stages),
        Event::DiscoveryToggled(_)
        | Event::SourceChecked(_)
        | Event::NotificationQueued(_)
        | Event::NotificationDropped(_)
        | Event::NotificationSent(_)
        | Event::NotificationFailed(_)
        | Event::ActorStarted(_)
        | Event::ActorRestarted(_)
        | Event::ActorGaveUp(_) => Some(AuditFile::Operations),
        Event::RiskStateChanged(_)
        | Event::StageWaiting(_)
        | Event::StageParity(_)
        | Event::StageCurve(_)
        | Event::OrderSubmitted(_)
        | Event::OrderAcknowledged(_)
        | Event::OrderRejected(_)
        | Event::VenueReconciled(_) => Some(AuditFile::Stages),
    }
}

#[derive(Serialize)]
struct AuditLine<'a> {
    seq: u64,
    event_id: Uuid,
    recorded_at: String,
    kind: &'static str,
    hash: String,
    data: &'a Event,
}

/// The JSONL line (with its newline) an event adds to its audit file.
pub fn audit_line(rec: &RecordedEvent, event: &Event) -> Option<(AuditFile, String)> {
    let file = audit_file_of(event)?;
    Some((file, event_line(rec, event)))
}

/// The JSONL line (with its newline) of any event, as the audit files write it (the
/// console's export of the log).
pub fn event_line(rec: &RecordedEvent, event: &Event) -> String {
    let line = AuditLine {
        seq: rec.seq,
        event_id: rec.id,
        recorded_at: rfc3339_micros(rec.recorded_at_micros),
        kind: rec.kind.as_str(),
        hash: hex(&rec.hash),
        data: event,
    };
    // Serialising our own plain structs to a String cannot fail (no maps with non-string keys).
    // Text from outside is written with nothing in it that acts on a terminal (`cat` is safe).
    let mut text =
        crate::text::json(&serde_json::to_string(&line).unwrap_or_default()).into_owned();
    text.push('\n');
    text
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-25T20:06:54.123456Z`.
pub fn rfc3339_micros(micros: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{micros}us"))
}
