//! Market data: the real BTC bars embedded in the binary, and a strict CSV reader.
//!
//! The embedded default is `data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv` (Coinbase
//! BTC/USD, hourly, 20,111 bars; origin and licence in `data/README.md`).

use crate::validator::sandbox::runtime::SandboxBar;

/// The embedded hourly Coinbase BTC/USD bars, as CSV.
pub const COINBASE_BTCUSD_1H: &str =
    include_str!("../../data/coinbase_btcusd_1h_2017-07-01_2019-10-17.csv");

/// A bad row in a bar file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {reason}")]
pub struct BarError {
    /// 1-based row number in the file (the header is row 1).
    pub row: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Reads `timestamp,open,high,low,close,volume[,…]` rows with RFC 3339 timestamps, oldest
/// first. Refuses out-of-order or duplicate timestamps, non-numbers and non-positive prices,
/// naming the row.
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
        let timestamp =
            time::OffsetDateTime::parse(fields[0], &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad(format!("timestamp {:?} is not RFC 3339", fields[0])))?
                .unix_timestamp();
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
                return Err(bad(format!(
                    "timestamp {} is not after the previous row's",
                    fields[0]
                )));
            }
        }
        bars.push(bar);
    }
    Ok(bars)
}

/// The embedded hourly bars.
///
/// # Panics
/// Never in a released build: the embedded file is checked by a test.
pub fn embedded_hourly() -> Vec<SandboxBar> {
    parse_bars(COINBASE_BTCUSD_1H).unwrap_or_default()
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
    fn bad_rows_are_named() {
        let check = |csv: &str, expected: &str| {
            assert_eq!(parse_bars(csv).unwrap_err().to_string(), expected)
        };
        let head = "timestamp,open,high,low,close,volume\n";
        check(
            &format!("{head}2020-01-01T00:00:00Z,1,1,1,x,1\n"),
            "row 2: close \"x\" is not a number",
        );
        check(
            &format!("{head}2020-01-01T00:00:00Z,1,1,1,0,1\n"),
            "row 2: close 0 is not a valid value",
        );
        check(
            &format!("{head}2020-01-01T01:00:00Z,1,1,1,1,1\n2020-01-01T00:00:00Z,1,1,1,1,1\n"),
            "row 3: timestamp 2020-01-01T00:00:00Z is not after the previous row's",
        );
        check(
            &format!("{head}yesterday,1,1,1,1,1\n"),
            "row 2: timestamp \"yesterday\" is not RFC 3339",
        );
    }
}
