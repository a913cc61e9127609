//! The opportunity scorer: five sub-scores in [0, 1], each with a one-line reason, and their
//! weighted composite (the seed's weights: novelty 25 %, market fit 25 %, implementation
//! complexity 15 %, capital efficiency 15 %, risk profile 20 %). At or above the threshold
//! (0.65) an opportunity is submitted to code generation; below it, held and re-scored next
//! cycle; a near-duplicate of an earlier idea is rejected whatever it scores (the seed's Risk 2).
//!
//! Plain functions over values: the caller gives the regime (from bars), the novelty index
//! (from the log) and the gas reading; nothing here does I/O.

pub mod novelty;
pub mod regime;

use serde::Serialize;
use stratagem_events::SubScore;
use uuid::Uuid;

use crate::extract::Family;
use crate::sources::GasConditions;
use novelty::{NoveltyIndex, Signature};
use regime::{Regime, RegimeReading};

/// The weights of the composite; they must sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoringWeights {
    /// `OPPORTUNITY_NOVELTY_WEIGHT` (0.25).
    pub novelty: f64,
    /// `OPPORTUNITY_MARKET_FIT_WEIGHT` (0.25).
    pub market_fit: f64,
    /// `OPPORTUNITY_COMPLEXITY_WEIGHT` (0.15).
    pub complexity: f64,
    /// `OPPORTUNITY_CAPITAL_EFFICIENCY_WEIGHT` (0.15).
    pub capital_efficiency: f64,
    /// `OPPORTUNITY_RISK_WEIGHT` (0.20).
    pub risk: f64,
}

impl Default for ScoringWeights {
    fn default() -> Self {
        ScoringWeights {
            novelty: 0.25,
            market_fit: 0.25,
            complexity: 0.15,
            capital_efficiency: 0.15,
            risk: 0.20,
        }
    }
}

/// Scorer settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScorerConfig {
    /// The weights.
    pub weights: ScoringWeights,
    /// `OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION` (0.65).
    pub min_score: f64,
    /// `OPPORTUNITY_DUPLICATE_SIMILARITY` (0.8): at or above, a near-duplicate.
    pub duplicate_similarity: f64,
    /// Whether a language model is configured (`ANTHROPIC_API_KEY` or
    /// `CODEGEN_OPENAI_BASE_URL`): an idea no template covers but the SDK can express then
    /// goes to it, instead of being held.
    pub model: bool,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        ScorerConfig {
            weights: ScoringWeights::default(),
            min_score: 0.65,
            duplicate_similarity: 0.8,
            model: false,
        }
    }
}

impl ScorerConfig {
    /// Reads the settings through `get`.
    ///
    /// # Errors
    /// A value that is not a number in [0, 1], or weights that do not sum to 1 (± 0.001).
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ScorerConfig, crate::setting::SettingError> {
        let d = ScorerConfig::default();
        let read = |key: &str, default: f64| -> Result<f64, crate::setting::SettingError> {
            match get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                None => Ok(default),
                Some(v) => match v.parse::<f64>() {
                    Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                    _ => Err(crate::setting::SettingError::new(
                        key,
                        format!("{key}={v:?} is not a number from 0 to 1"),
                    )),
                },
            }
        };
        let weights = ScoringWeights {
            novelty: read("OPPORTUNITY_NOVELTY_WEIGHT", d.weights.novelty)?,
            market_fit: read("OPPORTUNITY_MARKET_FIT_WEIGHT", d.weights.market_fit)?,
            complexity: read("OPPORTUNITY_COMPLEXITY_WEIGHT", d.weights.complexity)?,
            capital_efficiency: read(
                "OPPORTUNITY_CAPITAL_EFFICIENCY_WEIGHT",
                d.weights.capital_efficiency,
            )?,
            risk: read("OPPORTUNITY_RISK_WEIGHT", d.weights.risk)?,
        };
        let sum = weights.novelty
            + weights.market_fit
            + weights.complexity
            + weights.capital_efficiency
            + weights.risk;
        if (sum - 1.0).abs() > 1e-3 {
            return Err(crate::setting::SettingError::new("OPPORTUNITY_*_WEIGHT", format!(
                "the OPPORTUNITY_*_WEIGHT values sum to {sum:.3}, not 1 (novelty {}, market fit {}, complexity {}, capital efficiency {}, risk {})",
                weights.novelty, weights.market_fit, weights.complexity, weights.capital_efficiency, weights.risk
            )));
        }
        Ok(ScorerConfig {
            weights,
            min_score: read("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", d.min_score)?,
            duplicate_similarity: read("OPPORTUNITY_DUPLICATE_SIMILARITY", d.duplicate_similarity)?,
            model: false,
        })
    }
}

/// What the scorer reads of an opportunity.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its id (excluded from its own novelty search).
    pub id: Uuid,
    /// Its position in the log; only earlier ideas count against its novelty.
    pub order: u64,
    /// Title.
    pub title: &'a str,
    /// Hypothesis.
    pub hypothesis: &'a str,
    /// Family.
    pub family: Family,
    /// Template, if one fits.
    pub template: Option<&'a str>,
    /// The fit decision's reason and route (`template`, `model`, `held`), when the idea was
    /// read for its needs.
    pub fit: Option<&'a stratagem_events::IdeaFit>,
    /// Parameters stated.
    pub parameters: usize,
    /// Sharpe claimed.
    pub stated_sharpe: Option<f64>,
    /// Time frame.
    pub timeframe: Option<&'a str>,
    /// Asset class.
    pub asset_class: Option<&'a str>,
    /// For a clone: the winning strategy it is a parameter variant of. A variant is the same
    /// idea by design, so it is not judged a duplicate of its lineage.
    pub variant_of: Option<Uuid>,
}

impl<'a> Candidate<'a> {
    /// The candidate of what the extractor read from an item.
    pub fn from_extracted(id: Uuid, order: u64, x: &'a crate::extract::Extracted) -> Candidate<'a> {
        Candidate {
            id,
            order,
            title: &x.title,
            hypothesis: &x.hypothesis,
            family: x.family,
            template: x.template.as_deref(),
            fit: Some(&x.fit),
            parameters: x.parameters.len(),
            stated_sharpe: x.stated_sharpe,
            timeframe: x.timeframe.as_deref(),
            asset_class: x.asset_class.as_deref(),
            variant_of: None,
        }
    }

    /// The text novelty is judged on.
    pub fn signature(&self) -> Signature {
        novelty::signature(&format!("{} {}", self.title, self.hypothesis))
    }
}

/// What the scorer decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Verdict {
    /// Composite at or above the threshold.
    Submit,
    /// Below the threshold: re-scored next cycle.
    Hold,
    /// A near-duplicate of an earlier idea.
    Duplicate {
        /// The earlier idea.
        of: Uuid,
        /// Similarity.
        similarity: f64,
    },
    /// Rejected for good, with the reason (a clone below the threshold).
    Reject {
        /// Why.
        reason: String,
    },
}

/// The five sub-scores, the composite and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Novelty.
    pub novelty: SubScore,
    /// Market fit.
    pub market_fit: SubScore,
    /// Implementation complexity (higher = simpler).
    pub complexity: SubScore,
    /// Capital efficiency.
    pub capital_efficiency: SubScore,
    /// Risk profile (higher = safer).
    pub risk: SubScore,
    /// Weighted composite.
    pub composite: f64,
    /// The regime market fit was judged against.
    pub regime: Regime,
    /// What to do with it.
    pub verdict: Verdict,
}

fn sub(value: f64, reason: impl Into<String>) -> SubScore {
    SubScore {
        value: (value.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
        reason: reason.into(),
    }
}

/// Scores one candidate.
pub fn score(
    c: &Candidate<'_>,
    sig: &Signature,
    index: &NoveltyIndex,
    regime: &RegimeReading,
    gas: Option<&GasConditions>,
    text: &str,
    config: &ScorerConfig,
) -> Scored {
    let nearest = match c.variant_of {
        // A clone's novelty is in its parameters, which the text index cannot see.
        Some(_) => None,
        None => index.nearest(sig, c.order, Some(c.id)),
    };
    let novelty = match nearest {
        _ if c.variant_of.is_some() => sub(
            0.6,
            format!(
                "a parameter variant of winning strategy {}: a proven idea with new parameters",
                c.variant_of.unwrap_or_default()
            ),
        ),
        Some(m) if m.similarity > 0.0 => sub(
            1.0 - m.similarity,
            format!(
                "{:.0} % similar to opportunity {}",
                m.similarity * 100.0,
                m.id
            ),
        ),
        _ if index.is_empty() => sub(1.0, "the first idea on record"),
        _ => sub(
            1.0,
            format!("no similar idea among {} on record", index.len()),
        ),
    };
    let market_fit = market_fit(c.family, regime);
    let complexity = complexity(c);
    let capital_efficiency = capital_efficiency(c, gas, text);
    let risk = risk(c, text);
    let w = &config.weights;
    let composite = w.novelty * novelty.value
        + w.market_fit * market_fit.value
        + w.complexity * complexity.value
        + w.capital_efficiency * capital_efficiency.value
        + w.risk * risk.value;
    let composite = (composite * 10_000.0).round() / 10_000.0;
    let verdict = match nearest {
        Some(m) if m.similarity >= config.duplicate_similarity => Verdict::Duplicate {
            of: m.id,
            similarity: m.similarity,
        },
        // Nothing can test it as stated: held with the fit's reason, never forced into a
        // template that tests another idea.
        _ if composite + 1e-9 >= config.min_score
            && c.template.is_none()
            && c.fit.is_some_and(|f| f.route == "held") =>
        {
            Verdict::Hold
        }
        _ if composite + 1e-9 >= config.min_score => Verdict::Submit,
        // A clone is judged once, on its parent's evidence (a proven idea, new parameters):
        // what does not reach the threshold with it is rejected with the reason, never held to
        // be re-scored without end.
        _ if c.variant_of.is_some() => Verdict::Reject {
            reason: format!(
                "a clone of winning strategy {} scored {composite:.4}, below {:.2}, in a {} market: its parent's evidence does not carry it here",
                c.variant_of.unwrap_or_default(),
                config.min_score,
                regime.regime.as_str()
            ),
        },
        _ => Verdict::Hold,
    };
    Scored {
        novelty,
        market_fit,
        complexity,
        capital_efficiency,
        risk,
        composite,
        regime: regime.regime,
        verdict,
    }
}

/// How well the family suits the regime. Trend-following families need a trend (and go short
/// in a bear market, at some cost); reverting families want a range; volatility trades like
/// turbulence; the rest barely depend on the regime.
fn market_fit(family: Family, r: &RegimeReading) -> SubScore {
    use Family::*;
    use Regime::*;
    let (v, why) = match (family, r.regime) {
        (Momentum | Trend | Breakout, Bull) => (0.9, "trend-following suits a rising market"),
        (Momentum | Trend | Breakout, Bear) => (
            0.6,
            "trend-following works in a falling market only by going short",
        ),
        (Momentum | Trend | Breakout, Sideways) => (0.3, "trend-following is whipsawed in a range"),
        (MeanReversion | StatisticalArbitrage | MarketMaking, Sideways) => {
            (0.9, "reverting and spread trades suit a range")
        }
        (MeanReversion, _) => (0.5, "fading moves fights a trending market"),
        (Carry, Bear) => (
            0.55,
            "funding turns negative in a falling market: the carry thins",
        ),
        (Carry, _) => (0.8, "funding is positive while longs pay for leverage"),
        (StatisticalArbitrage | MarketMaking, _) => (
            0.65,
            "relative-value and spread trades depend little on direction",
        ),
        (Volatility, Bear) => (0.8, "volatility trades pay in turbulent, falling markets"),
        (Volatility, _) => (
            0.55,
            "volatility trades need turbulence the market shows only in part",
        ),
        (Sentiment, _) => (
            0.55,
            "crowd mood matters in every regime, strongest at turns",
        ),
        (EventDriven, _) => (0.5, "event returns depend little on the regime"),
        (Mev, _) => (
            0.5,
            "on-chain extraction depends on activity, not direction",
        ),
        (Other, _) => (0.2, "no recognisable strategy to fit to the market"),
    };
    sub(v, format!("{why} ({})", r.reason))
}

/// Higher = simpler to implement well with what we have.
fn complexity(c: &Candidate<'_>) -> SubScore {
    let (base, why) = match (c.template, c.family) {
        (Some(t), _) => (
            0.85,
            format!("the {t} template fits: parameter substitution"),
        ),
        (None, _) if c.fit.is_some_and(|f| f.route == "model") => {
            (0.5, c.fit.map(|f| f.reason.clone()).unwrap_or_default())
        }
        (None, f) if c.fit.is_some() && !matches!(f, Family::Other) => {
            (0.3, c.fit.map(|f| f.reason.clone()).unwrap_or_default())
        }
        (None, Family::Sentiment | Family::EventDriven) => (
            0.35,
            "needs text or event data strategies do not receive yet".to_string(),
        ),
        (None, Family::MarketMaking | Family::Mev) => (
            0.15,
            "needs order-book or mempool infrastructure we do not have".to_string(),
        ),
        (None, Family::Other) => (0.2, "no recognisable strategy to implement".to_string()),
        (None, f) => (
            0.5,
            format!("{} without a template: a model must write it", f.as_str()),
        ),
    };
    let bonus = (c.parameters as f64 * 0.05).min(0.1);
    let why = if c.parameters > 0 {
        format!("{why}; {} parameter(s) stated", c.parameters)
    } else {
        why
    };
    sub(base + bonus, why)
}

fn mentions(text: &str, words: &[&str]) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// How much return the capital can earn: busy strategies on liquid markets above idle ones.
fn capital_efficiency(c: &Candidate<'_>, gas: Option<&GasConditions>, text: &str) -> SubScore {
    use Family::*;
    let (mut v, mut why) = match c.family {
        Momentum | Trend => (
            0.7,
            "directional, one liquid leg, capital always at work".to_string(),
        ),
        Breakout => (0.65, "directional, idle between breakouts".to_string()),
        MeanReversion => (0.6, "one leg, in the market only at extremes".to_string()),
        StatisticalArbitrage => (0.5, "two legs tie up capital for a spread".to_string()),
        Carry => (
            0.45,
            "a hedged pair earns only the funding on twice the capital".to_string(),
        ),
        Volatility => (0.5, "options or hedges tie up margin".to_string()),
        Sentiment => (0.5, "directional, signals come and go".to_string()),
        MarketMaking => (0.4, "inventory ties up capital on both sides".to_string()),
        EventDriven => (0.45, "capital idle between events".to_string()),
        Mev => (0.35, "capital and gas at risk per attempt".to_string()),
        Other => (0.3, "unknown use of capital".to_string()),
    };
    if matches!(c.timeframe, Some("intraday" | "minute")) {
        v -= 0.05;
        why.push_str("; high turnover pays more fees");
    }
    let on_chain = matches!(c.family, Mev)
        || c.asset_class == Some("crypto")
            && mentions(text, &["defi", "on-chain", "on chain", "protocol", "swap"]);
    if let (true, Some(g)) = (on_chain, gas) {
        if g.next_base_fee_gwei > 50.0 {
            v -= 0.15;
            why.push_str(&format!(
                "; gas is expensive ({:.1} gwei base fee)",
                g.next_base_fee_gwei
            ));
        } else if g.next_base_fee_gwei < 5.0 {
            v += 0.05;
            why.push_str(&format!(
                "; gas is cheap ({:.2} gwei base fee)",
                g.next_base_fee_gwei
            ));
        }
    }
    sub(v, why)
}

/// Higher = safer: tail risk of the family, and what the text says about stops, leverage and
/// claimed performance.
fn risk(c: &Candidate<'_>, text: &str) -> SubScore {
    use Family::*;
    let (mut v, why) = match c.family {
        Trend => (0.7, "trend-following cuts losses by construction"),
        Momentum => (0.65, "momentum crashes at reversals"),
        Breakout => (0.6, "false breakouts cost small, frequent losses"),
        StatisticalArbitrage => (0.6, "spreads can widen before they converge"),
        Carry => (
            0.65,
            "hedged, but the basis and funding can turn against it",
        ),
        MeanReversion => (0.5, "fading a move can catch a falling knife"),
        EventDriven => (0.5, "event outcomes are binary"),
        Sentiment => (0.45, "crowd signals are noisy and crowded"),
        Volatility => (0.45, "short volatility has fat tails"),
        MarketMaking => (0.4, "adverse selection and inventory risk"),
        Mev => (0.3, "competitive, reverts cost gas, smart-contract risk"),
        Other => (0.3, "risk unknown"),
    };
    let mut notes = vec![why.to_string()];
    if mentions(text, &["stop-loss", "stop loss", "stoploss", "stop at"]) {
        v += 0.1;
        notes.push("a stop-loss is stated".into());
    }
    if mentions(
        text,
        &[
            "no leverage",
            "unlevered",
            "never lever",
            "without leverage",
        ],
    ) {
        v += 0.05;
        notes.push("no leverage".into());
    } else if mentions(text, &["leverage", "levered", "margin"]) {
        v -= 0.15;
        notes.push("leverage mentioned".into());
    }
    if mentions(
        text,
        &[
            "martingale",
            "double down",
            "averaging down",
            "average down",
        ],
    ) {
        v -= 0.25;
        notes.push("adds to losers".into());
    }
    if let Some(s) = c.stated_sharpe.filter(|s| *s > 3.0) {
        v -= 0.15;
        notes.push(format!("a claimed Sharpe of {s} suggests overfitting"));
    }
    sub(v, notes.join("; "))
}

#[cfg(test)]
mod tests;
