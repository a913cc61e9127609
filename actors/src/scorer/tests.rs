//! Hand-written scoring cases. Each expected figure is argued in the comment above it, from the
//! tables in the scorer; a change to a table must change these arguments too.

use super::*;

fn reading(regime: Regime) -> RegimeReading {
    RegimeReading {
        regime,
        window_return: 0.0,
        annual_volatility: 0.5,
        bars: 720,
        reason: regime.as_str().to_string(),
    }
}

fn candidate<'a>(
    title: &'a str,
    hypothesis: &'a str,
    family: Family,
    template: Option<&'a str>,
) -> Candidate<'a> {
    Candidate {
        id: Uuid::from_u128(99),
        order: 100,
        title,
        hypothesis,
        family,
        template,
        fit: None,
        parameters: 0,
        stated_sharpe: None,
        timeframe: None,
        asset_class: Some("crypto"),
        variant_of: None,
    }
}

fn run(c: &Candidate<'_>, index: &NoveltyIndex, regime: Regime) -> Scored {
    let text = format!("{} {}", c.title, c.hypothesis);
    score(
        c,
        &c.signature(),
        index,
        &reading(regime),
        None,
        &text,
        &ScorerConfig::default(),
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_templated_momentum_idea_in_a_bull_market_is_submitted() {
    let mut c = candidate(
        "Hourly BTC momentum",
        "Go long when the 24-hour return exceeds 2 %, with a stop-loss at 3 % and no leverage.",
        Family::Momentum,
        Some("momentum"),
    );
    c.parameters = 2;
    let s = run(&c, &NoveltyIndex::new(), Regime::Bull);
    // Novelty 1: the first idea on record.
    assert!(close(s.novelty.value, 1.0), "{:?}", s.novelty);
    // Market fit 0.9: momentum in a bull market.
    assert!(close(s.market_fit.value, 0.9), "{:?}", s.market_fit);
    // Complexity 0.85 for a fitting template + 2 × 0.05 for two stated parameters = 0.95.
    assert!(close(s.complexity.value, 0.95), "{:?}", s.complexity);
    // Capital efficiency 0.7: directional, one liquid leg.
    assert!(
        close(s.capital_efficiency.value, 0.7),
        "{:?}",
        s.capital_efficiency
    );
    // Risk 0.65 for momentum + 0.1 stop-loss + 0.05 no leverage = 0.8.
    assert!(close(s.risk.value, 0.8), "{:?}", s.risk);
    // Composite 0.25·1 + 0.25·0.9 + 0.15·0.95 + 0.15·0.7 + 0.2·0.8 = 0.8825 ≥ 0.65.
    assert!(close(s.composite, 0.8825), "{}", s.composite);
    assert_eq!(s.verdict, Verdict::Submit);
}

#[test]
fn momentum_in_a_range_passes_narrowly_and_a_sentiment_idea_is_held() {
    // Momentum in a sideways market, no stop, no parameters: novelty 1, fit 0.3 (whipsawed),
    // complexity 0.85, capital 0.7, risk 0.65 (no notes).
    // 0.25 + 0.075 + 0.1275 + 0.105 + 0.13 = 0.6875 ≥ 0.65: submitted, narrowly.
    let c = candidate(
        "Hourly BTC momentum",
        "Go long when the 24-hour return is strong.",
        Family::Momentum,
        Some("momentum"),
    );
    let s = run(&c, &NoveltyIndex::new(), Regime::Sideways);
    assert!(close(s.market_fit.value, 0.3));
    assert!(close(s.risk.value, 0.65), "{:?}", s.risk);
    assert!(close(s.composite, 0.6875), "{}", s.composite);
    assert_eq!(s.verdict, Verdict::Submit);
    // Sentiment without a template: fit 0.55, complexity 0.35 (needs text data strategies do
    // not get), capital 0.5, risk 0.45. 0.25 + 0.1375 + 0.0525 + 0.075 + 0.09 = 0.605: held.
    let c = candidate(
        "Reddit mood predicts BTC",
        "Bullish posts lead returns by a day.",
        Family::Sentiment,
        None,
    );
    let s = run(&c, &NoveltyIndex::new(), Regime::Sideways);
    assert!(close(s.complexity.value, 0.35), "{:?}", s.complexity);
    assert!(close(s.composite, 0.605), "{}", s.composite);
    assert_eq!(s.verdict, Verdict::Hold);
}

#[test]
fn an_off_topic_post_scores_low_however_novel() {
    // Family other: fit 0.2, complexity 0.2, capital 0.3, risk 0.3; novelty 1 cannot carry it:
    // 0.25 + 0.05 + 0.03 + 0.045 + 0.06 = 0.435.
    let c = candidate(
        "Ulberg on Jiri showing mercy",
        "a fight clip",
        Family::Other,
        None,
    );
    let s = run(&c, &NoveltyIndex::new(), Regime::Bear);
    assert!(close(s.composite, 0.435), "{}", s.composite);
    assert_eq!(s.verdict, Verdict::Hold);
}

#[test]
fn leverage_martingale_and_a_fantastic_sharpe_cut_the_risk_score() {
    // Mean reversion 0.5 − 0.15 leverage − 0.25 martingale − 0.15 (Sharpe 5 claimed) < 0 → 0.
    let mut c = candidate(
        "Grid bot",
        "Use 10x leverage and double down on every dip; Sharpe 5 in our backtest.",
        Family::MeanReversion,
        Some("mean_reversion"),
    );
    c.stated_sharpe = Some(5.0);
    let s = run(&c, &NoveltyIndex::new(), Regime::Sideways);
    assert!(close(s.risk.value, 0.0), "{:?}", s.risk);
    assert!(s.risk.reason.contains("overfitting") && s.risk.reason.contains("leverage"));
}

#[test]
fn a_near_duplicate_is_rejected_whatever_it_scores() {
    let mut index = NoveltyIndex::new();
    let earlier = Uuid::from_u128(1);
    let text = "Hourly BTC momentum Go long when the 24-hour return exceeds 2 %, with a stop-loss at 3 % and no leverage.";
    index.insert(earlier, 5, novelty::signature(text));
    let c = candidate(
        "Hourly BTC momentum",
        "Go long when the 24-hour return exceeds 2 %, with a stop-loss at 3 % and no leverage.",
        Family::Momentum,
        Some("momentum"),
    );
    let s = run(&c, &index, Regime::Bull);
    // Identical text: similarity 1, novelty 0, and a duplicate even though the rest is strong.
    assert!(close(s.novelty.value, 0.0), "{:?}", s.novelty);
    assert_eq!(
        s.verdict,
        Verdict::Duplicate {
            of: earlier,
            similarity: 1.0
        }
    );
    // An idea recorded later does not make an earlier one a duplicate.
    let mut first = c;
    first.order = 1;
    assert_eq!(run(&first, &index, Regime::Bull).verdict, Verdict::Submit);
    // A clone of a winner repeats its parent's text by design: novelty 0.6 for new parameters
    // of a proven idea, and no duplicate. Composite 0.25·0.6 + 0.25·0.9 + 0.15·0.85 + …
    // stays above 0.65 here, as its parent's did.
    let mut clone = c;
    clone.variant_of = Some(Uuid::from_u128(7));
    let s = run(&clone, &index, Regime::Bull);
    assert!(close(s.novelty.value, 0.6), "{:?}", s.novelty);
    assert!(s.novelty.reason.contains("variant of winning strategy"));
    assert_eq!(s.verdict, Verdict::Submit, "{s:?}");
    // In a range its composite falls below the threshold: judged once on its parent's
    // evidence, it is rejected with the reason, never held to be re-scored without end.
    let s = run(&clone, &index, Regime::Sideways);
    assert!(s.composite < ScorerConfig::default().min_score, "{s:?}");
    match &s.verdict {
        Verdict::Reject { reason } => assert!(
            reason.contains("a clone of winning strategy") && reason.contains("sideways market"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn weights_must_sum_to_one() {
    let with = |pairs: &'static [(&'static str, &'static str)]| {
        ScorerConfig::from_lookup(&move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    };
    assert_eq!(with(&[]).unwrap(), ScorerConfig::default());
    let e = with(&[("OPPORTUNITY_NOVELTY_WEIGHT", "0.30")]).unwrap_err();
    assert!(e.contains("sum to 1.050"), "{e}");
    let ok = with(&[
        ("OPPORTUNITY_NOVELTY_WEIGHT", "0.30"),
        ("OPPORTUNITY_RISK_WEIGHT", "0.15"),
    ])
    .unwrap();
    assert!(close(ok.weights.novelty, 0.3));
    assert!(with(&[("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION", "1.5")])
        .unwrap_err()
        .contains("OPPORTUNITY_MIN_SCORE_FOR_SUBMISSION"));
    assert!(with(&[("OPPORTUNITY_MARKET_FIT_WEIGHT", "lots")]).is_err());
}
