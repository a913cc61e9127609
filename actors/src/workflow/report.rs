//! The tear sheet of a backtest (`backtest --report FILE.html`): one self-contained HTML page —
//! equity against buy and hold, the underwater (drawdown) curve, monthly returns, the trade
//! list and every metric. Charts are inline SVG drawn here; nothing is fetched from anywhere.
//! A few lines of script only measure what the browser drew (for the browser test), the page
//! needs none.

use std::fmt::Write as _;
use std::path::Path;

use stratagem_events::projection::rfc3339_micros;

use super::{Result, WorkflowError};
use crate::stages::backtest::{Backtest, CostModel};
use crate::validator::sandbox::runtime::SandboxBar;

/// What the tear sheet shows.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The strategy (a file or an id), as given.
    pub strategy: &'a str,
    /// The bars' name, as given.
    pub data: &'a str,
    /// The bars run.
    pub bars: &'a [SandboxBar],
    /// The strategy's backtest.
    pub result: &'a Backtest,
    /// Buy and hold over the same bars.
    pub baseline: &'a Backtest,
    /// The calendar's name.
    pub calendar: &'a str,
    /// Bars a year of the annualised figures.
    pub bars_per_year: f64,
    /// Costs and sizing.
    pub costs: CostModel,
    /// Starting capital.
    pub capital: f64,
    /// Why the figures are not believed, if they are not.
    pub implausible: Option<&'a str>,
    /// A strategy over several series: its legs and its book's exposure.
    pub book: Option<BookSection<'a>>,
}

/// The legs of a multi-leg book on the tear sheet.
#[derive(Debug, Clone, Copy)]
pub struct BookSection<'a> {
    /// Each leg's series, as given.
    pub names: &'a [String],
    /// Each leg summed up.
    pub legs: &'a [crate::stages::legs::LegSummary],
    /// The book's net and gross exposure.
    pub exposure: &'a crate::stages::legs::BookExposure,
}

/// Most points a chart draws (longer series are thinned, keeping the last point).
const MAX_POINTS: usize = 1_500;
const WIDTH: f64 = 1_000.0;
const HEIGHT: f64 = 280.0;
const PAD: f64 = 48.0;

/// Writes the tear sheet.
///
/// # Errors
/// The file cannot be written.
pub fn write_report(r: &Report<'_>, path: &Path) -> Result<()> {
    std::fs::write(path, tear_sheet(r))
        .map_err(|e| WorkflowError::io(format!("cannot write {}", path.display()), e))
}

/// HTML escaping of text from outside (control characters dropped).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn date(t: i64) -> String {
    rfc3339_micros(t * 1_000_000)
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ")
}

fn number(v: f64, digits: usize) -> String {
    if v.is_infinite() {
        if v > 0.0 { "∞" } else { "−∞" }.to_string()
    } else if v.is_nan() {
        "n/a".to_string()
    } else {
        format!("{v:.digits$}")
    }
}

/// Every `step`-th point and the last.
fn thin(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    let mut out: Vec<(i64, f64)> = points.iter().step_by(step).copied().collect();
    if let (Some(last), Some(kept)) = (points.last(), out.last()) {
        if kept != last {
            out.push(*last);
        }
    }
    out
}

/// One series of a chart: its name (also its CSS class), colour and points.
type Series<'a> = (&'a str, &'a str, Vec<(i64, f64)>);

/// A line chart of one or more series over time, with a few grid lines. `fill_to_zero` shades
/// the area between the first series and zero.
fn chart(
    id: &str,
    title: &str,
    series: &[Series<'_>],
    format_y: impl Fn(f64) -> String,
    fill_to_zero: bool,
) -> String {
    let all: Vec<(i64, f64)> = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().copied())
        .filter(|(_, v)| v.is_finite())
        .collect();
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg id=\"{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(title)
    );
    let (Some(t0), Some(t1)) = (all.iter().map(|p| p.0).min(), all.iter().map(|p| p.0).max())
    else {
        svg.push_str("</svg></figure>");
        return svg;
    };
    let mut lo = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = all.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if fill_to_zero {
        hi = hi.max(0.0);
        lo = lo.min(0.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        hi += 1.0;
        lo -= 1.0;
    }
    let span_t = (t1 - t0).max(1) as f64;
    let x = |t: i64| PAD + (t - t0) as f64 / span_t * (WIDTH - 2.0 * PAD);
    let y = |v: f64| HEIGHT - PAD / 2.0 - (v - lo) / (hi - lo) * (HEIGHT - PAD);
    for k in 0..=4 {
        let v = lo + (hi - lo) * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{PAD}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text x=\"4\" y=\"{:.1}\">{}</text>",
            WIDTH - PAD,
            y(v),
            y(v),
            y(v) + 4.0,
            escape(&format_y(v))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        HEIGHT - 4.0,
        date(t0),
        WIDTH - PAD,
        HEIGHT - 4.0,
        date(t1)
    );
    for (i, (class, colour, points)) in series.iter().enumerate() {
        let points = thin(points);
        let mut d = String::new();
        for (j, (t, v)) in points.iter().filter(|p| p.1.is_finite()).enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                x(*t),
                y(*v)
            );
        }
        if fill_to_zero && i == 0 && !points.is_empty() {
            let (first, last) = (points[0].0, points[points.len() - 1].0);
            let _ = write!(
                svg,
                "<path class=\"area\" d=\"{d} L{:.1},{:.1} L{:.1},{:.1} Z\" fill=\"{colour}\" fill-opacity=\"0.25\" stroke=\"none\"/>",
                x(last),
                y(0.0),
                x(first),
                y(0.0)
            );
        }
        let _ = write!(
            svg,
            "<path class=\"series {class}\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>"
        );
    }
    svg.push_str("</svg><p class=\"legend\">");
    for (class, colour, _) in series {
        let _ = write!(
            svg,
            "<span style=\"color:{colour}\">■</span> {} ",
            escape(class)
        );
    }
    svg.push_str("</p></figure>");
    svg
}

/// Drawdown from the running peak, as a negative fraction, at each point.
fn underwater(equity: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut peak = f64::MIN;
    equity
        .iter()
        .map(|&(t, e)| {
            peak = peak.max(e);
            (t, if peak > 0.0 { e / peak - 1.0 } else { 0.0 })
        })
        .collect()
}

/// Returns by calendar month (UTC): the last equity of each month over the last of the month
/// before (the start for the first). Rows by year.
fn monthly(equity: &[(i64, f64)]) -> Vec<(i32, [Option<f64>; 12], Option<f64>)> {
    let month_of = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(|d| (d.year(), d.month() as usize))
            .unwrap_or((1970, 1))
    };
    let mut ends: Vec<((i32, usize), f64)> = Vec::new();
    for &(t, e) in equity {
        let m = month_of(t);
        match ends.last_mut() {
            Some((last, value)) if *last == m => *value = e,
            _ => ends.push((m, e)),
        }
    }
    let mut rows: Vec<(i32, [Option<f64>; 12], Option<f64>)> = Vec::new();
    let mut before = equity.first().map_or(0.0, |p| p.1);
    let mut year_start = before;
    for (i, ((year, month), end)) in ends.iter().enumerate() {
        if rows.last().is_none_or(|r| r.0 != *year) {
            rows.push((*year, [None; 12], None));
            year_start = before;
        }
        let r = if before > 0.0 {
            end / before - 1.0
        } else {
            0.0
        };
        if let Some(row) = rows.last_mut() {
            row.1[month - 1] = Some(r);
            let year_ends = ends.get(i + 1).is_none_or(|next| next.0 .0 != *year);
            if year_ends && year_start > 0.0 {
                row.2 = Some(end / year_start - 1.0);
            }
        }
        before = *end;
    }
    rows
}

fn percent(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

/// The page.
pub fn tear_sheet(r: &Report<'_>) -> String {
    let m = &r.result.metrics;
    let b = &r.baseline.metrics;
    let mut html = String::new();
    let title = format!("stratagem tear sheet — {}", r.strategy);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(html, "<h1>{}</h1>", escape(&title));
    let (first, last) = (
        r.bars
            .first()
            .map(|b| date(b.timestamp))
            .unwrap_or_default(),
        r.bars.last().map(|b| date(b.timestamp)).unwrap_or_default(),
    );
    let _ = write!(
        html,
        "<p class=\"meta\">{} bars of <b>{}</b> ({first} → {last}), calendar {} ({} bars a year), capital {:.2}, fees {} bps, slippage {} bps, sizing {:?}, leverage ≤ {}</p>",
        r.bars.len(),
        escape(r.data),
        escape(r.calendar),
        r.bars_per_year,
        r.capital,
        r.costs.fee_bps,
        r.costs.slippage_bps,
        r.costs.sizing,
        r.costs.max_leverage
    );
    if let Some(why) = r.implausible {
        let _ = write!(html, "<p class=\"alert\">{}</p>", escape(why));
    }
    if let Some(l) = &r.result.liquidated {
        let _ = write!(
            html,
            "<p class=\"alert\">LIQUIDATED: equity reached zero at {} (price {:.2}); the run stopped there.</p>",
            date(l.timestamp),
            l.price
        );
    }
    html.push_str(&chart(
        "equity",
        "Equity against buy and hold",
        &[
            ("strategy", "#1f5fbf", r.result.equity.clone()),
            ("buy and hold", "#999999", r.baseline.equity.clone()),
        ],
        |v| format!("{v:.0}"),
        false,
    ));
    html.push_str(&chart(
        "underwater",
        "Underwater: drawdown from the running peak",
        &[("drawdown", "#c0392b", underwater(&r.result.equity))],
        |v| format!("{:.1} %", v * 100.0),
        true,
    ));
    html.push_str("<h2>Metrics</h2><table id=\"metrics\"><thead><tr><th></th><th>strategy</th><th>buy and hold</th></tr></thead><tbody>");
    let rows: [(&str, String, String); 12] = [
        (
            "total return",
            percent(m.total_return),
            percent(b.total_return),
        ),
        ("Sharpe", number(m.sharpe, 3), number(b.sharpe, 3)),
        ("Sortino", number(m.sortino, 3), number(b.sortino, 3)),
        (
            "max drawdown",
            percent(m.max_drawdown),
            percent(b.max_drawdown),
        ),
        ("Calmar", number(m.calmar, 3), number(b.calmar, 3)),
        ("trades", m.trades.to_string(), b.trades.to_string()),
        ("win rate", percent(m.win_rate), percent(b.win_rate)),
        (
            "profit factor",
            number(m.profit_factor, 2),
            number(b.profit_factor, 2),
        ),
        ("exposure", percent(m.exposure), percent(b.exposure)),
        ("turnover", number(m.turnover, 1), number(b.turnover, 1)),
        (
            "probabilistic Sharpe",
            m.probabilistic_sharpe
                .map_or("n/a".into(), |v| number(v, 3)),
            b.probabilistic_sharpe
                .map_or("n/a".into(), |v| number(v, 3)),
        ),
        (
            "deflated Sharpe",
            m.deflated_sharpe.map_or("n/a".into(), |v| number(v, 3)),
            "".into(),
        ),
    ];
    for (name, s, bh) in rows {
        let _ = write!(html, "<tr><th>{name}</th><td>{s}</td><td>{bh}</td></tr>");
    }
    html.push_str("</tbody></table>");
    if let Some(book) = &r.book {
        legs_section(&mut html, book);
    }
    html.push_str("<h2>Monthly returns</h2><table id=\"monthly\"><thead><tr><th>year</th>");
    for name in [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "year",
    ] {
        let _ = write!(html, "<th>{name}</th>");
    }
    html.push_str("</tr></thead><tbody>");
    for (year, months, total) in monthly(&r.result.equity) {
        let _ = write!(html, "<tr><th>{year}</th>");
        for v in months.iter().chain(std::iter::once(&total)) {
            match v {
                Some(v) => {
                    let class = if *v < 0.0 { "neg" } else { "pos" };
                    let _ = write!(html, "<td class=\"{class}\">{:.2}</td>", v * 100.0);
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    let _ = write!(
        html,
        "<h2>Trades ({})</h2><table id=\"trades\"><thead><tr><th>entry</th><th>exit</th><th>side</th><th>quantity</th><th>entry price</th><th>exit price</th><th>profit</th></tr></thead><tbody>",
        r.result.trades.len()
    );
    let at = |i: usize| r.bars.get(i).map(|b| date(b.timestamp)).unwrap_or_default();
    for t in &r.result.trades {
        let class = if t.pnl < 0.0 { "neg" } else { "pos" };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.6}</td><td>{:.2}</td><td>{:.2}</td><td class=\"{class}\">{:.2}</td></tr>",
            at(t.entry_bar),
            at(t.exit_bar),
            if t.side > 0 { "long" } else { "short" },
            t.quantity,
            t.entry_price,
            t.exit_price,
            t.pnl
        );
    }
    html.push_str("</tbody></table>");
    html.push_str(MEASURE);
    html.push_str("</body></html>\n");
    html
}

/// The legs' table and the book's exposure (net and gross, over the portfolio's equity).
fn legs_section(html: &mut String, book: &BookSection<'_>) {
    html.push_str("<h2>Legs</h2><table id=\"legs\"><thead><tr><th>leg</th><th>series</th><th>fills</th><th>trades</th><th>fees</th><th>funding paid</th><th>final equity</th><th>return</th></tr></thead><tbody>");
    for (k, l) in book.legs.iter().enumerate() {
        let class = if l.total_return < 0.0 { "neg" } else { "pos" };
        let _ = write!(
            html,
            "<tr><td>{k}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td class=\"{class}\">{}</td></tr>",
            escape(book.names.get(k).map_or("", String::as_str)),
            l.fills,
            l.trades,
            l.fees,
            l.funding_paid,
            l.final_equity,
            percent(l.total_return)
        );
    }
    let e = book.exposure;
    let _ = write!(
        html,
        "</tbody></table><p id=\"exposure\">net exposure mean {}, largest {}; gross exposure mean {}, largest {} (of the portfolio's equity at each close)</p>",
        percent(e.net_mean),
        percent(e.net_max_abs),
        percent(e.gross_mean),
        percent(e.gross_max)
    );
    let series = |pick: fn(&(i64, f64, f64)) -> f64| -> Vec<(i64, f64)> {
        e.curve.iter().map(|c| (c.0, pick(c))).collect()
    };
    html.push_str(&chart(
        "exposure-chart",
        "Exposure: net and gross notional over equity",
        &[
            ("net", "#1f5fbf", series(|c| c.1)),
            ("gross", "#e67e22", series(|c| c.2)),
        ],
        |v| format!("{:.0} %", v * 100.0),
        false,
    ));
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}figure{margin:16px 0}figcaption{font-weight:600}svg{width:100%;max-width:1000px;background:#fafafa;border:1px solid #ddd}svg text{font-size:11px;fill:#555}line.grid{stroke:#e3e3e3}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}thead th{background:#f0f0f0}.neg{color:#c0392b}.pos{color:#1e7e34}.alert{background:#fdecea;border:1px solid #c0392b;padding:8px}.meta{color:#555}.legend{margin:4px 0}";

/// Records what the browser drew on the page's `<body>` (for tests and curious readers): the
/// drawn length of each equity series and the rows of the trade table.
const MEASURE: &str = "<script>addEventListener('load',function(){var d=document.body.dataset;var p=document.querySelectorAll('#equity path.series');var n=0;for(var i=0;i<p.length;i++){if(p[i].getTotalLength()>0){n++;}}d.equityPathsDrawn=n;d.tradeRows=document.querySelectorAll('#trades tbody tr').length;});</script>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_chain_from_the_start_and_years_compound() {
        // The start (2020-01-01), then 2020-01-31, 2020-02-29 and 2021-01-31 (UTC): equity
        // 100 → 110 → 121 → 133.1.
        let equity = [
            (1_577_836_800, 100.0),
            (1_580_428_800, 110.0),
            (1_582_934_400, 121.0),
            (1_612_051_200, 133.1),
        ];
        let rows = monthly(&equity);
        assert_eq!(rows.len(), 2);
        assert!((rows[0].1[0].unwrap() - 0.10).abs() < 1e-12);
        assert!((rows[0].1[1].unwrap() - 0.10).abs() < 1e-12);
        assert!((rows[0].2.unwrap() - 0.21).abs() < 1e-12);
        assert!((rows[1].1[0].unwrap() - 0.10).abs() < 1e-12);
    }

    #[test]
    fn text_from_outside_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'\u{1b}"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;"
        );
    }
}
