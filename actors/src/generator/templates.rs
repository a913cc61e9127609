//! The strategy templates: each a Rust source template in `templates/strategies/`, with named
//! parameters, their documented ranges and defaults. Rendered with minijinja in strict mode
//! (an undefined variable is an error, never an empty string).
//!
//! No free text from an opportunity (title, hypothesis) ever enters generated source: only its
//! UUID and numeric parameters, so a hostile title cannot inject code.

use serde::Serialize;

/// One parameter of a template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Name, as the template and opportunities call it.
    pub name: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// Default value.
    pub default: f64,
    /// Smallest value accepted.
    pub min: f64,
    /// Largest value accepted.
    pub max: f64,
    /// Whether it is a whole number (a count of bars).
    pub integer: bool,
}

/// One strategy template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TemplateSpec {
    /// Name (`momentum`, …).
    pub name: &'static str,
    /// Strategy family it implements.
    pub family: &'static str,
    /// One line.
    pub description: &'static str,
    /// The source template.
    #[serde(skip)]
    pub source: &'static str,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// The signal rules it expresses (`rate_of_change`, `ma_crossover`, …): an idea stating
    /// another rule is not tested by it.
    pub signals: &'static [&'static str],
    /// Legs it trades.
    pub legs: u32,
    /// Data kinds it reads.
    pub data: &'static [&'static str],
    /// Stated rules it implements (`stop_loss`, `holding_period`, `long_only`, …).
    pub rules: &'static [&'static str],
}

const fn bars(
    name: &'static str,
    doc: &'static str,
    default: f64,
    min: f64,
    max: f64,
) -> ParamSpec {
    ParamSpec {
        name,
        doc,
        default,
        min,
        max,
        integer: true,
    }
}

const fn real(
    name: &'static str,
    doc: &'static str,
    default: f64,
    min: f64,
    max: f64,
) -> ParamSpec {
    ParamSpec {
        name,
        doc,
        default,
        min,
        max,
        integer: false,
    }
}

/// The bracket every template takes: a stop-loss and a take-profit, each a distance from the
/// signal's close (0: none, the default).
const STOP_LOSS: ParamSpec = real(
    "stop_loss",
    "stop-loss distance from the signal's close, a fraction (0: none)",
    0.0,
    0.0,
    0.5,
);
const TAKE_PROFIT: ParamSpec = real(
    "take_profit",
    "take-profit distance from the signal's close, a fraction (0: none)",
    0.0,
    0.0,
    5.0,
);

/// The rules every template implements: its bracket, and positions sized within the capital
/// (never levered).
const BRACKET_RULES: &[&str] = &["stop_loss", "take_profit", "no_leverage"];
/// The bracket's rules, a holding period and long only.
const HOLD_RULES: &[&str] = &[
    "stop_loss",
    "take_profit",
    "no_leverage",
    "holding_period",
    "long_only",
];

const LONG_ONLY: ParamSpec = bars(
    "long_only",
    "1: never short (flat instead); 0: long and short",
    0.0,
    0.0,
    1.0,
);
const MAX_HOLD: ParamSpec = bars(
    "max_hold",
    "bars a position is held at most before it is closed (0: no limit)",
    0.0,
    0.0,
    10_000.0,
);

/// Every template, in a fixed order.
pub const TEMPLATES: &[TemplateSpec] = &[
    TemplateSpec {
        name: "momentum",
        family: "momentum",
        description: "rate of change over a look-back window beyond a threshold: follow it",
        source: include_str!("../../../templates/strategies/momentum.rs.j2"),
        params: &[
            bars(
                "lookback",
                "bars in the look-back window",
                24.0,
                2.0,
                2000.0,
            ),
            real(
                "threshold",
                "rate of change needed to trade (fraction)",
                0.01,
                0.0001,
                0.5,
            ),
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["rate_of_change"],
        legs: 1,
        data: &["ohlcv"],
        rules: BRACKET_RULES,
    },
    TemplateSpec {
        name: "mean_reversion",
        family: "mean_reversion",
        description:
            "z-score against a rolling mean beyond an entry level: fade it; flat near the mean",
        source: include_str!("../../../templates/strategies/mean_reversion.rs.j2"),
        params: &[
            bars(
                "lookback",
                "bars in the mean and deviation window",
                48.0,
                5.0,
                2000.0,
            ),
            real(
                "entry_z",
                "z-score beyond which to fade the move",
                1.5,
                0.5,
                5.0,
            ),
            real("exit_z", "z-score within which to close", 0.25, 0.0, 2.0),
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["zscore"],
        legs: 1,
        data: &["ohlcv"],
        rules: BRACKET_RULES,
    },
    TemplateSpec {
        name: "donchian_breakout",
        family: "breakout",
        description:
            "close beyond the highest high or lowest low of a channel: follow the breakout",
        source: include_str!("../../../templates/strategies/donchian_breakout.rs.j2"),
        params: &[
            bars("channel", "bars in the channel", 20.0, 2.0, 2000.0),
            real(
                "buffer",
                "share of the channel width the close must clear",
                0.0,
                0.0,
                0.5,
            ),
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["channel_breakout"],
        legs: 1,
        data: &["ohlcv"],
        rules: BRACKET_RULES,
    },
    TemplateSpec {
        name: "vol_target_trend",
        family: "trend",
        description:
            "fast/slow exponential average crossing, confidence scaled to a volatility target",
        source: include_str!("../../../templates/strategies/vol_target_trend.rs.j2"),
        params: &[
            bars("fast", "bars of the fast average", 12.0, 2.0, 500.0),
            bars("slow", "bars of the slow average", 48.0, 3.0, 2000.0),
            bars(
                "vol_window",
                "bars of the realised-volatility window",
                48.0,
                5.0,
                2000.0,
            ),
            real(
                "target_vol",
                "per-bar volatility the position is scaled to",
                0.01,
                0.0001,
                0.2,
            ),
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["vol_target"],
        legs: 1,
        data: &["ohlcv"],
        rules: BRACKET_RULES,
    },
    TemplateSpec {
        name: "ma_crossover",
        family: "trend",
        description: "fast/slow moving-average crossing (simple or exponential): long above, short or flat below",
        source: include_str!("../../../templates/strategies/ma_crossover.rs.j2"),
        params: &[
            bars("fast", "bars of the fast average", 20.0, 2.0, 5000.0),
            bars("slow", "bars of the slow average", 100.0, 3.0, 10_000.0),
            bars(
                "exponential",
                "1: exponential averages; 0: simple averages",
                0.0,
                0.0,
                1.0,
            ),
            LONG_ONLY,
            MAX_HOLD,
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["ma_crossover"],
        legs: 1,
        data: &["ohlcv"],
        rules: HOLD_RULES,
    },
    TemplateSpec {
        name: "rsi_reversal",
        family: "mean_reversion",
        description: "Wilder's RSI below an oversold level: buy; above an overbought level: sell; close back at the exit level",
        source: include_str!("../../../templates/strategies/rsi_reversal.rs.j2"),
        params: &[
            bars("period", "bars of the RSI", 14.0, 2.0, 500.0),
            real("oversold", "RSI below which to buy", 30.0, 1.0, 50.0),
            real(
                "overbought",
                "RSI above which to sell short",
                70.0,
                50.0,
                99.0,
            ),
            real(
                "exit_level",
                "RSI at which a position is closed on its way back",
                50.0,
                1.0,
                99.0,
            ),
            LONG_ONLY,
            MAX_HOLD,
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["rsi"],
        legs: 1,
        data: &["ohlcv"],
        rules: HOLD_RULES,
    },
    TemplateSpec {
        name: "pairs_spread",
        family: "statistical_arbitrage",
        description: "z-score of the spread of two series (hedge ratio by least squares over the window) beyond an entry level: trade it back to its mean",
        source: include_str!("../../../templates/strategies/pairs_spread.rs.j2"),
        params: &[
            bars(
                "lookback",
                "bars of the window of the hedge ratio and the spread's mean and deviation",
                48.0,
                10.0,
                5000.0,
            ),
            real(
                "entry_z",
                "spread z-score beyond which to trade it",
                2.0,
                0.5,
                5.0,
            ),
            real(
                "exit_z",
                "spread z-score within which to close both legs",
                0.5,
                0.0,
                2.0,
            ),
            MAX_HOLD,
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["spread_zscore"],
        legs: 2,
        data: &["ohlcv"],
        rules: &[
            "stop_loss",
            "take_profit",
            "no_leverage",
            "holding_period",
            "hedge",
        ],
    },
    TemplateSpec {
        name: "funding_carry",
        family: "carry",
        description: "a perpetual short against its spot long while its funding, annualised, is above an entry level: collect the funding",
        source: include_str!("../../../templates/strategies/funding_carry.rs.j2"),
        params: &[
            real(
                "entry_funding",
                "annualised funding at or above which to hold the carry (fraction a year)",
                0.1,
                0.0,
                5.0,
            ),
            real(
                "exit_funding",
                "annualised funding below which to close both legs (fraction a year)",
                0.0,
                -5.0,
                5.0,
            ),
            real(
                "intervals_per_year",
                "funding intervals a year (1095: every 8 hours)",
                1095.0,
                1.0,
                35_040.0,
            ),
            MAX_HOLD,
            STOP_LOSS,
            TAKE_PROFIT,
        ],
        signals: &["funding_carry"],
        legs: 2,
        data: &["ohlcv", "funding_rate"],
        rules: &[
            "stop_loss",
            "take_profit",
            "no_leverage",
            "holding_period",
            "hedge",
        ],
    },
];

/// The template of that name.
pub fn find(name: &str) -> Option<&'static TemplateSpec> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The template the scorer and the generator take for an opportunity: its recorded reading's
/// decision when it was read (`opportunity.read`); else (a log written before readings were
/// recorded) a submission without a family is read by the rule extractor now, and any other
/// takes the template it names, else its family's. Returns the extractor's reading when it made
/// one (its parameters are the idea's).
pub fn fit(
    o: &stratagem_events::projection::OpportunityView,
) -> (
    Option<&'static TemplateSpec>,
    Option<crate::extract::Extracted>,
) {
    if let Some(fit) = &o.fit {
        return (fit.template.as_deref().and_then(find), None);
    }
    if o.family.is_none() {
        let x = crate::extract::extract_text(&o.title, &o.hypothesis);
        let spec = x.template.as_deref().and_then(find);
        return (spec, Some(x));
    }
    let spec = match o.template.as_deref() {
        Some(name) => find(name),
        None => o.family.as_deref().and_then(for_family),
    };
    (spec, None)
}

/// The template of a strategy family, when an idea states no signal rule: the first template
/// of that family (a volatility idea: the volatility-targeted trend).
pub fn for_family(family: &str) -> Option<&'static TemplateSpec> {
    match family {
        "volatility" => find("vol_target_trend"),
        f => TEMPLATES.iter().find(|t| t.family == f),
    }
}

/// An idea's stated rules that change its trades: a template that does not implement one of
/// them tests another idea. (The others — leverage, rebalancing — are noted, not required.)
const HARD_RULES: &[&str] = &[
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "holding_period",
    "long_only",
    "volatility_filter",
    "hedge",
];

/// A signal rule in words.
pub fn signal_words(signal: &str) -> &str {
    match signal {
        "rate_of_change" => "rate-of-change",
        "zscore" => "z-score",
        "spread_zscore" => "spread z-score",
        "channel_breakout" => "channel-breakout",
        "vol_target" => "volatility-targeted trend",
        "ma_crossover" => "moving-average crossover",
        "rsi" => "RSI",
        "reversal" => "short-term reversal",
        "funding_carry" => "funding-rate carry",
        other => other,
    }
}

/// The fidelity notes of a strategy made for an idea with `needs`: against the template it
/// was generated from (`template`, which may differ from the fit's when a person chose it),
/// else the fit's notes; a model's code is not checked rule by rule, and says so.
pub fn fidelity_of_strategy(
    needs: &stratagem_events::IdeaNeeds,
    fit: Option<&stratagem_events::IdeaFit>,
    template: Option<&str>,
    by_model: bool,
) -> Vec<stratagem_events::FidelityNote> {
    let mut notes = match template.and_then(find) {
        Some(t) => fidelity(t, needs),
        None => fit.map(|f| f.fidelity.clone()).unwrap_or_default(),
    };
    if by_model {
        notes.push(stratagem_events::FidelityNote {
            rule: "model".into(),
            implemented: false,
            note: "a model wrote the code: whether it implements each stated rule is not checked rule by rule (read the code)".into(),
        });
    }
    notes
}

/// An idea's needs in one line: `2 legs (ETH, BTC); ohlcv data; spread z-score signal; rules:
/// a stop-loss of 2%; parameters: entry_z 2`.
pub fn needs_words(n: &stratagem_events::IdeaNeeds) -> String {
    let mut parts = vec![if n.legs.is_empty() {
        format!("{} leg(s)", n.leg_count)
    } else {
        format!("{} leg(s) ({})", n.leg_count, n.legs.join(", "))
    }];
    if !n.data.is_empty() {
        parts.push(format!("{} data", n.data.join(", ")));
    }
    if let Some(tf) = &n.timeframe {
        parts.push(format!("{tf} bars"));
    }
    parts.push(match &n.signal {
        Some(s) => format!("{} signal", signal_words(s)),
        None => format!("no signal rule stated ({})", n.family),
    });
    if !n.orders.is_empty() {
        parts.push(format!("{} orders", n.orders.join(", ")));
    }
    if !n.rules.is_empty() {
        let rules: Vec<String> = n.rules.iter().map(rule_words).collect();
        parts.push(format!("rules: {}", rules.join(", ")));
    }
    if !n.parameters.is_empty() {
        let ps: Vec<String> = n
            .parameters
            .iter()
            .map(|p| format!("{} {}", p.name, p.value))
            .collect();
        parts.push(format!("parameters: {}", ps.join(", ")));
    }
    parts.join("; ")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A stated rule in words.
fn rule_words(rule: &stratagem_events::StatedRule) -> String {
    let what = match rule.rule.as_str() {
        "stop_loss" => "a stop-loss",
        "take_profit" => "a take-profit",
        "trailing_stop" => "a trailing stop",
        "holding_period" => "a holding period",
        "long_only" => "long only",
        "volatility_filter" => "a volatility filter",
        "hedge" => "a hedge",
        "rebalance" => "a rebalancing schedule",
        "leverage" => "leverage",
        "no_leverage" => "no leverage",
        other => other,
    };
    match (rule.rule.as_str(), rule.value) {
        ("holding_period", Some(v)) => format!("{what} of {v} bars"),
        ("leverage", Some(v)) => format!("{v}x {what}"),
        (_, Some(v)) => format!("{what} of {}%", round6(v * 100.0)),
        (_, None) => what.to_string(),
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// What `t` lacks to test `needs` as stated, in words; empty when it covers them.
pub fn lacks(t: &TemplateSpec, needs: &stratagem_events::IdeaNeeds) -> Vec<String> {
    let mut out = Vec::new();
    if needs.leg_count > t.legs || (t.legs > 1 && needs.leg_count != t.legs) {
        out.push(if needs.legs.is_empty() {
            format!("{} legs", needs.leg_count)
        } else {
            format!(
                "{} legs ({})",
                needs.leg_count.max(needs.legs.len() as u32),
                needs.legs.join(", ")
            )
        });
    }
    for d in &needs.data {
        if !t.data.contains(&d.as_str()) {
            out.push(format!("{} data", d.replace('_', " ")));
        }
    }
    for o in &needs.orders {
        out.push(format!("{o} orders"));
    }
    match &needs.signal {
        Some(s) if !t.signals.contains(&s.as_str()) => {
            out.push(format!("a {} signal", signal_words(s)))
        }
        None if t.family != needs.family
            && for_family(&needs.family).map(|f| f.name) != Some(t.name) =>
        {
            out.push(format!(
                "a rule of the {} family",
                needs.family.replace('_', " ")
            ));
        }
        _ => {}
    }
    for r in &needs.rules {
        if HARD_RULES.contains(&r.rule.as_str()) && !t.rules.contains(&r.rule.as_str()) {
            out.push(rule_words(r));
        }
    }
    out
}

/// Whether the SDK can express what an idea needs (a model could then write it): bars of up to
/// four series, any order type the SDK has.
pub fn sdk_expresses(needs: &stratagem_events::IdeaNeeds) -> bool {
    needs.leg_count as usize <= crate::validator::sandbox::MAX_LEGS
        && needs.data.iter().all(|d| d == "ohlcv")
        && needs.family != "other"
}

/// The one template-fit decision, the scorer's and the generator's: the template `named` by
/// the idea (its file's `template`), else the first template that covers every need — its
/// legs, data kinds, order types, signal rule (or family, when it states none) and the rules
/// that change its trades. When none covers them the idea goes to a model (`model`: one is
/// configured, and the SDK can express it), else it is held with the reason.
pub fn decide(
    needs: &stratagem_events::IdeaNeeds,
    named: Option<&str>,
    model: bool,
) -> stratagem_events::IdeaFit {
    use stratagem_events::IdeaFit;
    if let Some(t) = named.and_then(find) {
        return IdeaFit {
            template: Some(t.name.to_string()),
            route: "template".into(),
            reason: format!("the {} template, named in the idea", t.name),
            fidelity: fidelity(t, needs),
        };
    }
    if needs.family == "other" {
        return IdeaFit {
            template: None,
            route: "held".into(),
            reason: "no template fits: no trading rule recognised".into(),
            fidelity: Vec::new(),
        };
    }
    let covering = TEMPLATES.iter().filter(|t| lacks(t, needs).is_empty());
    let chosen = covering
        .clone()
        .find(|t| {
            needs
                .signal
                .as_deref()
                .is_some_and(|s| t.signals.contains(&s))
        })
        .or_else(|| covering.clone().next());
    if let Some(t) = chosen {
        let what = match &needs.signal {
            Some(s) => format!("its {} signal", signal_words(s)),
            None => format!("its family ({}; no signal rule stated)", needs.family),
        };
        return IdeaFit {
            template: Some(t.name.to_string()),
            route: "template".into(),
            reason: format!(
                "the {} template covers {what} and every stated rule",
                t.name
            ),
            fidelity: fidelity(t, needs),
        };
    }
    // The needs no template covers: what the templates of its family (else all) lack, the
    // fewest first.
    let of_family: Vec<&TemplateSpec> = TEMPLATES
        .iter()
        .filter(|t| t.family == needs.family)
        .collect();
    let pool: Vec<&TemplateSpec> = if of_family.is_empty() {
        TEMPLATES.iter().collect()
    } else {
        of_family
    };
    let (closest, missing) = pool
        .iter()
        .map(|t| (t.name, lacks(t, needs)))
        .min_by_key(|(_, m)| m.len())
        .unwrap_or(("none", Vec::new()));
    let mut reason = format!("no template fits: needs {}", and_list(&missing));
    if pool.len() < TEMPLATES.len() {
        reason.push_str(&format!(" (the {} template lacks it)", closest));
    }
    let route = if model && sdk_expresses(needs) {
        reason.push_str("; a model writes it");
        "model"
    } else if sdk_expresses(needs) {
        reason.push_str("; held until a model is configured");
        "held"
    } else {
        reason.push_str("; held: a strategy reads bars of up to 4 series, no funding, order book, text or on-chain data yet");
        "held"
    };
    IdeaFit {
        template: None,
        route: route.into(),
        reason,
        fidelity: Vec::new(),
    }
}

/// Which of an idea's stated needs and rules the strategy of template `t` implements, with the
/// parameters it carries (clamped into the template's ranges).
pub fn fidelity(
    t: &TemplateSpec,
    needs: &stratagem_events::IdeaNeeds,
) -> Vec<stratagem_events::FidelityNote> {
    use stratagem_events::FidelityNote;
    let mut out = Vec::new();
    let given: Vec<(String, f64)> = needs
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.value))
        .collect();
    let chosen = choose_params(t, &given);
    match &needs.signal {
        Some(s) => out.push(FidelityNote {
            rule: "signal".into(),
            implemented: t.signals.contains(&s.as_str()),
            note: if t.signals.contains(&s.as_str()) {
                format!("{} signal: {}", signal_words(s), t.description)
            } else {
                format!(
                    "{} signal: {} trades another rule: {}",
                    signal_words(s),
                    t.name,
                    t.description
                )
            },
        }),
        None => out.push(FidelityNote {
            rule: "signal".into(),
            implemented: true,
            note: format!(
                "no signal rule stated; the {} rule of {}: {}",
                needs.family, t.name, t.description
            ),
        }),
    }
    if let Some(tf @ ("daily" | "weekly" | "monthly")) = needs.timeframe.as_deref() {
        out.push(FidelityNote {
            rule: "timeframe".into(),
            implemented: true,
            note: format!("a {tf} rule run on hourly bars: its spans in hours (a day is 24 bars)"),
        });
    }
    if needs.leg_count > t.legs {
        out.push(FidelityNote {
            rule: "legs".into(),
            implemented: false,
            note: format!(
                "the idea trades {} legs, {} trades {}",
                needs.leg_count, t.name, t.legs
            ),
        });
    }
    for d in needs.data.iter().filter(|d| !t.data.contains(&d.as_str())) {
        out.push(FidelityNote {
            rule: "data".into(),
            implemented: false,
            note: format!("{} data: not read by {}", d.replace('_', " "), t.name),
        });
    }
    for o in &needs.orders {
        out.push(FidelityNote {
            rule: "orders".into(),
            implemented: false,
            note: format!("{o} orders: {} places market orders", t.name),
        });
    }
    for r in &needs.rules {
        let implemented = t.rules.contains(&r.rule.as_str());
        let param = match r.rule.as_str() {
            "holding_period" => Some("max_hold"),
            "stop_loss" | "take_profit" | "long_only" => Some(r.rule.as_str()),
            _ => None,
        };
        let carried = param.and_then(|n| chosen.iter().find(|c| c.name == n));
        let note = match (implemented, r.rule.as_str(), carried) {
            (true, "no_leverage", _) => {
                "no leverage: positions are sized within the capital".to_string()
            }
            (true, _, Some(c)) if c.origin == "opportunity (clamped)" => format!(
                "{}: as {} {} (clamped into the template's range)",
                rule_words(r),
                c.name,
                c.value
            ),
            (true, _, Some(c)) => format!("{}: as {} {}", rule_words(r), c.name, c.value),
            (true, _, None) => format!("{}: implemented", rule_words(r)),
            (false, "leverage", _) => format!(
                "{}: positions are sized within the capital, unlevered",
                rule_words(r)
            ),
            (false, _, _) => format!("{}: the {} template has none", rule_words(r), t.name),
        };
        out.push(FidelityNote {
            rule: r.rule.clone(),
            implemented,
            note,
        });
    }
    for c in chosen
        .iter()
        .filter(|c| c.origin == "opportunity (clamped)")
    {
        let stated = given
            .iter()
            .find(|(n, _)| n == c.name)
            .map_or(c.value, |g| g.1);
        if !out
            .iter()
            .any(|n| n.note.contains(&format!("as {} ", c.name)))
        {
            out.push(FidelityNote {
                rule: c.name.to_string(),
                implemented: false,
                note: format!(
                    "{} {stated} is outside {}'s range: {} used",
                    c.name, t.name, c.value
                ),
            });
        }
    }
    out
}

/// A parameter value as it was chosen, for the audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChosenParam {
    /// Name.
    pub name: &'static str,
    /// Value used.
    pub value: f64,
    /// Where it came from: `default`, `opportunity`, or `opportunity (clamped)`.
    pub origin: &'static str,
}

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// Parameters that contradict each other.
    #[error("template {template}: {message}")]
    Parameters {
        /// Template.
        template: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The template engine failed (a bug in a template: caught by the template tests).
    #[error("template {template} does not render: {message}")]
    Engine {
        /// Template.
        template: &'static str,
        /// The engine's message.
        message: String,
    },
}

/// Chooses each parameter: the opportunity's value when it gives one (clamped into the
/// documented range; whole numbers rounded), else the default.
pub fn choose_params(spec: &TemplateSpec, given: &[(String, f64)]) -> Vec<ChosenParam> {
    spec.params
        .iter()
        .map(
            |p| match given.iter().find(|(n, v)| n == p.name && v.is_finite()) {
                Some((_, v)) => {
                    let mut value = v.clamp(p.min, p.max);
                    if p.integer {
                        value = value.round();
                    }
                    let origin = if (value - v).abs() > f64::EPSILON {
                        "opportunity (clamped)"
                    } else {
                        "opportunity"
                    };
                    ChosenParam {
                        name: p.name,
                        value,
                        origin,
                    }
                }
                None => ChosenParam {
                    name: p.name,
                    value: p.default,
                    origin: "default",
                },
            },
        )
        .collect()
}

/// A Rust literal for a parameter value: `24` for counts, `0.01` (always with a point) for reals.
fn literal(spec: &ParamSpec, value: f64) -> String {
    if spec.integer {
        format!("{}", value as u64)
    } else {
        let text = format!("{value:?}");
        if text.contains('.') || text.contains('e') {
            text
        } else {
            format!("{text}.0")
        }
    }
}

/// The strategy type a template's code declares, e.g. `MomentumStrategy`.
pub fn struct_name(spec: &TemplateSpec) -> String {
    let camel: String = spec
        .name
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{camel}Strategy")
}

/// Renders a template with chosen parameters for an opportunity.
///
/// # Errors
/// [`RenderError::Parameters`] when the parameters contradict each other,
/// [`RenderError::Engine`] on a template bug.
pub fn render(
    spec: &TemplateSpec,
    params: &[ChosenParam],
    opportunity_id: uuid::Uuid,
) -> Result<String, RenderError> {
    let value = |name: &str| params.iter().find(|p| p.name == name).map(|p| p.value);
    if let (Some(fast), Some(slow)) = (value("fast"), value("slow")) {
        if fast >= slow {
            return Err(RenderError::Parameters {
                template: spec.name,
                message: format!("fast ({fast}) must be shorter than slow ({slow})"),
            });
        }
    }
    let engine_err = |e: minijinja::Error| RenderError::Engine {
        template: spec.name,
        message: e.to_string(),
    };
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_template(spec.name, spec.source)
        .map_err(engine_err)?;
    let mut context = std::collections::BTreeMap::new();
    context.insert("struct_name".to_string(), struct_name(spec));
    context.insert("opportunity_id".to_string(), opportunity_id.to_string());
    for p in spec.params {
        let v = value(p.name).unwrap_or(p.default);
        context.insert(p.name.to_string(), literal(p, v));
    }
    // The bracket's code is in the strategy only when it has one (the default has none).
    let bracket = ["stop_loss", "take_profit"]
        .iter()
        .any(|n| value(n).is_some_and(|v| v > 0.0));
    context.insert(
        "bracket".to_string(),
        if bracket { "yes" } else { "" }.to_string(),
    );
    env.get_template(spec.name)
        .and_then(|t| t.render(&context))
        .map_err(engine_err)
}
