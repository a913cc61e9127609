//! Market data: the real BTC bars embedded in the binary, and a strict CSV reader.
//!
//! The embedded default is `data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv` (Coinbase
//! BTC/USD, hourly, 20,111 bars; origin and licence in `data/README.md`).

use crate::validator::sandbox::runtime::SandboxBar;

/// The embedded hourly Coinbase BTC/USD bars, as CSV.
pub const COINBASE_BTCUSD_1H: &str =
    include_str!("../../data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv");

/// The embedded 1-minute FTX BTC-PERP bars (45,031, verbatim), as CSV. Their undocumented
/// timestamp is taken as the bar's close.
pub const FTX_BTCPERP_1M: &str =
    include_str!("../../data/ftx_btc-perp_1m_2021-12-31_2022-02-01.csv");

/// A bad row in a bar file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {reason}")]
pub struct BarError {
    /// 1-based row number in the file (the header is row 1).
    pub row: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Reads `timestamp,open,high,low,close,volume[,…]` rows, oldest first. Timestamps are
/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC), or unix seconds or milliseconds. Refuses,
/// naming the row: out-of-order or duplicate timestamps, non-numbers, NaN and non-positive
/// prices, and any gap (a 24/7 market has none it can explain).
///
/// # Errors
/// The first bad row.
pub fn parse_bars(csv: &str) -> Result<Vec<SandboxBar>, BarError> {
    let mut bars: Vec<SandboxBar> = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let row = i + 1;
        let bad = |reason: String| BarError { row, reason };
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 6 {
            return Err(bad(format!(
                "{} columns; need timestamp,open,high,low,close,volume",
                fields.len()
            )));
        }
        let timestamp = parse_timestamp(fields[0]).ok_or_else(|| {
            bad(format!("timestamp {:?} is not RFC 3339, `YYYY-MM-DD HH:MM:SS`, or unix seconds or milliseconds", fields[0]))
        })?;
        let num = |k: usize, name: &str| -> Result<f64, BarError> {
            let v: f64 = fields[k]
                .parse()
                .map_err(|_| bad(format!("{name} {:?} is not a number", fields[k])))?;
            if !v.is_finite() || (k <= 4 && v <= 0.0) || v < 0.0 {
                return Err(bad(format!("{name} {v} is not a valid value")));
            }
            Ok(v)
        };
        let bar = SandboxBar {
            timestamp,
            open: num(1, "open")?,
            high: num(2, "high")?,
            low: num(3, "low")?,
            close: num(4, "close")?,
            volume: num(5, "volume")?,
        };
        if let Some(prev) = bars.last() {
            if bar.timestamp <= prev.timestamp {
                let what = if bar.timestamp == prev.timestamp {
                    "repeats"
                } else {
                    "is before"
                };
                return Err(bad(format!(
                    "timestamp {} {what} the previous row's",
                    fields[0]
                )));
            }
        }
        bars.push(bar);
    }
    if bars.len() < 2 {
        return Err(BarError {
            row: 1,
            reason: format!("{} bars: at least two are needed", bars.len()),
        });
    }
    let interval = bar_interval(&bars);
    for (i, w) in bars.windows(2).enumerate() {
        let step = w[1].timestamp - w[0].timestamp;
        if step != interval {
            return Err(BarError {
                row: i + 3,
                reason: format!("a gap of {step} s where bars are {interval} s apart"),
            });
        }
    }
    Ok(bars)
}

/// The bar interval in seconds: the most common spacing.
pub fn bar_interval(bars: &[SandboxBar]) -> i64 {
    let mut counts = std::collections::BTreeMap::new();
    for w in bars.windows(2) {
        *counts
            .entry(w[1].timestamp - w[0].timestamp)
            .or_insert(0u64) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(step, n)| (*n, -step))
        .map_or(0, |(step, _)| step)
}

/// Bars a year on a 24/7 calendar.
pub fn bars_per_year(bars: &[SandboxBar]) -> f64 {
    let interval = bar_interval(bars).max(1);
    365.0 * 86_400.0 / interval as f64
}

/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC), or unix seconds / milliseconds.
fn parse_timestamp(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(n) = text.parse::<i64>() {
        // Milliseconds from 1973 on are at least 1e11; seconds stay below it until the year 5138.
        return Some(if n.abs() >= 100_000_000_000 {
            n / 1000
        } else {
            n
        });
    }
    let space = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let space_frac = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"
    );
    time::PrimitiveDateTime::parse(text, &space_frac)
        .or_else(|_| time::PrimitiveDateTime::parse(text, &space))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// The embedded data sets by name: `coinbase-1h` and `ftx-1m`.
pub fn embedded(name: &str) -> Option<Vec<SandboxBar>> {
    match name {
        "coinbase-1h" => Some(embedded_hourly().to_vec()),
        "ftx-1m" => Some(parse_bars(FTX_BTCPERP_1M).unwrap_or_default()),
        _ => None,
    }
}

/// The embedded hourly bars, parsed once per process (every stage run, monitor pass and
/// regime reading of a cycle uses them; 20,111 rows are not worth reading again each time).
pub fn embedded_hourly() -> &'static [SandboxBar] {
    static BARS: std::sync::OnceLock<Vec<SandboxBar>> = std::sync::OnceLock::new();
    // The embedded file is checked by a test: it parses whole.
    BARS.get_or_init(|| parse_bars(COINBASE_BTCUSD_1H).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_parses_whole() {
        let bars = parse_bars(COINBASE_BTCUSD_1H).unwrap();
        assert_eq!(bars.len(), 20_111);
        assert_eq!(bars[0].timestamp, 1_498_906_800); // 2017-07-01T11:00:00Z
        assert!(bars
            .windows(2)
            .all(|w| w[1].timestamp - w[0].timestamp == 3600));
    }

    #[test]
    fn the_embedded_minute_file_parses_whole() {
        let bars = parse_bars(FTX_BTCPERP_1M).unwrap();
        assert_eq!(bars.len(), 45_031);
        assert_eq!(bar_interval(&bars), 60);
        assert_eq!(bars_per_year(&bars), 525_600.0);
        assert_eq!(embedded("ftx-1m").unwrap().len(), 45_031);
        assert!(embedded("nasdaq").is_none());
    }

    #[test]
    fn every_timestamp_form_reads_the_same_instant() {
        for stamp in [
            "2022-01-01T00:00:00Z",
            "2022-01-01 00:00:00",
            "2022-01-01 00:00:00.000000",
            "1640995200",
            "1640995200000",
        ] {
            assert_eq!(parse_timestamp(stamp), Some(1_640_995_200), "{stamp}");
        }
    }

    #[test]
    fn bad_rows_are_named() {
        let check = |csv: &str, expected: &str| {
            assert_eq!(parse_bars(csv).unwrap_err().to_string(), expected)
        };
        let head = "timestamp,open,high,low,close,volume\n";
        let ok = "2020-01-01T01:00:00Z,1,1,1,1,1\n";
        check(
            &format!("{head}2020-01-01T00:00:00Z,1,1,1,x,1\n{ok}"),
            "row 2: close \"x\" is not a number",
        );
        check(
            &format!("{head}2020-01-01T00:00:00Z,1,1,1,0,1\n{ok}"),
            "row 2: close 0 is not a valid value",
        );
        check(
            &format!("{head}2020-01-01T00:00:00Z,NaN,1,1,1,1\n{ok}"),
            "row 2: open NaN is not a valid value",
        );
        check(
            &format!("{head}2020-01-01T00:00:00Z,1,1,1,-3,1\n{ok}"),
            "row 2: close -3 is not a valid value",
        );
        check(
            &format!("{head}{ok}2020-01-01T00:00:00Z,1,1,1,1,1\n"),
            "row 3: timestamp 2020-01-01T00:00:00Z is before the previous row's",
        );
        check(
            &format!("{head}1577836800,1,1,1,1,1\n1577836800,1,1,1,1,1\n"),
            "row 3: timestamp 1577836800 repeats the previous row's",
        );
        check(
            &format!("{head}1577836800000,1,1,1,1,1\n1577840400000,1,1,1,1,1\n1577847600000,1,1,1,1,1\n1577851200000,1,1,1,1,1\n"),
            "row 4: a gap of 7200 s where bars are 3600 s apart",
        );
        check(&format!("{head}yesterday,1,1,1,1,1\n"), "row 2: timestamp \"yesterday\" is not RFC 3339, `YYYY-MM-DD HH:MM:SS`, or unix seconds or milliseconds");
        check(
            &format!("{head}{ok}"),
            "row 1: 1 bars: at least two are needed",
        );
    }
}
