//! Funding rates of a perpetual: the rate charged at each funding time (a long pays
//! `position × mark × rate` to the shorts when it is positive, and receives it when negative).
//! Read from the formats the venue publishes them in: Binance's funding-rate history
//! (`GET /fapi/v1/fundingRate`: a JSON array of `{symbol, fundingTime, fundingRate, markPrice}`,
//! times in ms, rates as strings), Binance's monthly archives (CSV
//! `calc_time,funding_interval_hours,last_funding_rate`), or a plain CSV `timestamp,funding_rate`
//! (RFC 3339, date-time, or unix seconds or milliseconds).

use serde::Serialize;

/// One funding time and its rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FundingRate {
    /// The funding time, unix seconds.
    pub time: i64,
    /// The rate for the interval (0.0001 is 0.01 %).
    pub rate: f64,
}

/// Largest rate of one interval taken as real (Binance caps its rates well inside it).
const MAX_RATE: f64 = 0.1;

/// A funding file that cannot be read, with where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FundingError(pub String);

fn when(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    if let Ok(n) = text.parse::<i64>() {
        // Milliseconds from 2001 on are 13 digits; seconds are 10.
        return Some(if n > 100_000_000_000 { n / 1000 } else { n });
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Reads funding rates in any of the module's formats, oldest first.
///
/// # Errors
/// Not one of the formats; a row whose time or rate does not read, a rate beyond ±10 % an
/// interval, a time out of order or repeated — each named with its row.
pub fn parse(text: &str) -> Result<Vec<FundingRate>, FundingError> {
    let trimmed = text.trim_start();
    let rates = if trimmed.starts_with('[') {
        from_json(trimmed)?
    } else {
        from_csv(text)?
    };
    for (i, w) in rates.windows(2).enumerate() {
        if w[1].time <= w[0].time {
            return Err(FundingError(format!(
                "funding time {} (entry {}) is not after the one before it",
                w[1].time,
                i + 2
            )));
        }
    }
    if rates.is_empty() {
        return Err(FundingError("no funding rate in the file".into()));
    }
    Ok(rates)
}

fn checked(rate: f64, time: i64, at: &str) -> Result<FundingRate, FundingError> {
    if !rate.is_finite() || rate.abs() > MAX_RATE {
        return Err(FundingError(format!(
            "{at}: funding rate {rate} is not a rate of one interval (within ±{MAX_RATE})"
        )));
    }
    Ok(FundingRate { time, rate })
}

fn from_json(text: &str) -> Result<Vec<FundingRate>, FundingError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Row {
        funding_time: i64,
        funding_rate: String,
    }
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|e| {
        FundingError(format!(
            "not a funding-rate history (a JSON array of fundingTime and fundingRate): {e}"
        ))
    })?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = format!("entry {}", i + 1);
            let rate = r.funding_rate.trim().parse::<f64>().map_err(|_| {
                FundingError(format!(
                    "{at}: fundingRate {:?} is not a number",
                    r.funding_rate
                ))
            })?;
            checked(rate, r.funding_time / 1000, &at)
        })
        .collect()
}

fn from_csv(text: &str) -> Result<Vec<FundingRate>, FundingError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(FundingError("the funding file is empty".into()));
    };
    let names: Vec<String> = header
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let (Some(t), Some(r)) = (
        find(&[
            "calc_time",
            "timestamp",
            "funding_time",
            "time",
            "fundingtime",
        ]),
        find(&["last_funding_rate", "funding_rate", "fundingrate", "rate"]),
    ) else {
        return Err(FundingError(format!(
            "the header {header:?} has no time (calc_time, timestamp, funding_time) or no rate (last_funding_rate, funding_rate) column"
        )));
    };
    lines
        .map(|(i, line)| {
            let at = format!("row {}", i + 1);
            let fields: Vec<&str> = line.split(',').collect();
            let time = fields
                .get(t)
                .and_then(|v| when(v))
                .ok_or_else(|| FundingError(format!("{at}: the time does not read: {line:?}")))?;
            let rate = fields
                .get(r)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| FundingError(format!("{at}: the rate does not read: {line:?}")))?;
            checked(rate, time, &at)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_venues_formats_read_the_same_and_bad_rows_are_named() {
        // Binance's history, in the shape its documentation gives.
        let json = r#"[{"symbol":"BTCUSDT","fundingRate":"-0.03750000","fundingTime":1570608000000,"markPrice":"34287.54619963"},{"symbol":"BTCUSDT","fundingRate":"0.00010000","fundingTime":1570636800000,"markPrice":"34287.54619963"}]"#;
        let archive = "calc_time,funding_interval_hours,last_funding_rate\n1570608000000,8,-0.03750000\n1570636800000,8,0.00010000\n";
        let plain =
            "timestamp,funding_rate\n2019-10-09T08:00:00Z,-0.0375\n2019-10-09 16:00:00,0.0001\n";
        let expected = vec![
            FundingRate {
                time: 1_570_608_000,
                rate: -0.0375,
            },
            FundingRate {
                time: 1_570_636_800,
                rate: 0.0001,
            },
        ];
        for text in [json, archive, plain] {
            assert_eq!(parse(text).unwrap(), expected, "{text}");
        }
        for (bad, why) in [
            (
                "timestamp,funding_rate\n2019-10-09T08:00:00Z,abc\n",
                "row 2: the rate",
            ),
            (
                "timestamp,funding_rate\n2019-10-09T08:00:00Z,0.5\n",
                "within ±0.1",
            ),
            (
                "timestamp,funding_rate\n2019-10-09T08:00:00Z,0.1\n2019-10-09T08:00:00Z,0.1\n",
                "not after",
            ),
            ("open,close\n1,2\n", "no time"),
            ("[{\"fundingTime\": 1}]", "not a funding-rate history"),
            ("timestamp,funding_rate\n", "no funding rate"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
