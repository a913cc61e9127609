//! The Prometheus text of the read models, which the daemon serves on `/metrics` after each
//! cycle.

use std::fmt::Write as _;

use stratagem_events::projection::{OpportunityStatus, StrategyStatus};
use stratagem_events::{Projections, Stage};

fn esc(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

/// The Prometheus exposition of the read models after a cycle, with the seed's success
/// criteria over the `kpi_window_days` up to now.
pub fn render(
    p: &Projections,
    queue: &[(Stage, usize)],
    waiting_review: usize,
    kpi_window_days: u32,
) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(
            out,
            "# HELP stratagem_{name} {help}\n# TYPE stratagem_{name} {kind}"
        );
        for (labels, v) in rows {
            let _ = writeln!(out, "stratagem_{name}{labels} {v}");
        }
    };
    let a = &p.autonomy;
    metric(
        "events_appended_total",
        "Events on the log.",
        "counter",
        vec![(String::new(), p.last_seq as f64)],
    );
    metric(
        "opportunities",
        "Opportunities by status.",
        "gauge",
        [
            ("discovered", OpportunityStatus::Discovered),
            ("held", OpportunityStatus::Held),
            ("submitted", OpportunityStatus::Submitted),
            ("duplicate", OpportunityStatus::Duplicate),
            ("generated", OpportunityStatus::Generated),
        ]
        .iter()
        .map(|(n, st)| {
            (
                format!("{{status=\"{n}\"}}"),
                p.opportunities.values().filter(|o| o.status == *st).count() as f64,
            )
        })
        .collect(),
    );
    metric(
        "rollbacks_total",
        "Rollbacks the monitor decided.",
        "counter",
        vec![(
            String::new(),
            p.strategies.values().map(|s| f64::from(s.rollbacks)).sum(),
        )],
    );
    let watched: Vec<_> = p
        .strategies
        .values()
        .filter_map(|s| Some((s.id, s.monitor.as_ref()?)))
        .filter(|(id, _)| p.strategies[id].status == StrategyStatus::Staged)
        .collect();
    metric(
        "monitor_rolling_sharpe",
        "Rolling Sharpe of each watched strategy at its latest reading.",
        "gauge",
        watched
            .iter()
            .map(|(id, m)| (format!("{{strategy=\"{id}\"}}"), m.rolling_sharpe))
            .collect(),
    );
    metric(
        "monitor_drawdown",
        "Drawdown from the stay's peak of each watched strategy at its latest reading.",
        "gauge",
        watched
            .iter()
            .map(|(id, m)| (format!("{{strategy=\"{id}\"}}"), m.drawdown))
            .collect(),
    );
    metric(
        "strategies",
        "Strategies by status.",
        "gauge",
        [
            ("generated", StrategyStatus::Generated),
            ("validating", StrategyStatus::Validating),
            ("approved", StrategyStatus::Approved),
            ("rejected", StrategyStatus::Rejected),
            ("manual_review", StrategyStatus::ManualReview),
            ("staged", StrategyStatus::Staged),
            ("retired", StrategyStatus::Retired),
        ]
        .iter()
        .map(|(n, st)| {
            (
                format!("{{status=\"{n}\"}}"),
                p.strategies.values().filter(|s| s.status == *st).count() as f64,
            )
        })
        .collect(),
    );
    metric(
        "stage_strategies",
        "Strategies in each stage (the seed's autonomy_state).",
        "gauge",
        [
            ("cold", a.stages.cold),
            ("warm", a.stages.warm),
            ("limited", a.stages.limited),
            ("full", a.stages.full),
        ]
        .iter()
        .map(|(n, c)| (format!("{{stage=\"{n}\"}}"), *c as f64))
        .collect(),
    );
    metric(
        "stage_outcomes_total",
        "Strategies that reached each stage, and rejections.",
        "counter",
        Stage::ALL
            .iter()
            .map(|st| {
                (
                    format!("{{stage=\"{}\",outcome=\"reached\"}}", st.as_str()),
                    p.strategies
                        .values()
                        .filter(|s| s.highest_stage >= Some(*st))
                        .count() as f64,
                )
            })
            .chain(std::iter::once((
                "{outcome=\"rejected\"}".to_string(),
                a.strategies_rejected as f64,
            )))
            .collect(),
    );
    metric(
        "queue_depth",
        "Work waiting: per stage runner, for generation, for a person.",
        "gauge",
        queue
            .iter()
            .map(|(st, n)| (format!("{{queue=\"stage_{}\"}}", st.as_str()), *n as f64))
            .chain(std::iter::once((
                "{queue=\"generation\"}".to_string(),
                p.opportunities
                    .values()
                    .filter(|o| o.status == OpportunityStatus::Submitted && o.strategies.is_empty())
                    .count() as f64,
            )))
            .chain(std::iter::once((
                "{queue=\"review\"}".to_string(),
                waiting_review as f64,
            )))
            .collect(),
    );
    let src =
        |f: &dyn Fn(&stratagem_events::projection::SourceHealth) -> f64| -> Vec<(String, f64)> {
            p.sources
                .iter()
                .map(|(n, h)| (format!("{{source=\"{}\"}}", esc(n)), f(h)))
                .collect()
        };
    metric(
        "source_checks_total",
        "Checks of each source.",
        "counter",
        src(&|h| h.checks as f64),
    );
    metric(
        "source_failures_total",
        "Failed checks of each source.",
        "counter",
        src(&|h| h.failures as f64),
    );
    metric(
        "source_consecutive_failures",
        "Failures since the last success.",
        "gauge",
        src(&|h| h.consecutive_failures as f64),
    );
    metric(
        "source_up",
        "1 when the last check of the source succeeded.",
        "gauge",
        src(&|h| f64::from(u8::from(h.last_outcome != "failed"))),
    );
    metric(
        "source_items_total",
        "Items fetched from each source.",
        "counter",
        src(&|h| h.fetched as f64),
    );
    let k = p
        .kpis
        .report_to_newest(kpi_window_days, super::query::now_micros());
    let l = &k.discovery_to_decision;
    let criteria = [
        ("discoveries_per_day", &k.discoveries_per_day, 1.0),
        ("validation_pass_rate", &k.validation_pass_rate, 0.5),
        ("cold_to_warm", &k.cold_to_warm, 0.2),
        ("warm_to_full", &k.warm_to_full, 0.1),
        ("security_scanned", &k.security_scanned, 1.0),
        ("audit_trail", &k.audit_trail, 1.0),
        ("human_approval_optional", &k.human_approval_optional, 0.0),
    ];
    let label = |name: &str| format!("{{kpi=\"{name}\",window_days=\"{}\"}}", k.window_days);
    metric(
        "kpi_value",
        "Each of the seed's success criteria over the rolling window (a share 0-1, or discoveries a day); absent without data.",
        "gauge",
        criteria
            .iter()
            .filter_map(|(name, kpi, _)| Some((label(name), kpi.value?)))
            .collect(),
    );
    metric(
        "kpi_target",
        "The seed's target of each criterion (human_approval_optional: above it).",
        "gauge",
        criteria
            .iter()
            .map(|(name, _, target)| (label(name), *target))
            .chain(std::iter::once((
                label("discovery_to_decision_p95_seconds"),
                stratagem_events::projection::kpi::DECISION_LATENCY_TARGET_SECONDS,
            )))
            .collect(),
    );
    metric(
        "kpi_met",
        "1 when the criterion is met over the window, 0 when missed; absent without data.",
        "gauge",
        criteria
            .iter()
            .map(|(name, kpi, _)| (label(name), kpi.verdict))
            .chain(std::iter::once((label("discovery_to_decision"), l.verdict)))
            .filter_map(|(labels, verdict)| {
                use stratagem_events::projection::kpi::KpiVerdict;
                match verdict {
                    KpiVerdict::Met => Some((labels, 1.0)),
                    KpiVerdict::Missed => Some((labels, 0.0)),
                    KpiVerdict::NoData => None,
                }
            })
            .collect(),
    );
    metric(
        "kpi_discovery_to_decision_seconds",
        "Time from an opportunity's discovery to its strategy's validation decision, over the window.",
        "gauge",
        [("0.5", l.p50_seconds), ("0.95", l.p95_seconds)]
            .into_iter()
            .filter_map(|(q, v)| {
                Some((
                    format!("{{quantile=\"{q}\",window_days=\"{}\"}}", k.window_days),
                    v?,
                ))
            })
            .collect(),
    );
    out
}
