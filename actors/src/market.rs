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

/// The trading calendar of a series: when its market is open, so which gaps are closures and
/// how many bars make a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    /// 24/7 (crypto): no closure, 365 days a year; any gap is refused.
    Crypto,
    /// Exchange sessions on weekdays (equities): weekends, holidays (at most two weekdays in a
    /// row) and, for intraday bars, the hours outside the session are closures; 252 sessions
    /// a year.
    Equity,
    /// 24/5 (spot FX): from Friday 20:00 to Sunday 23:00 UTC, and 25 December and 1 January,
    /// the market is closed; 260 days a year.
    Fx,
}

impl Calendar {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Calendar::Crypto => "crypto",
            Calendar::Equity => "equity",
            Calendar::Fx => "fx",
        }
    }

    /// The calendar of that name.
    pub fn parse(name: &str) -> Option<Calendar> {
        match name.trim().to_ascii_lowercase().as_str() {
            "crypto" | "24/7" => Some(Calendar::Crypto),
            "equity" | "equities" | "stock" | "stocks" => Some(Calendar::Equity),
            "fx" | "forex" | "24/5" => Some(Calendar::Fx),
            _ => None,
        }
    }

    /// The calendar the bars show: a series that spans a week without a Saturday bar is not
    /// 24/7 — daily bars, or intraday bars without Sunday ones, are equities; intraday bars
    /// with Sunday (evening) ones are FX. Anything shorter than a week is taken as 24/7.
    pub fn infer(bars: &[SandboxBar]) -> Calendar {
        let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
            return Calendar::Crypto;
        };
        if last.timestamp - first.timestamp < 7 * 86_400
            || bars.iter().any(|b| weekday(b.timestamp) == 5)
        {
            return Calendar::Crypto;
        }
        if bar_interval(bars) < 86_400 && bars.iter().any(|b| weekday(b.timestamp) == 6) {
            Calendar::Fx
        } else {
            Calendar::Equity
        }
    }

    /// Bars a year on this calendar.
    pub fn bars_per_year(self, bars: &[SandboxBar]) -> f64 {
        let interval = bar_interval(bars).max(1) as f64;
        let day = 86_400.0;
        match self {
            Calendar::Crypto => 365.0 * day / interval,
            Calendar::Fx => 260.0 * day / interval,
            Calendar::Equity if interval >= 7.0 * day => 365.25 * day / interval,
            Calendar::Equity if interval >= day => 252.0 * day / interval,
            Calendar::Equity => 252.0 * session_slots(bars).len().max(1) as f64,
        }
    }
}

/// Days since the epoch and the weekday (0 = Monday … 6 = Sunday) of a unix time, UTC.
fn weekday(t: i64) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (t.div_euclid(86_400) + 3).rem_euclid(7)
}

/// The seconds of the day at which an intraday series has bars: its session.
fn session_slots(bars: &[SandboxBar]) -> std::collections::BTreeSet<i64> {
    bars.iter()
        .map(|b| b.timestamp.rem_euclid(86_400))
        .collect()
}

/// A bar file read: the bars, their calendar and whether it was inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct BarFile {
    /// The bars, oldest first.
    pub bars: Vec<SandboxBar>,
    /// Their calendar.
    pub calendar: Calendar,
    /// Whether the calendar was inferred from the bars (else given).
    pub inferred: bool,
}

/// Columns found by the header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    timestamp: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

impl Columns {
    const POSITIONAL: Columns = Columns {
        timestamp: 0,
        open: 1,
        high: 2,
        low: 3,
        close: 4,
        volume: Some(5),
    };

    /// Columns by header name (case-insensitive; the one unnamed column, pandas' index, is
    /// taken as the timestamp), or `None` when the first line is a bar, not a header.
    fn from_header(line: &str) -> Result<Option<Columns>, BarError> {
        let names: Vec<String> = line
            .split(',')
            .map(|n| n.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let raw: Vec<&str> = line
            .split(',')
            .map(|n| n.trim().trim_matches('"'))
            .collect();
        let is_bar = raw.len() >= 5
            && parse_timestamp(raw[0]).is_some()
            && raw[1..5].iter().all(|n| n.parse::<f64>().is_ok());
        if is_bar {
            return Ok(None);
        }
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
        let missing = |what: &str| {
            BarError {
            row: 1,
            reason: format!(
                "no {what} column in the header ({}); name the columns timestamp,open,high,low,close[,volume]",
                names.join(",")
            ),
        }
        };
        let timestamp = find(&["timestamp", "time", "date", "datetime", "open_time", "ts"])
            .or_else(|| {
                // pandas writes its index as the one column without a name.
                let unnamed: Vec<usize> =
                    (0..names.len()).filter(|&i| names[i].is_empty()).collect();
                (unnamed.len() == 1).then(|| unnamed[0])
            })
            .ok_or_else(|| missing("timestamp"))?;
        Ok(Some(Columns {
            timestamp,
            open: find(&["open", "o"]).ok_or_else(|| missing("open"))?,
            high: find(&["high", "h"]).ok_or_else(|| missing("high"))?,
            low: find(&["low", "l"]).ok_or_else(|| missing("low"))?,
            close: find(&["close", "c"]).ok_or_else(|| missing("close"))?,
            volume: find(&["volume", "vol", "v"])
                .or_else(|| names.iter().position(|n| n.starts_with("volume"))),
        }))
    }
}

/// Reads bars with the calendar inferred (see [`read_bars`]).
///
/// # Errors
/// The first bad row.
pub fn parse_bars(csv: &str) -> Result<Vec<SandboxBar>, BarError> {
    read_bars(csv, None).map(|f| f.bars)
}

/// Reads a bar file, oldest first. Columns are found by their header names
/// (`timestamp,open,high,low,close[,volume]` in any order, `date`/`time` for the timestamp, an
/// unnamed first column as the index); a file without a header is read by position from its
/// first row. Timestamps are RFC 3339, `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (UTC), or unix seconds
/// or milliseconds. Refuses, naming the row: out-of-order or repeated timestamps, non-numbers,
/// NaN and non-positive prices, a high or low that does not bound the open and close, and a gap
/// where the calendar (given, else inferred: [`Calendar::infer`]) says the market was open.
///
/// # Errors
/// The first bad row.
pub fn read_bars(csv: &str, calendar: Option<Calendar>) -> Result<BarFile, BarError> {
    let mut lines = csv.lines().enumerate().peekable();
    let columns = match lines.peek() {
        Some((_, first)) => match Columns::from_header(first)? {
            Some(c) => {
                lines.next();
                c
            }
            None => Columns::POSITIONAL,
        },
        None => Columns::POSITIONAL,
    };
    let needed = [
        columns.timestamp,
        columns.open,
        columns.high,
        columns.low,
        columns.close,
    ]
    .into_iter()
    .chain(columns.volume)
    .max()
    .unwrap_or(0)
        + 1;
    let lines_hint = csv.len() / 48;
    let mut bars: Vec<SandboxBar> = Vec::with_capacity(lines_hint);
    let mut rows: Vec<usize> = Vec::with_capacity(lines_hint);
    // The fields a row needs, split into one buffer reused row after row (no allocation a row).
    let mut fields: Vec<&str> = Vec::with_capacity(needed.max(8));
    for (i, line) in lines {
        let row = i + 1;
        let bad = |reason: String| BarError { row, reason };
        if line.trim().is_empty() {
            continue;
        }
        fields.clear();
        fields.extend(line.split(',').map(|f| f.trim().trim_matches('"')));
        if fields.len() < needed {
            return Err(bad(format!(
                "{} columns; need timestamp,open,high,low,close,volume",
                fields.len()
            )));
        }
        let stamp = fields[columns.timestamp];
        let timestamp = parse_timestamp(stamp).ok_or_else(|| {
            bad(format!("timestamp {stamp:?} is not RFC 3339, `YYYY-MM-DD HH:MM:SS`, or unix seconds or milliseconds"))
        })?;
        let num = |k: usize, name: &str, positive: bool| -> Result<f64, BarError> {
            let v: f64 = fields[k]
                .parse()
                .map_err(|_| bad(format!("{name} {:?} is not a number", fields[k])))?;
            if !v.is_finite() || (positive && v <= 0.0) || v < 0.0 {
                return Err(bad(format!("{name} {v} is not a valid value")));
            }
            Ok(v)
        };
        let bar = SandboxBar {
            timestamp,
            open: num(columns.open, "open", true)?,
            high: num(columns.high, "high", true)?,
            low: num(columns.low, "low", true)?,
            close: num(columns.close, "close", true)?,
            volume: match columns.volume {
                Some(k) => num(k, "volume", false)?,
                None => 0.0,
            },
        };
        if bar.low > bar.open.min(bar.close) || bar.high < bar.open.max(bar.close) {
            return Err(bad(format!(
                "high {} and low {} do not bound open {} and close {}",
                bar.high, bar.low, bar.open, bar.close
            )));
        }
        if let Some(prev) = bars.last() {
            if bar.timestamp <= prev.timestamp {
                let what = if bar.timestamp == prev.timestamp {
                    "repeats"
                } else {
                    "is before"
                };
                return Err(bad(format!("timestamp {stamp} {what} the previous row's")));
            }
        }
        bars.push(bar);
        rows.push(row);
    }
    if bars.len() < 2 {
        return Err(BarError {
            row: 1,
            reason: format!("{} bars: at least two are needed", bars.len()),
        });
    }
    let (calendar, inferred) = match calendar {
        Some(c) => (c, false),
        None => (Calendar::infer(&bars), true),
    };
    check_gaps(&bars, &rows, calendar)?;
    Ok(BarFile {
        bars,
        calendar,
        inferred,
    })
}

/// Refuses a gap where `calendar` says the market was open, naming the row after it.
fn check_gaps(bars: &[SandboxBar], rows: &[usize], calendar: Calendar) -> Result<(), BarError> {
    let interval = bar_interval(bars);
    let slots = session_slots(bars);
    let days_with_bars: std::collections::BTreeSet<i64> = bars
        .iter()
        .map(|b| b.timestamp.div_euclid(86_400))
        .collect();
    let when = crate::bars::iso;
    for (i, w) in bars.windows(2).enumerate() {
        let step = w[1].timestamp - w[0].timestamp;
        if step == interval {
            continue;
        }
        let gap = |why: &str| BarError {
            row: rows[i + 1],
            reason: format!(
                "a gap of {step} s where bars are {interval} s apart ({} → {}): {why}",
                when(w[0].timestamp),
                when(w[1].timestamp)
            ),
        };
        if step % interval != 0 || calendar == Calendar::Crypto {
            return Err(gap(&format!(
                "a {} market has no closures",
                if calendar == Calendar::Crypto {
                    "24/7"
                } else {
                    calendar.as_str()
                }
            )));
        }
        let missing = (1..step / interval).map(|k| w[0].timestamp + k * interval);
        match calendar {
            Calendar::Crypto => {}
            Calendar::Fx => {
                if let Some(open) = missing.clone().find(|&m| !fx_closed(m)) {
                    return Err(gap(&format!(
                        "the FX market is open at {} (closed Friday 20:00 to Sunday 23:00 UTC, 25 December and 1 January)",
                        when(open)
                    )));
                }
            }
            Calendar::Equity if interval >= 86_400 => {
                let weekdays = missing.clone().filter(|&m| weekday(m) < 5).count();
                if weekdays > 2 {
                    return Err(gap(&format!(
                        "{weekdays} weekdays without a session: more than a holiday"
                    )));
                }
            }
            Calendar::Equity => {
                // Intraday: outside the session hours, on weekends, or a whole day without a
                // bar (a holiday) is closed; a missing slot of a day that traded is not.
                if let Some(open) = missing.clone().find(|&m| {
                    weekday(m) < 5
                        && slots.contains(&m.rem_euclid(86_400))
                        && days_with_bars.contains(&m.div_euclid(86_400))
                }) {
                    return Err(gap(&format!(
                        "{} is inside a session of a day that traded",
                        when(open)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether spot FX is closed at `t`: the weekend (Friday 20:00 to Sunday 23:00 UTC, wide enough
/// for both sides of daylight saving) and the two whole-day holidays.
fn fx_closed(t: i64) -> bool {
    let hour = t.rem_euclid(86_400) / 3_600;
    let weekend = match weekday(t) {
        4 => hour >= 20,
        5 => true,
        6 => hour < 23,
        _ => false,
    };
    let holiday = time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| {
            let (m, day) = (d.month() as u8, d.day());
            (m == 12 && (day == 25 || (day == 24 && hour >= 20) || (day == 31 && hour >= 20)))
                || (m == 1 && day == 1)
        })
        .unwrap_or(false);
    weekend || holiday
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

/// Bars a year on the bars' own calendar ([`Calendar::infer`]).
pub fn bars_per_year(bars: &[SandboxBar]) -> f64 {
    Calendar::infer(bars).bars_per_year(bars)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The common shapes, read without the general parser (a minute file has tens of thousands of
/// rows): `YYYY-MM-DD`, then optionally `T` or a space, `HH:MM:SS`, a fraction, and `Z`. `None`
/// for anything else (the general parser decides), including impossible dates.
fn fast_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > days_in[(month - 1) as usize] {
        return None;
    }
    let mut seconds = 0;
    let mut rest = &b[10..];
    if !rest.is_empty() {
        if rest.len() < 9
            || !(rest[0] == b'T' || rest[0] == b' ')
            || rest[3] != b':'
            || rest[6] != b':'
        {
            return None;
        }
        let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        seconds = h * 3600 + m * 60 + sec;
        rest = &rest[9..];
        if let Some((b'.', frac)) = rest.split_first() {
            let digits = frac.iter().take_while(|d| d.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &frac[digits..];
        }
        if rest == b"Z" {
            rest = &[];
        }
    }
    rest.is_empty()
        .then(|| days_from_civil(year, month, day) * 86_400 + seconds)
}

/// RFC 3339, `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (UTC), or unix seconds / milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Some(t) = fast_timestamp(text) {
        return Some(t);
    }
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
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::PrimitiveDateTime::parse(text, &space_frac)
        .or_else(|_| time::PrimitiveDateTime::parse(text, &space))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
        .or_else(|| {
            time::Date::parse(text, &date)
                .ok()
                .map(|d| d.midnight().assume_utc().unix_timestamp())
        })
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
    fn the_fast_timestamp_path_agrees_with_the_general_parser() {
        use time::format_description::well_known::Rfc3339;
        let general = |text: &str| {
            time::OffsetDateTime::parse(text, &Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        };
        for text in [
            "2021-12-31T23:01:00Z",
            "2000-02-29T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2024-03-01T12:34:56.789Z",
            "1999-12-31T23:59:59Z",
            "2100-02-28T10:00:00Z",
        ] {
            assert_eq!(fast_timestamp(text), general(text), "{text}");
            let spaced = text.replace('T', " ").replace('Z', "");
            assert_eq!(fast_timestamp(&spaced), general(text), "{spaced}");
        }
        assert_eq!(
            fast_timestamp("2021-12-31"),
            general("2021-12-31T00:00:00Z")
        );
        // Impossible or other shapes go to the general parser (which refuses them or reads
        // them its way).
        for text in [
            "2023-02-29",
            "2021-13-01",
            "2021-12-31T24:00:00Z",
            "2021-12-31T23:01:00+01:00",
            "2021-12-31X",
            "1640991660",
        ] {
            assert_eq!(fast_timestamp(text), None, "{text}");
        }
        assert_eq!(
            parse_timestamp("2021-12-31T23:01:00+01:00"),
            Some(1_640_988_060)
        );
    }

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
            "row 4: a gap of 7200 s where bars are 3600 s apart (2020-01-01T01:00:00Z → 2020-01-01T03:00:00Z): a 24/7 market has no closures",
        );
        check(&format!("{head}yesterday,1,1,1,1,1\n"), "row 2: timestamp \"yesterday\" is not RFC 3339, `YYYY-MM-DD HH:MM:SS`, or unix seconds or milliseconds");
        check(
            &format!("{head}{ok}"),
            "row 1: 1 bars: at least two are needed",
        );
    }

    const GOOG_1D: &str = include_str!("../../data/goog_1d_2004-08-19_2013-03-01.csv");
    const EURUSD_1H: &str = include_str!("../../data/eurusd_1h_2017-04-19_2018-02-07.csv");

    #[test]
    fn closed_markets_keep_their_closures_and_annualise_by_their_calendar() {
        let goog = read_bars(GOOG_1D, None).unwrap();
        assert_eq!(goog.bars.len(), 2_148);
        assert_eq!((goog.calendar, goog.inferred), (Calendar::Equity, true));
        assert_eq!(goog.calendar.bars_per_year(&goog.bars), 252.0);
        assert_eq!(
            goog.bars[0].timestamp, 1_092_873_600,
            "2004-08-19, a date alone"
        );
        let fx = read_bars(EURUSD_1H, None).unwrap();
        assert_eq!(fx.bars.len(), 5_000);
        assert_eq!(fx.calendar, Calendar::Fx);
        assert_eq!(fx.calendar.bars_per_year(&fx.bars), 6_240.0);
        // The embedded crypto series stays 24/7.
        assert_eq!(bars_per_year(embedded_hourly()), 8_760.0);
        // Said to be 24/7, the same files are refused at their first weekend.
        let err = read_bars(EURUSD_1H, Some(Calendar::Crypto)).unwrap_err();
        assert_eq!(err.row, 62, "{err}");
        assert!(
            err.reason
                .contains("2017-04-21T20:00:00Z → 2017-04-23T21:00:00Z"),
            "{err}"
        );
    }

    #[test]
    fn a_gap_inside_a_session_is_refused_with_its_row() {
        // An FX hour missing on a Tuesday.
        let mut lines: Vec<&str> = EURUSD_1H.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("2017-04-25 10:00:00"))
            .unwrap();
        lines.remove(at);
        let err = read_bars(&lines.join("\n"), None).unwrap_err();
        assert_eq!(err.row, at + 1);
        assert!(
            err.reason
                .contains("the FX market is open at 2017-04-25T10:00:00Z"),
            "{err}"
        );
        // A week of sessions missing from a daily equity series.
        let lines: Vec<&str> = GOOG_1D
            .lines()
            .filter(|l| !l.starts_with("2010-06-0"))
            .collect();
        let err = read_bars(&lines.join("\n"), None).unwrap_err();
        assert!(err.reason.contains("weekdays without a session"), "{err}");
    }

    #[test]
    fn columns_are_read_by_name_and_bad_bars_named() {
        let original = "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,10,12,9,11,5\n2020-01-01T01:00:00Z,11,13,10,12,6\n";
        let reordered = "Close,Volume,Date,High,Open,Low\n11,5,2020-01-01T00:00:00Z,12,10,9\n12,6,2020-01-01T01:00:00Z,13,11,10\n";
        let headless = "2020-01-01T00:00:00Z,10,12,9,11,5\n2020-01-01T01:00:00Z,11,13,10,12,6\n";
        let a = parse_bars(original).unwrap();
        assert_eq!(parse_bars(reordered).unwrap(), a);
        assert_eq!(parse_bars(headless).unwrap(), a, "no first row dropped");
        let inverted = "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,10,12,9,11,5\n2020-01-01T01:00:00Z,11,10,13,12,6\n";
        assert_eq!(
            parse_bars(inverted).unwrap_err().to_string(),
            "row 3: high 10 and low 13 do not bound open 11 and close 12"
        );
        let no_high = "timestamp,open,low,close\n2020-01-01T00:00:00Z,10,9,11\n";
        assert!(parse_bars(no_high)
            .unwrap_err()
            .to_string()
            .starts_with("row 1: no high column in the header"));
    }
}
