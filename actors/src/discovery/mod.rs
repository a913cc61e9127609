//! One discovery cycle as plain functions: a source check's items become opportunities, each
//! scored and decided, as the events to record; held opportunities are re-scored. The caller
//! appends each batch (one per source check, so a check is recorded whole or not at all).

use std::collections::HashSet;

use serde::Serialize;
use stratagem_events::projection::{OpportunityStatus, OpportunityView};
use stratagem_events::{
    Event, OpportunityHeld, OpportunityRejectedDuplicate, OpportunityScored, OpportunitySubmitted,
    Projections, SourceChecked, SourceOutcome,
};
use uuid::Uuid;

use crate::extract::{self, Extractor, Family};
use crate::scorer::novelty::{NoveltyIndex, Signature};
use crate::scorer::regime::RegimeReading;
use crate::scorer::{score, Candidate, Scored, ScorerConfig, Verdict};
use crate::sources::check::SourceCheck;
use crate::sources::GasConditions;

/// Bump when a change to the scorer can change the score of an idea already on the log: the
/// held ideas settled under an older revision are then scored again.
pub const SCORING_REVISION: u32 = 3;

/// What the scorer needs beside the opportunity: the regime, the gas reading, the settings and
/// every earlier idea.
#[derive(Debug, Clone)]
pub struct ScoringContext {
    /// The current regime.
    pub regime: RegimeReading,
    /// Latest gas conditions, if a check read them.
    pub gas: Option<GasConditions>,
    /// On the real clock: the regime of each configured series (`MARKETS`) and the default
    /// one; an idea's market fit is judged against its instrument's ([`crate::bars::instruments`]).
    pub instruments: Option<Instruments>,
    /// Weights and thresholds.
    pub config: ScorerConfig,
    /// Every opportunity on record: built from the read model when something is first scored
    /// ([`Self::ensure_index`]), so a cycle that scores nothing never computes a signature.
    pub index: NoveltyIndex,
    indexed: bool,
    /// Held ideas discovered at or before this sequence number were scored in this very context
    /// (its [`Self::fingerprint`]) and need no re-scoring: an idea's score depends only on
    /// itself, the ideas before it, and the context.
    pub settled_through: u64,
    /// The language model that reads what the rules cannot fit, when one is configured.
    pub reader: Option<std::sync::Arc<crate::model_reader::ModelReader>>,
    /// Submissions read ahead by the model ([`prepare_rescore`]), by opportunity.
    pub readings: std::collections::HashMap<Uuid, extract::Extracted>,
}

impl ScoringContext {
    /// A context; its novelty index is built from the read model when first needed
    /// ([`Self::ensure_index`]).
    pub fn new(regime: RegimeReading, config: ScorerConfig) -> ScoringContext {
        ScoringContext {
            regime,
            gas: None,
            instruments: None,
            config,
            index: NoveltyIndex::new(),
            indexed: false,
            settled_through: 0,
            reader: None,
            readings: std::collections::HashMap::new(),
        }
    }

    /// Uses `index` as the novelty index of every earlier idea (benchmarks).
    pub fn set_index(&mut self, index: NoveltyIndex) {
        self.index = index;
        self.indexed = true;
    }

    /// Builds the novelty index from the read model (every opportunity, in log order), once.
    pub fn ensure_index(&mut self, projections: &Projections) {
        if self.indexed {
            return;
        }
        let mut views: Vec<&OpportunityView> = projections.opportunities.values().collect();
        views.sort_by_key(|o| o.discovered_seq);
        for o in views {
            self.index.insert(
                o.id,
                o.discovered_seq,
                crate::scorer::novelty::signature(&format!("{} {}", o.title, o.hypothesis)),
            );
        }
        self.indexed = true;
    }

    /// What a held idea's score depends on besides the log: the scorer's revision, the regime,
    /// the gas reading and the settings, as a SHA-256 in hex.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let instruments: Vec<String> = self
            .instruments
            .iter()
            .flat_map(|i| i.regimes.iter())
            .map(|(s, r)| format!("{} {}", s.label(), r.reason))
            .collect();
        let text = format!(
            "{SCORING_REVISION}\n{}\n{:?}\n{:?}\n{instruments:?}",
            self.regime.reason, self.gas, self.config
        );
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl ScoringContext {
    /// Scores a candidate against everything in the context; returns its signature too, for
    /// adding it to the index.
    pub fn score(&self, c: &Candidate<'_>) -> (Scored, Signature) {
        let sig = c.signature();
        let text = format!("{} {}", c.title, c.hypothesis);
        let regime = self
            .instruments
            .as_ref()
            .and_then(|i| i.regime_of(&text, c.timeframe))
            .unwrap_or(&self.regime);
        let scored = score(
            c,
            &sig,
            &self.index,
            regime,
            self.gas.as_ref(),
            &text,
            &self.config,
        );
        (scored, sig)
    }
}

/// The configured series and the regime read on each (from the bar store).
#[derive(Debug, Clone)]
pub struct Instruments {
    /// The default series.
    pub default: crate::bars::Series,
    /// Every configured series with its regime (a series the store has too few bars of is
    /// not here: its ideas are judged against the embedded regime).
    pub regimes: Vec<(crate::bars::Series, RegimeReading)>,
    /// Every configured series.
    pub markets: Vec<crate::bars::Series>,
}

impl Instruments {
    /// The regime of the series an idea with `text` and `timeframe` trades, if read.
    pub fn regime_of(&self, text: &str, timeframe: Option<&str>) -> Option<&RegimeReading> {
        let (series, _) =
            crate::bars::instruments::choose(&self.markets, &self.default, text, timeframe);
        self.regimes
            .iter()
            .find(|(s, _)| *s == series)
            .map(|(_, r)| r)
    }
}

/// The external ids already recorded for each source.
pub fn known_ids(projections: &Projections) -> HashSet<(String, String)> {
    projections
        .opportunities
        .values()
        .filter_map(|o| Some((o.source.clone(), o.external_id.clone()?)))
        .collect()
}

/// The external ids already recorded for one source (only its own are copied).
pub fn known_ids_of(projections: &Projections, source: &str) -> HashSet<String> {
    projections
        .opportunities
        .values()
        .filter(|o| o.source == source)
        .filter_map(|o| o.external_id.clone())
        .collect()
}

/// Per-source counts of one check, for people.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckSummary {
    /// Source name.
    pub source: String,
    /// `ok`, `not_modified`, `failed`, or `skipped`.
    pub outcome: String,
    /// Items in the responses.
    pub fetched: u32,
    /// Items not seen before.
    pub new: u32,
    /// Already on record, or near-duplicates of an earlier idea.
    pub duplicates: u32,
    /// Submitted to code generation.
    pub submitted: u32,
    /// Held below the threshold.
    pub held: u32,
    /// Failures, with their reasons.
    pub errors: Vec<String>,
    /// Why the source was not checked, when it was not.
    pub skipped: Option<String>,
}

fn decision_events(id: Uuid, s: &Scored, threshold: f64) -> Vec<Event> {
    let mut out = vec![Event::OpportunityScored(OpportunityScored {
        opportunity_id: id,
        novelty: s.novelty.clone(),
        market_fit: s.market_fit.clone(),
        complexity: s.complexity.clone(),
        capital_efficiency: s.capital_efficiency.clone(),
        risk: s.risk.clone(),
        composite: s.composite,
        regime: s.regime.as_str().to_string(),
    })];
    out.push(match &s.verdict {
        Verdict::Submit => Event::OpportunitySubmitted(OpportunitySubmitted {
            opportunity_id: id,
            composite: s.composite,
        }),
        Verdict::Hold => Event::OpportunityHeld(OpportunityHeld {
            opportunity_id: id,
            composite: s.composite,
            threshold,
        }),
        Verdict::Duplicate { of, similarity } => {
            Event::OpportunityRejectedDuplicate(OpportunityRejectedDuplicate {
                opportunity_id: id,
                duplicate_of: Some(*of),
                similarity: *similarity,
            })
        }
        Verdict::Reject { reason } => {
            Event::OpportunityRejected(stratagem_events::OpportunityRejected {
                opportunity_id: id,
                composite: s.composite,
                reason: reason.clone(),
            })
        }
    });
    out
}

/// The events of one source check: `source.checked`, then for each new item its discovery,
/// score and decision. Also adds the new opportunities to the novelty index, so later items of
/// the same cycle are compared with them. `first_seq` is the sequence number the batch will
/// start at (append it with [`stratagem_events::AppendRequest::expecting`]): an opportunity's
/// novelty is judged against ideas recorded before its own discovery event, now and on every
/// re-score.
pub fn plan_check(
    check: &SourceCheck,
    ctx: &mut ScoringContext,
    extractor: &dyn Extractor,
    first_seq: u64,
    projections: &Projections,
) -> (Vec<Event>, CheckSummary) {
    if check.gas.is_some() && check.gas != ctx.gas {
        ctx.gas = check.gas.clone();
        // Held ideas' capital efficiency reads the gas: none is settled in the new context.
        ctx.settled_through = 0;
    }
    if !check.items.is_empty() {
        ctx.ensure_index(projections);
    }
    let mut summary = CheckSummary {
        source: check.source.as_str().to_string(),
        outcome: match check.outcome {
            SourceOutcome::Ok => "ok",
            SourceOutcome::NotModified => "not_modified",
            SourceOutcome::Failed { .. } => "failed",
        }
        .to_string(),
        fetched: check.fetched,
        new: check.items.len() as u32,
        duplicates: check.already_seen,
        ..CheckSummary::default()
    };
    if let SourceOutcome::Failed { error } = &check.outcome {
        summary.errors = error.split("; ").map(str::to_string).collect();
    }
    let mut events = vec![Event::SourceChecked(SourceChecked {
        source: check.source.as_str().to_string(),
        outcome: check.outcome.clone(),
        fetched: check.fetched,
        new_items: check.items.len() as u32,
        duration_ms: check.duration.as_millis() as u64,
    })];
    for item in &check.items {
        let mut x = extractor.extract(item);
        if ctx.config.model && x.template.is_none() {
            x.fit = crate::generator::templates::decide(&x.needs, None, true);
        }
        let id = Uuid::now_v7();
        let order = first_seq + events.len() as u64;
        let (scored, sig) = ctx.score(&Candidate::from_extracted(id, order, &x));
        match scored.verdict {
            Verdict::Submit => summary.submitted += 1,
            Verdict::Hold => summary.held += 1,
            Verdict::Duplicate { .. } | Verdict::Reject { .. } => summary.duplicates += 1,
        }
        ctx.index.insert(id, order, sig);
        events.push(Event::OpportunityDiscovered(extract::to_event(
            item, &x, id,
        )));
        events.push(Event::OpportunityRead(extract::read_event(&x, id)));
        events.extend(decision_events(id, &scored, ctx.config.min_score));
    }
    (events, summary)
}

/// The reading to record for a recorded opportunity before it is scored, if any: a
/// submission never read is read by the rule extractor now; a reading whose fit decision
/// changes with the context (a model configured since) is decided again over the same needs.
pub fn reading_to_record(
    o: &OpportunityView,
    ctx: &ScoringContext,
) -> Option<stratagem_events::OpportunityRead> {
    use crate::generator::templates;
    match (&o.needs, &o.fit) {
        (Some(needs), Some(fit)) => {
            if fit.template.is_some() {
                return None;
            }
            let again = templates::decide(needs, None, ctx.config.model);
            (again != *fit).then(|| stratagem_events::OpportunityRead {
                opportunity_id: o.id,
                extractor: o.read_by.clone().unwrap_or_else(|| "rules".into()),
                model: None,
                needs: needs.clone(),
                fit: again,
                reply: None,
                tokens_used: 0,
            })
        }
        _ if o.family.is_none() && o.parent_strategy_id.is_none() => {
            if let Some(x) = ctx.readings.get(&o.id) {
                return Some(extract::read_event(x, o.id));
            }
            let mut x = crate::extract::extract_text(&o.title, &o.hypothesis);
            if ctx.config.model && x.template.is_none() {
                x.fit = templates::decide(&x.needs, None, true);
            }
            Some(extract::read_event(&x, o.id))
        }
        _ => None,
    }
}

/// Scores a recorded opportunity (a held one again, or a manual submission), with `reading`
/// when one is to be recorded first ([`reading_to_record`]).
pub fn score_view(
    o: &OpportunityView,
    reading: Option<&stratagem_events::OpportunityRead>,
    ctx: &ScoringContext,
) -> Scored {
    debug_assert!(ctx.indexed, "the novelty index is built before scoring");
    let fit = reading.map(|r| &r.fit).or(o.fit.as_ref());
    let needs = reading.map(|r| &r.needs).or(o.needs.as_ref());
    // The template-fit decision the generator makes too.
    let (fits, read) = match fit {
        Some(f) => (
            f.template
                .as_deref()
                .and_then(crate::generator::templates::find),
            None,
        ),
        None => crate::generator::templates::fit(o),
    };
    let candidate = match &read {
        Some(x) => Candidate::from_extracted(o.id, o.discovered_seq, x),
        None => Candidate {
            id: o.id,
            order: o.discovered_seq,
            title: &o.title,
            hypothesis: &o.hypothesis,
            family: needs
                .map(|n| n.family.as_str())
                .or(o.family.as_deref())
                .and_then(Family::parse)
                .unwrap_or(Family::Other),
            template: fits.map(|t| t.name),
            fit,
            parameters: needs.map_or(o.parameters.len(), |n| n.parameters.len()),
            stated_sharpe: o.stated_sharpe,
            timeframe: needs
                .and_then(|n| n.timeframe.as_deref())
                .or(o.timeframe.as_deref()),
            asset_class: o.asset_class.as_deref(),
            variant_of: o.parent_strategy_id,
        },
    };
    ctx.score(&candidate).0
}

/// Reads ahead with the model (when one is configured) the submissions that are read at
/// their first scoring and that the rules find no template for, within the day's budget
/// (`used`: tokens used today so far); [`plan_rescore`] records those readings.
pub async fn prepare_rescore(projections: &Projections, ctx: &mut ScoringContext, used: u64) {
    let Some(reader) = ctx.reader.clone() else {
        return;
    };
    let items: Vec<crate::sources::Item> = projections
        .opportunities
        .values()
        .filter(|o| {
            o.status == OpportunityStatus::Discovered
                && o.score.is_none()
                && o.needs.is_none()
                && o.family.is_none()
                && o.parent_strategy_id.is_none()
                && !ctx.readings.contains_key(&o.id)
        })
        .map(|o| crate::sources::Item {
            source: crate::sources::SourceName::Manual,
            external_id: o.id.to_string(),
            title: o.title.raw().to_string(),
            text: o.hypothesis.raw().to_string(),
            url: None,
            published: None,
            fields: Vec::new(),
        })
        .collect();
    if items.is_empty() {
        return;
    }
    let prepared = crate::model_reader::prepare(Some(&reader), &items, used).await;
    for (id, x) in prepared.readings {
        if let Ok(id) = id.parse() {
            ctx.readings.insert(id, x);
        }
    }
}

/// Scores opportunities never scored (manual submissions) and re-scores held ones not settled
/// in this context (see [`ScoringContext::settled_through`]): events for every first scoring,
/// and for held ones only when the composite moved by at least 0.005 or the verdict changed, so
/// a quiet cycle writes nothing. Afterwards every held idea on the log is settled. Returns the
/// events, how many were scored, and how many of those were submitted.
pub fn plan_rescore(projections: &Projections, ctx: &mut ScoringContext) -> (Vec<Event>, u32, u32) {
    let mut events = Vec::new();
    let (mut scored_n, mut submitted) = (0, 0);
    let settled = ctx.settled_through;
    let waiting = |o: &&OpportunityView| {
        (o.status == OpportunityStatus::Held && o.discovered_seq > settled)
            || (o.status == OpportunityStatus::Discovered && o.score.is_none())
    };
    let todo: Vec<&OpportunityView> = projections.opportunities.values().filter(waiting).collect();
    ctx.settled_through = projections.last_seq;
    if todo.is_empty() {
        return (events, 0, 0);
    }
    ctx.ensure_index(projections);
    for o in todo {
        let reading = reading_to_record(o, ctx);
        let scored = score_view(o, reading.as_ref(), ctx);
        if let Some(r) = reading {
            events.push(Event::OpportunityRead(r));
        }
        let old = o.score.as_ref().map_or(-1.0, |s| s.composite);
        let changed =
            !matches!(scored.verdict, Verdict::Hold) || (scored.composite - old).abs() >= 0.005;
        if changed {
            scored_n += 1;
            if scored.verdict == Verdict::Submit {
                submitted += 1;
            }
            events.extend(decision_events(o.id, &scored, ctx.config.min_score));
        }
    }
    (events, scored_n, submitted)
}

pub mod actors;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{check::SourceCheck, SourceName};
    use stratagem_events::{AppendRequest, EventStore, MemoryEventStore, SubScore};

    /// A log with one held idea whose recorded score is not what the scorer says.
    fn one_held_idea() -> (Projections, Uuid) {
        let store = MemoryEventStore::new();
        let id = Uuid::now_v7();
        let sub = |value| SubScore {
            value,
            reason: "recorded".into(),
        };
        let events = vec![
            Event::OpportunityDiscovered(stratagem_events::OpportunityDiscovered {
                opportunity_id: id,
                source: "reddit".into(),
                external_id: Some("t3_1".into()),
                title: "MEV sandwich bot on Uniswap pools".into(),
                hypothesis: "Front-run large swaps on chain, paying gas per attempt.".into(),
                url: None,
                family: None,
                asset_class: None,
                timeframe: None,
                parameters: Vec::new(),
                stated_sharpe: None,
                template: None,
                parent_strategy_id: None,
            }),
            Event::OpportunityScored(OpportunityScored {
                opportunity_id: id,
                novelty: sub(0.1),
                market_fit: sub(0.1),
                complexity: sub(0.1),
                capital_efficiency: sub(0.1),
                risk: sub(0.1),
                composite: 0.1,
                regime: "recorded".into(),
            }),
            Event::OpportunityHeld(OpportunityHeld {
                opportunity_id: id,
                composite: 0.1,
                threshold: 0.65,
            }),
        ];
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.append(AppendRequest::new(events)))
            .unwrap();
        (Projections::replay(&store).unwrap(), id)
    }

    fn context() -> ScoringContext {
        let regime = crate::scorer::regime::detect(crate::market::embedded_hourly());
        ScoringContext::new(regime, ScorerConfig::default())
    }

    #[test]
    fn a_held_idea_settled_in_the_context_is_not_scored_again_until_the_context_changes() {
        let (p, _) = one_held_idea();
        let mut ctx = context();
        // Never settled: scored again (the recorded 0.1 is not the scorer's figure).
        let (events, scored, _) = plan_rescore(&p, &mut ctx);
        assert_eq!(scored, 1, "{events:?}");
        assert_eq!(ctx.settled_through, p.last_seq);
        // Settled in this context: skipped, though the record still says 0.1.
        let (events, scored, _) = plan_rescore(&p, &mut ctx);
        assert_eq!((events.len(), scored), (0, 0));
        // A source check without a new gas reading leaves it settled; one with a new reading
        // (which its capital efficiency depends on) unsettles it, and changes the fingerprint.
        let before = ctx.fingerprint();
        let check = |gas| SourceCheck {
            source: SourceName::Defillama,
            outcome: stratagem_events::SourceOutcome::Ok,
            fetched: 0,
            items: Vec::new(),
            already_seen: 0,
            gas,
            duration: std::time::Duration::ZERO,
        };
        plan_check(
            &check(None),
            &mut ctx,
            &crate::extract::RuleExtractor,
            4,
            &p,
        );
        assert_eq!(ctx.settled_through, p.last_seq);
        let gas = GasConditions {
            oldest_block: 1,
            blocks: 1,
            next_base_fee_gwei: 80.0,
            mean_base_fee_gwei: 80.0,
            mean_gas_used_ratio: 0.9,
        };
        plan_check(
            &check(Some(gas)),
            &mut ctx,
            &crate::extract::RuleExtractor,
            4,
            &p,
        );
        assert_eq!(ctx.settled_through, 0);
        assert_ne!(ctx.fingerprint(), before);
        let (_, scored, _) = plan_rescore(&p, &mut ctx);
        assert_eq!(scored, 1);
    }

    #[test]
    fn nothing_to_score_builds_no_novelty_index() {
        let (p, _) = one_held_idea();
        let mut ctx = context();
        ctx.settled_through = p.last_seq;
        let _ = plan_rescore(&p, &mut ctx);
        assert!(!ctx.indexed && ctx.index.is_empty());
        ctx.settled_through = 0;
        let _ = plan_rescore(&p, &mut ctx);
        assert!(ctx.indexed && ctx.index.len() == 1);
    }
}
