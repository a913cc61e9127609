//! The bar store (`DATA_DIR/market/`): exchange bars kept apart from the event log (bars are
//! observations, not decisions), one series per venue, symbol and interval.
//!
//! Layout: `market/<venue>/<symbol>/<interval>/` holds one CSV file per calendar month of bar
//! open times (`2024-03.csv`: `open_time,open,high,low,close,volume`, unix seconds, sorted,
//! one row per bar) and `coverage.json`, the range of open times `[from, to)` that has been
//! checked against the venue. Plain files: `pandas.read_csv` opens them, `rsync` copies them.
//!
//! - **Durable and atomic**: every file is written to a temporary name, flushed, and renamed
//!   over the old one (then the directory is flushed), so a reader sees a whole file before or
//!   after, never half of one.
//! - **No hole taken for data**: a page of bars is written into the month files first; only then
//!   is the coverage moved past it. A kill -9 between the two leaves bars beyond the coverage,
//!   which no reader takes; the next download fetches that page again and merges the same bars
//!   into the same bytes. Readers ([`BarStore::read`], `data export`, `data list`) only read
//!   inside the coverage.
//! - **Idempotent**: bars are merged by open time; the same bars give the same bytes.
//! - Inside the coverage, an open time with no bar is a gap the venue has (no trades, or an
//!   outage): `data list` counts them.

pub mod funding;
pub mod instruments;
pub mod parquet;
pub mod venues;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A venue whose bars the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    /// Binance spot (`/api/v3/klines`).
    Binance,
    /// Coinbase Exchange (`/products/{id}/candles`).
    Coinbase,
    /// Binance USD-M futures: perpetuals (`/fapi/v1/klines`), named `binance-futures`.
    #[serde(rename = "binance-futures")]
    BinanceFutures,
}

impl Venue {
    /// The venue of that name.
    pub fn parse(name: &str) -> Option<Venue> {
        match name {
            "binance" => Some(Venue::Binance),
            "coinbase" => Some(Venue::Coinbase),
            "binance-futures" => Some(Venue::BinanceFutures),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Coinbase => "coinbase",
            Venue::BinanceFutures => "binance-futures",
        }
    }

    /// Whether its instruments are perpetuals (their funding is paid between longs and shorts).
    pub fn perpetual(self) -> bool {
        self == Venue::BinanceFutures
    }
}

/// A bar interval, in seconds, named as exchanges name it (`1m`, `1h`, `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval(u32);

impl Interval {
    /// The intervals the store keeps.
    pub const NAMES: &'static [(&'static str, u32)] = &[
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14_400),
        ("6h", 21_600),
        ("1d", 86_400),
    ];

    /// The interval of that name.
    pub fn parse(name: &str) -> Option<Interval> {
        Interval::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| Interval(*s))
    }

    /// Its length in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Interval::NAMES
            .iter()
            .find(|(_, s)| *s == self.0)
            .map_or("?", |(n, _)| n)
    }
}

/// One series: a venue's bars of a symbol at an interval.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Series {
    /// The venue.
    pub venue: Venue,
    /// The venue's symbol (`BTCUSDT`, `BTC-USD`).
    pub symbol: String,
    /// The bar interval.
    pub interval: Interval,
}

impl Series {
    /// A series, its symbol checked (letters, digits, `-` and `_`, at most 32: it names a
    /// directory).
    ///
    /// # Errors
    /// [`StoreError::BadSymbol`].
    pub fn new(venue: Venue, symbol: &str, interval: Interval) -> Result<Series, StoreError> {
        let ok = !symbol.is_empty()
            && symbol.len() <= 32
            && symbol
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(StoreError::BadSymbol(symbol.chars().take(40).collect()));
        }
        Ok(Series {
            venue,
            symbol: symbol.to_string(),
            interval,
        })
    }

    /// The series of `venue/SYMBOL/interval` (or `venue:SYMBOL:interval`).
    ///
    /// # Errors
    /// [`StoreError::BadSeries`] naming what is wrong, or [`StoreError::BadSymbol`].
    pub fn parse(spec: &str) -> Result<Series, StoreError> {
        let bad =
            |why: &str| StoreError::BadSeries(spec.chars().take(80).collect(), why.to_string());
        let parts: Vec<&str> = spec.trim().split(['/', ':']).collect();
        let [venue, symbol, interval] = parts[..] else {
            return Err(bad("not venue/SYMBOL/interval"));
        };
        let venue =
            Venue::parse(venue).ok_or_else(|| bad("the venue is not binance or coinbase"))?;
        let interval = Interval::parse(interval)
            .ok_or_else(|| bad("not an interval (1m, 5m, 15m, 1h, 4h, 6h, 1d)"))?;
        Series::new(venue, symbol, interval)
    }

    /// `venue/SYMBOL/interval`.
    pub fn label(&self) -> String {
        format!(
            "{}/{}/{}",
            self.venue.as_str(),
            self.symbol,
            self.interval.name()
        )
    }
}

/// One bar as the venue gave it, stamped by its open time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredBar {
    /// Open time, unix seconds.
    pub open_time: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume (base asset).
    pub volume: f64,
}

impl StoredBar {
    /// Why the bar is not a bar: a price not positive and finite, a high or low that does not
    /// bound it, a negative volume.
    pub fn fault(&self) -> Option<&'static str> {
        let prices = [self.open, self.high, self.low, self.close];
        if prices.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
            return Some("a price that is not a positive number");
        }
        if self.low > self.open.min(self.close) || self.high < self.open.max(self.close) {
            return Some("a high or low that does not bound the open and close");
        }
        if !(self.volume.is_finite() && self.volume >= 0.0) {
            return Some("a volume that is not a number of 0 or more");
        }
        None
    }
}

/// The range of open times checked against the venue: `[from, to)`, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// First open time checked.
    pub from: i64,
    /// Open time after the last checked.
    pub to: i64,
}

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A symbol that cannot name a series.
    #[error("symbol {0:?} is not a venue symbol (letters, digits, '-' and '_', at most 32)")]
    BadSymbol(String),
    /// A series named wrongly.
    #[error("{0:?} is not a series: {1}")]
    BadSeries(String, String),
    /// A bar the venue sent that is not a bar.
    #[error(
        "{series}: the bar opening at {open_time} has {fault}; nothing of its page was stored"
    )]
    BadBar {
        /// The series.
        series: String,
        /// Its open time.
        open_time: i64,
        /// What is wrong.
        fault: &'static str,
    },
    /// A page that does not continue the coverage.
    #[error("{series}: a page from {from} does not continue the coverage, which ends at {to}")]
    NotContiguous {
        /// The series.
        series: String,
        /// The page's start.
        from: i64,
        /// The coverage's end.
        to: i64,
    },
    /// A file of the store that does not read as the store writes it.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file system.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What `data list` shows of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// `venue/SYMBOL/interval`.
    pub series: String,
    /// The checked range, unix seconds (`[from, to)`).
    pub coverage: Option<Coverage>,
    /// Bars inside the coverage.
    pub bars: usize,
    /// Open times inside the coverage with no bar (the venue's gaps).
    pub gaps: usize,
    /// The last bar's open time.
    pub last_open_time: Option<i64>,
}

/// The bar store in a data directory.
#[derive(Debug, Clone)]
pub struct BarStore {
    root: PathBuf,
}

impl BarStore {
    /// The store under `data_dir/market` (created on the first write).
    pub fn new(data_dir: &Path) -> BarStore {
        BarStore {
            root: data_dir.join("market"),
        }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The funding rates stored of a perpetual (`VENUE/SYMBOL/funding.csv`, the plain
    /// `timestamp,funding_rate` format with RFC 3339 times): none when none are.
    ///
    /// # Errors
    /// A bad symbol; a stored file that does not read (named).
    pub fn funding(
        &self,
        venue: Venue,
        symbol: &str,
    ) -> Result<Vec<funding::FundingRate>, StoreError> {
        let path = self.funding_path(venue, symbol)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => funding::parse(&text).map_err(|e| StoreError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Stores funding rates of a perpetual beside those already stored (one rate a time; a
    /// newer download's rate of a time replaces the stored one), written whole and renamed into
    /// place. Returns how many are stored.
    ///
    /// # Errors
    /// A bad symbol; the store cannot be read or written.
    pub fn put_funding(
        &self,
        venue: Venue,
        symbol: &str,
        rates: &[funding::FundingRate],
    ) -> Result<usize, StoreError> {
        let mut all: std::collections::BTreeMap<i64, f64> = self
            .funding(venue, symbol)?
            .into_iter()
            .map(|r| (r.time, r.rate))
            .collect();
        all.extend(rates.iter().map(|r| (r.time, r.rate)));
        if all.is_empty() {
            return Ok(0);
        }
        let path = self.funding_path(venue, symbol)?;
        let mut text = String::from("timestamp,funding_rate\n");
        for (t, r) in &all {
            text.push_str(&format!("{},{r}\n", iso(*t)));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(io(&path))?;
        Ok(all.len())
    }

    fn funding_path(&self, venue: Venue, symbol: &str) -> Result<PathBuf, StoreError> {
        // The symbol names a directory: checked as a series' is.
        let s = Series::new(
            venue,
            symbol,
            Interval::parse("1h").unwrap_or(Interval(3600)),
        )?;
        Ok(self
            .root
            .join(s.venue.as_str())
            .join(&s.symbol)
            .join("funding.csv"))
    }

    fn dir(&self, s: &Series) -> PathBuf {
        self.root
            .join(s.venue.as_str())
            .join(&s.symbol)
            .join(s.interval.name())
    }

    /// The series' checked range, if any.
    ///
    /// # Errors
    /// An unreadable or corrupt `coverage.json`.
    pub fn coverage(&self, s: &Series) -> Result<Option<Coverage>, StoreError> {
        let path = self.dir(s).join("coverage.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Removes what a write cut short left (`*.tmp`: never read, never data).
    ///
    /// # Errors
    /// The file system.
    pub fn tidy(&self, s: &Series) -> Result<(), StoreError> {
        let dir = self.dir(s);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&dir)(e)),
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                std::fs::remove_file(&p).map_err(io(&p))?;
            }
        }
        Ok(())
    }

    /// Stores a page: `bars` are the venue's bars of `[from, to)` (every open time there was
    /// asked for). They are checked, merged into the month files, and then the coverage grows
    /// to `to` when the page continues it (or starts it).
    ///
    /// # Errors
    /// A bad bar (nothing of the page is stored), a page that leaves a hole after the coverage,
    /// or the file system.
    pub fn write_page(
        &self,
        s: &Series,
        bars: &[StoredBar],
        from: i64,
        to: i64,
    ) -> Result<(), StoreError> {
        let step = s.interval.seconds();
        for b in bars {
            let fault = if b.open_time < from || b.open_time >= to {
                Some("an open time outside the range asked for")
            } else if b.open_time.rem_euclid(step) != 0 {
                Some("an open time off the interval's grid")
            } else {
                b.fault()
            };
            if let Some(fault) = fault {
                return Err(StoreError::BadBar {
                    series: s.label(),
                    open_time: b.open_time,
                    fault,
                });
            }
        }
        let coverage = self.coverage(s)?;
        if let Some(c) = coverage {
            if from > c.to {
                return Err(StoreError::NotContiguous {
                    series: s.label(),
                    from,
                    to: c.to,
                });
            }
        }
        let dir = self.dir(s);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut by_month: BTreeMap<String, Vec<StoredBar>> = BTreeMap::new();
        for b in bars {
            by_month.entry(month_of(b.open_time)).or_default().push(*b);
        }
        for (month, new) in by_month {
            let path = dir.join(format!("{month}.csv"));
            let mut merged: BTreeMap<i64, StoredBar> = read_month(&path)?
                .into_iter()
                .map(|b| (b.open_time, b))
                .collect();
            for b in new {
                merged.insert(b.open_time, b);
            }
            let mut text = String::from("open_time,open,high,low,close,volume\n");
            for b in merged.values() {
                text.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    b.open_time, b.open, b.high, b.low, b.close, b.volume
                ));
            }
            write_atomic(&path, text.as_bytes())?;
        }
        let grown = match coverage {
            None => Coverage { from, to },
            Some(c) => Coverage {
                from: c.from.min(from),
                to: c.to.max(to),
            },
        };
        if Some(grown) != coverage {
            let json = serde_json::to_vec(&grown).unwrap_or_default();
            write_atomic(&dir.join("coverage.json"), &json)?;
        }
        Ok(())
    }

    /// The bars of `[from, to)` inside the coverage, in order.
    ///
    /// # Errors
    /// A corrupt file or the file system.
    pub fn read(&self, s: &Series, from: i64, to: i64) -> Result<Vec<StoredBar>, StoreError> {
        let Some(c) = self.coverage(s)? else {
            return Ok(Vec::new());
        };
        let (from, to) = (from.max(c.from), to.min(c.to));
        if from >= to {
            return Ok(Vec::new());
        }
        let dir = self.dir(s);
        let mut months: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "csv")
                        && p.file_stem().and_then(|n| n.to_str()).is_some_and(|n| {
                            n >= month_of(from).as_str() && n <= month_of(to - 1).as_str()
                        })
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&dir)(e)),
        };
        months.sort();
        let mut out = Vec::new();
        for path in months {
            out.extend(
                read_month(&path)?
                    .into_iter()
                    .filter(|b| b.open_time >= from && b.open_time < to),
            );
        }
        Ok(out)
    }

    /// Every series in the store.
    ///
    /// # Errors
    /// The file system.
    pub fn series(&self) -> Result<Vec<Series>, StoreError> {
        let mut out = Vec::new();
        let list = |p: &Path| -> Result<Vec<(String, PathBuf)>, StoreError> {
            match std::fs::read_dir(p) {
                Ok(entries) => Ok(entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(io(p)(e)),
            }
        };
        for (venue, vdir) in list(&self.root)? {
            let Some(venue) = Venue::parse(&venue) else {
                continue;
            };
            for (symbol, sdir) in list(&vdir)? {
                for (interval, _) in list(&sdir)? {
                    if let (Some(interval), Ok(series)) = (
                        Interval::parse(&interval),
                        Series::new(venue, &symbol, Interval(0)),
                    ) {
                        out.push(Series { interval, ..series });
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A series' coverage, bar count, gaps and last bar.
    ///
    /// # Errors
    /// A corrupt file or the file system.
    pub fn summary(&self, s: &Series) -> Result<SeriesSummary, StoreError> {
        let coverage = self.coverage(s)?;
        let bars = match coverage {
            Some(c) => self.read(s, c.from, c.to)?,
            None => Vec::new(),
        };
        let expected = coverage.map_or(0, |c| {
            usize::try_from((c.to - c.from) / s.interval.seconds()).unwrap_or(0)
        });
        Ok(SeriesSummary {
            series: s.label(),
            coverage,
            bars: bars.len(),
            gaps: expected.saturating_sub(bars.len()),
            last_open_time: bars.last().map(|b| b.open_time),
        })
    }
}

/// A unix time in RFC 3339 (UTC).
pub fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Now, unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `YYYY-MM` of a unix time (UTC).
fn month_of(t: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!("{:04}-{:02}", date.year(), u8::from(date.month()))
}

fn read_month(path: &Path) -> Result<Vec<StoredBar>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let corrupt = |row: usize, message: &str| StoreError::Corrupt {
        path: path.display().to_string(),
        message: format!("row {row}: {message}"),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err(corrupt(i + 1, "not six fields"));
        }
        let num = |k: usize| {
            f[k].parse::<f64>()
                .map_err(|_| corrupt(i + 1, "not a number"))
        };
        out.push(StoredBar {
            open_time: f[0]
                .parse()
                .map_err(|_| corrupt(i + 1, "not a unix time"))?,
            open: num(1)?,
            high: num(2)?,
            low: num(3)?,
            close: num(4)?,
            volume: num(5)?,
        });
    }
    Ok(out)
}

/// Writes `bytes` to `path` whole or not at all: a temporary file, flushed, renamed over it,
/// the directory flushed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, p: f64) -> StoredBar {
        StoredBar {
            open_time: t,
            open: p,
            high: p + 1.0,
            low: p - 1.0,
            close: p + 0.5,
            volume: 2.0,
        }
    }

    #[test]
    fn pages_merge_idempotently_and_only_the_coverage_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BarStore::new(tmp.path());
        let s = Series::new(Venue::Binance, "BTCUSDT", Interval::parse("1h").unwrap()).unwrap();
        // Two hours either side of a month's end; one hour the venue has no bar for.
        let t0 = 1_706_745_600 - 2 * 3600; // 2024-01-31 22:00 UTC
        let page: Vec<StoredBar> = [0, 1, 3]
            .iter()
            .map(|k| bar(t0 + k * 3600, 100.0 + *k as f64))
            .collect();
        store.write_page(&s, &page, t0, t0 + 4 * 3600).unwrap();
        let snapshot = |store: &BarStore| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(store.dir(&s))
                .unwrap()
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect();
            files.sort();
            files
        };
        let first = snapshot(&store);
        assert_eq!(
            first.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["2024-01.csv", "2024-02.csv", "coverage.json"]
        );
        store.write_page(&s, &page, t0, t0 + 4 * 3600).unwrap();
        assert_eq!(
            snapshot(&store),
            first,
            "the same page again: the same bytes"
        );
        let sum = store.summary(&s).unwrap();
        assert_eq!((sum.bars, sum.gaps), (3, 1));
        // A hole after the coverage is refused; a bad bar stores nothing.
        assert!(matches!(
            store.write_page(&s, &[], t0 + 10 * 3600, t0 + 11 * 3600),
            Err(StoreError::NotContiguous { .. })
        ));
        let mut bad = bar(t0 + 4 * 3600, 100.0);
        bad.high = 50.0;
        assert!(matches!(
            store.write_page(&s, &[bad], t0 + 4 * 3600, t0 + 5 * 3600),
            Err(StoreError::BadBar { .. })
        ));
        assert_eq!(snapshot(&store), first);
        // Bars written beyond the coverage (a crash before it moved) are not read.
        let dir = store.dir(&s);
        let mut text = std::fs::read_to_string(dir.join("2024-02.csv")).unwrap();
        text.push_str(&format!("{},1,2,0.5,1.5,1\n", t0 + 5 * 3600));
        std::fs::write(dir.join("2024-02.csv"), text).unwrap();
        assert_eq!(store.read(&s, 0, i64::MAX).unwrap().len(), 3);
        assert_eq!(store.series().unwrap(), vec![s.clone()]);
    }
}
