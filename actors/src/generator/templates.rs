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
    },
];

/// The template of that name.
pub fn find(name: &str) -> Option<&'static TemplateSpec> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The one template-fit decision, the scorer's (its complexity sub-score) and the generator's
/// (template mode) alike: an opportunity recorded without a family (`stratagem submit`) is read
/// by the rule extractor first, as the scorer reads it; else the template it names, else its
/// family's. Returns the extractor's reading when it made one (its parameters are the idea's).
pub fn fit(
    o: &stratagem_events::projection::OpportunityView,
) -> (
    Option<&'static TemplateSpec>,
    Option<crate::extract::Extracted>,
) {
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

/// The template that fits a strategy family, if any.
pub fn for_family(family: &str) -> Option<&'static TemplateSpec> {
    match family {
        "momentum" => find("momentum"),
        "mean_reversion" | "statistical_arbitrage" => find("mean_reversion"),
        "breakout" => find("donchian_breakout"),
        "trend" | "volatility" => find("vol_target_trend"),
        _ => None,
    }
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
