//! The strategy page's parts, from its trace: the generation (template or model, prompt and
//! reply), each validation layer with its findings, every stage run with its gate and a chart
//! of its equity against its baseline, the monitor's readings, and the code highlighted.
//!
//! Everything here that came from outside (the reply, the code, findings) is escaped before it
//! is marked safe for the template; the charts hold only numbers.

use serde::Serialize;
use serde_json::Value;

use super::super::report::escape;
use super::super::trace::Trace;

/// A line of a chart: its points, colour, whether dashed, and a class the tests look for.
pub(super) struct Line<'a> {
    pub points: Vec<(f64, f64)>,
    pub colour: &'a str,
    pub dashed: bool,
    pub class: &'a str,
    pub label: String,
}

/// An inline SVG of `lines` over one shared scale, with a dotted reference at `reference` (the
/// start's level) and a caption.
pub(super) fn svg(lines: &[Line<'_>], reference: Option<f64>, caption: &str) -> Option<String> {
    let all = || lines.iter().flat_map(|l| l.points.iter());
    if all().count() < 2 {
        return None;
    }
    let (w, h, pad) = (720.0, 220.0, 24.0);
    let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
        all().map(pick).fold(init, f)
    };
    let (x0, x1) = (
        fold(f64::min, f64::INFINITY, |p| p.0),
        fold(f64::max, f64::NEG_INFINITY, |p| p.0),
    );
    let (mut y0, mut y1) = (
        fold(f64::min, f64::INFINITY, |p| p.1),
        fold(f64::max, f64::NEG_INFINITY, |p| p.1),
    );
    if let Some(r) = reference {
        y0 = y0.min(r);
        y1 = y1.max(r);
    }
    let (xs, ys) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
    let x = |v: f64| pad + (w - 2.0 * pad) * (v - x0) / xs;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - y0) / ys;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\" stroke=\"#dde1e8\"/>"
    );
    if let Some(r) = reference {
        out.push_str(&format!(
            "<line x1=\"{pad}\" x2=\"{}\" y1=\"{yr:.1}\" y2=\"{yr:.1}\" stroke=\"#9ca3af\" stroke-dasharray=\"2 3\"/>",
            w - pad,
            yr = y(r)
        ));
    }
    for line in lines.iter().filter(|l| !l.points.is_empty()) {
        let d: Vec<String> = line
            .points
            .iter()
            .enumerate()
            .map(|(i, (px, py))| {
                format!(
                    "{}{:.1} {:.1}",
                    if i == 0 { "M" } else { "L" },
                    x(*px),
                    y(*py)
                )
            })
            .collect();
        out.push_str(&format!(
            "<path class=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}><title>{}</title></path>",
            line.class,
            d.join(" "),
            line.colour,
            if line.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            },
            escape(&line.label)
        ));
    }
    out.push_str(&format!(
        "<text x=\"{pad}\" y=\"14\" font-size=\"11\" fill=\"#374151\">{}</text></svg>",
        escape(caption)
    ));
    Some(out)
}

/// Each stay's equity by the monitor's readings (1 = the stay's start).
pub(super) fn monitor_chart(t: &Trace) -> Option<String> {
    let mut runs: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for s in t.steps.iter().filter(|s| s.kind == "monitor.observed") {
        let run = s.data["run_id"].as_str().unwrap_or("").to_string();
        let value = 1.0 + s.data["total_return"].as_f64().unwrap_or(0.0);
        match runs.iter_mut().find(|(r, _)| *r == run) {
            Some((_, points)) => points.push((points.len() as f64, value)),
            None => runs.push((run, vec![(0.0, 1.0), (1.0, value)])),
        }
    }
    let colours = ["#2456c9", "#c2410c", "#15803d", "#7e22ce", "#0e7490"];
    let lines: Vec<Line<'_>> = runs
        .into_iter()
        .enumerate()
        .map(|(n, (run, points))| Line {
            points,
            colour: colours[n % colours.len()],
            dashed: false,
            class: "equity",
            label: format!("stay {run}"),
        })
        .collect();
    let (lo, hi) = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    svg(
        &lines,
        Some(1.0),
        &format!(
            "{:.2} % … {:.2} % over the monitor's readings (dotted: the stay's start)",
            (lo.min(1.0) - 1.0) * 100.0,
            (hi.max(1.0) - 1.0) * 100.0
        ),
    )
}

/// A stage run on the strategy's page.
#[derive(Serialize)]
pub(super) struct Run {
    pub stage: String,
    pub run_id: String,
    pub started_seq: u64,
    pub started: String,
    pub baseline: String,
    /// The series it ran on, from its marks (each leg's, joined by ` + `; none recorded on the
    /// recorded timeline).
    pub series: String,
    pub bars: u64,
    pub fills: u64,
    pub gate: String,
    pub verdict: String,
    pub chart: Option<String>,
}

/// Every stage run of the trace, in order, with its marks drawn against the baseline.
pub(super) fn runs(t: &Trace) -> Vec<Run> {
    /// A run, its equity's points and its baseline's.
    type Drawn = (Run, Vec<(f64, f64)>, Vec<(f64, f64)>);
    let mut runs: Vec<Drawn> = Vec::new();
    for s in &t.steps {
        let Some(run_id) = s.data.get("run_id").and_then(Value::as_str) else {
            continue;
        };
        let text = |k: &str| s.data[k].as_str().unwrap_or("").to_string();
        match s.kind.as_str() {
            "stage.started" => runs.push((
                Run {
                    stage: text("stage").to_uppercase(),
                    run_id: run_id.to_string(),
                    started_seq: s.seq,
                    started: s.at.clone(),
                    baseline: text("baseline"),
                    series: String::new(),
                    bars: 0,
                    fills: 0,
                    gate: String::new(),
                    verdict: "running".into(),
                    chart: None,
                },
                Vec::new(),
                Vec::new(),
            )),
            "stage.curve" => {
                let Some((run, candidate, baseline)) =
                    runs.iter_mut().rev().find(|(r, _, _)| r.run_id == run_id)
                else {
                    continue;
                };
                // A run judged in one pass: its curve, recorded with its completion.
                if candidate.is_empty() {
                    for p in s.data["points"].as_array().into_iter().flatten() {
                        let bars = p["bars"].as_u64().unwrap_or(0);
                        if let (Some(e), Some(b)) =
                            (p["equity"].as_f64(), p["baseline_equity"].as_f64())
                        {
                            candidate.push((bars as f64, e));
                            baseline.push((bars as f64, b));
                        }
                    }
                    run.bars = run.bars.max(candidate.last().map_or(0, |p| p.0 as u64));
                    run.baseline = text("baseline");
                }
            }
            "stage.marked" | "stage.completed" => {
                let Some((run, candidate, baseline)) =
                    runs.iter_mut().rev().find(|(r, _, _)| r.run_id == run_id)
                else {
                    continue;
                };
                if s.kind == "stage.marked" {
                    let bars = s.data["bars"].as_u64().unwrap_or(0);
                    run.bars = bars;
                    run.series = text("series").replace('+', " + ");
                    run.fills += s.data["fills"].as_array().map_or(0, |f| f.len() as u64);
                    if let (Some(e), Some(b)) = (
                        s.data["equity"].as_f64(),
                        s.data["baseline_equity"].as_f64(),
                    ) {
                        candidate.push((bars as f64, e));
                        baseline.push((bars as f64, b));
                    }
                } else {
                    run.gate = text("gate");
                    run.verdict = if s.data["passed"].as_bool() == Some(true) {
                        "passed".into()
                    } else {
                        "not passed".into()
                    };
                }
            }
            _ => {}
        }
    }
    runs.into_iter()
        .map(|(mut run, candidate, baseline)| {
            let start = candidate.first().map(|p| p.1);
            let span = |l: &[(f64, f64)]| match (l.first(), l.last()) {
                (Some(a), Some(b)) => format!("{:.0} → {:.0}", a.1, b.1),
                _ => String::new(),
            };
            let caption = format!(
                "{} run: the strategy (solid) {} against {} (dashed) {}, equity by bar",
                run.stage,
                span(&candidate),
                run.baseline,
                span(&baseline)
            );
            run.chart = svg(
                &[
                    Line {
                        points: baseline,
                        colour: "#6b7280",
                        dashed: true,
                        class: "run-baseline",
                        label: format!("baseline {}", run.baseline),
                    },
                    Line {
                        points: candidate,
                        colour: "#2456c9",
                        dashed: false,
                        class: "run-equity",
                        label: "the strategy".into(),
                    },
                ],
                start,
                &caption,
            );
            run
        })
        .collect()
}

/// A validation layer on the page.
#[derive(Serialize)]
pub(super) struct Layer {
    pub seq: u64,
    pub layer: u64,
    pub name: String,
    pub passed: bool,
    pub findings: Vec<Finding>,
}

/// A finding of a layer.
#[derive(Serialize)]
pub(super) struct Finding {
    pub severity: &'static str,
    pub code: String,
    pub message: String,
    pub line: Option<u64>,
}

/// Each validation layer the trace records, with its errors and warnings.
pub(super) fn layers(t: &Trace) -> Vec<Layer> {
    t.steps
        .iter()
        .filter(|s| s.kind == "validation.layer_finished")
        .map(|s| {
            let findings = [("error", "errors"), ("warning", "warnings")]
                .into_iter()
                .flat_map(|(severity, key)| {
                    s.data[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |f| Finding {
                            severity,
                            code: f["code"].as_str().unwrap_or("").to_string(),
                            message: f["message"].as_str().unwrap_or("").to_string(),
                            line: f["line"].as_u64(),
                        })
                })
                .collect();
            Layer {
                seq: s.seq,
                layer: s.data["layer"].as_u64().unwrap_or(0),
                name: s.data["layer_name"].as_str().unwrap_or("").to_string(),
                passed: s.data["passed"].as_bool().unwrap_or(false),
                findings,
            }
        })
        .collect()
}

/// The generation: how, from what template or model, with which parameters, and a model's
/// prompt and reply.
#[derive(Serialize)]
pub(super) struct Generation {
    pub seq: u64,
    pub mode: String,
    pub template: String,
    pub parameters: String,
    pub model: String,
    pub prompt: String,
    pub reply: String,
    pub attempts: u64,
}

/// The generation step of the trace, if any.
pub(super) fn generation(t: &Trace) -> Option<Generation> {
    let s = t.steps.iter().find(|s| s.kind == "strategy.generated")?;
    let text = |k: &str| s.data[k].as_str().unwrap_or("").to_string();
    let parameters = s.data["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} {}", p["name"].as_str().unwrap_or("?"), p["value"]))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Generation {
        seq: s.seq,
        mode: text("mode"),
        template: text("template"),
        parameters,
        model: text("model"),
        prompt: text("prompt"),
        reply: text("reply"),
        attempts: t
            .steps
            .iter()
            .filter(|s| s.kind == "generation.attempted")
            .count() as u64,
    })
}

const KEYWORDS: [&str; 38] = [
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "Self", "self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

/// Rust source as HTML with comments, strings, numbers, keywords and attributes in spans
/// (classes `c`, `s`, `n`, `k`, `a`). Every character of the source is escaped.
pub(super) fn highlight(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len() * 2);
    let span = |out: &mut String, class: &str, text: &[char]| {
        out.push_str(&format!(
            "<span class=\"{class}\">{}</span>",
            escape(&text.iter().collect::<String>())
        ));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|c| *c == '\n').unwrap_or(rest.len());
            span(&mut out, "c", &rest[..end]);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            let end = (2..rest.len())
                .find(|k| rest[k - 1] == '*' && rest[*k] == '/')
                .map_or(rest.len(), |k| k + 1);
            span(&mut out, "c", &rest[..end]);
            i += end;
        } else if c == '"' {
            let mut end = 1;
            while end < rest.len() && rest[end] != '"' {
                end += if rest[end] == '\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            span(&mut out, "s", &rest[..end]);
            i += end;
        } else if c == '#' && rest.get(1).is_some_and(|n| *n == '[' || *n == '!') {
            let end = rest
                .iter()
                .position(|c| *c == ']')
                .map_or(rest.len(), |k| k + 1);
            span(&mut out, "a", &rest[..end]);
            i += end;
        } else if c.is_ascii_digit() {
            let end = rest
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
                .unwrap_or(rest.len());
            // `1..n`: the range's dots are not the number's.
            let end = (1..end)
                .find(|k| rest[*k] == '.' && rest.get(k + 1) == Some(&'.'))
                .unwrap_or(end);
            span(&mut out, "n", &rest[..end]);
            i += end;
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .iter()
                .position(|c| !(c.is_alphanumeric() || *c == '_'))
                .unwrap_or(rest.len());
            let word: String = rest[..end].iter().collect();
            if KEYWORDS.contains(&word.as_str()) {
                span(&mut out, "k", &rest[..end]);
            } else {
                out.push_str(&escape(&word));
            }
            i += end;
        } else {
            out.push_str(&escape(&c.to_string()));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_escapes_every_character_and_marks_the_tokens() {
        let code =
            "// a <b> comment\nfn main() { let s = \"</pre><script>\\\"x\"; 1..10; 2.5 }\n#[test]";
        let html = highlight(code);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("</pre>"), "{html}");
        assert!(html.contains("<span class=\"c\">// a &lt;b&gt; comment</span>"));
        assert!(html.contains("<span class=\"k\">fn</span>"));
        assert!(html.contains("<span class=\"k\">let</span>"));
        assert!(html
            .contains("<span class=\"s\">&quot;&lt;/pre&gt;&lt;script&gt;\\&quot;x&quot;</span>"));
        assert!(html.contains("<span class=\"n\">1</span>..<span class=\"n\">10</span>"));
        assert!(html.contains("<span class=\"n\">2.5</span>"));
        assert!(html.contains("<span class=\"a\">#[test]</span>"));
        // Unterminated pieces end with the source.
        assert!(highlight("\"open").contains("&quot;open"));
        assert!(highlight("/* open").contains("/* open"));
    }

    fn step(seq: u64, kind: &str, data: Value) -> super::super::super::trace::TraceStep {
        super::super::super::trace::TraceStep {
            seq,
            at: String::new(),
            phase: "warm".into(),
            kind: kind.into(),
            summary: String::new(),
            data,
        }
    }

    #[test]
    fn a_run_on_the_real_clock_is_drawn_from_its_marks_against_its_baseline() {
        let run = "01900000-0000-7000-8000-000000000001";
        let mark = |bars: u64, equity: f64, baseline: f64, fills: usize| {
            serde_json::json!({"run_id": run, "bars": bars, "equity": equity,
                "baseline_equity": baseline, "fills": vec![serde_json::json!({}); fills],
                "series": "binance/ETHUSDT/1m+binance/BTCUSDT/1m"})
        };
        let t = Trace {
            strategy_id: uuid::Uuid::nil(),
            name: "s".into(),
            opportunity_id: uuid::Uuid::nil(),
            parent_strategy_id: None,
            clones: vec![],
            now: String::new(),
            steps: vec![
                step(
                    1,
                    "stage.started",
                    serde_json::json!({"run_id": run, "stage": "warm", "baseline": "buy_and_hold"}),
                ),
                step(2, "stage.marked", mark(4, 100.0, 100.0, 1)),
                step(3, "stage.marked", mark(8, 104.0, 101.0, 2)),
                step(
                    4,
                    "stage.completed",
                    serde_json::json!({"run_id": run, "passed": true, "gate": "beats it"}),
                ),
            ],
        };
        let runs = runs(&t);
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!((r.stage.as_str(), r.bars, r.fills), ("WARM", 8, 3));
        // A pair's run names both its legs' series.
        assert_eq!(r.series, "binance/ETHUSDT/1m + binance/BTCUSDT/1m");
        assert_eq!(
            (r.verdict.as_str(), r.gate.as_str()),
            ("passed", "beats it")
        );
        let chart = r.chart.as_deref().unwrap();
        assert!(
            chart.contains("<path class=\"run-equity\" d=\"M24.0 196.0 L696.0 24.0\""),
            "{chart}"
        );
        assert!(
            chart.contains("<path class=\"run-baseline\" d=\"M24.0 196.0 L696.0 153.0\""),
            "{chart}"
        );
    }

    #[test]
    fn a_chart_needs_two_points_and_holds_only_numbers() {
        let one = Line {
            points: vec![(0.0, 1.0)],
            colour: "#000",
            dashed: false,
            class: "x",
            label: "<b>".into(),
        };
        assert!(svg(&[one], None, "c").is_none());
        let two = Line {
            points: vec![(0.0, 1.0), (1.0, 2.0)],
            colour: "#000",
            dashed: true,
            class: "x",
            label: "<b>".into(),
        };
        let drawn = svg(&[two], Some(1.0), "<i>").unwrap();
        assert!(drawn.contains("d=\"M24.0 196.0 L696.0 24.0\""), "{drawn}");
        assert!(drawn.contains("<title>&lt;b&gt;</title>"));
        assert!(drawn.contains("&lt;i&gt;"));
    }
}
