//! Instruments: which configured series (`MARKETS`) an opportunity trades. Its asset is read
//! from its title and hypothesis (`bitcoin`, `BTC` → BTC; `ethereum`, `ETH` → ETH; …), its
//! time frame from the extractor's (`minute`, `hourly`, `daily`, …). The series whose symbol
//! is that asset's, with an interval of that time frame, is chosen; else one of that asset;
//! else the default (`STAGE_MARKET`, else the first of `MARKETS`). The choice is a function of
//! the opportunity's recorded text and the settings, and the series a run used is on its marks.

use super::Series;

/// Base assets and the words that name them.
const ASSETS: &[(&str, &[&str])] = &[
    ("BTC", &["bitcoin", "btc", "xbt"]),
    ("ETH", &["ethereum", "eth", "ether"]),
    ("SOL", &["solana", "sol"]),
    ("BNB", &["bnb", "binance coin"]),
    ("XRP", &["xrp", "ripple"]),
    ("ADA", &["cardano", "ada"]),
    ("DOGE", &["dogecoin", "doge"]),
    ("AVAX", &["avalanche", "avax"]),
    ("LINK", &["chainlink"]),
    ("DOT", &["polkadot"]),
];

/// Words of `text`, lowercased, split on anything not a letter or a digit.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The base asset `text` names most often (the first in the table on a tie), if any.
pub fn asset_of(text: &str) -> Option<&'static str> {
    let words = words(text);
    let joined = format!(" {} ", words.join(" "));
    ASSETS
        .iter()
        .map(|(asset, names)| {
            let n: usize = names
                .iter()
                .map(|name| joined.matches(&format!(" {name} ")).count())
                .sum();
            (*asset, n)
        })
        .filter(|(_, n)| *n > 0)
        .fold(
            None,
            |best: Option<(&'static str, usize)>, (a, n)| match best {
                Some((_, m)) if m >= n => best,
                _ => Some((a, n)),
            },
        )
        .map(|(a, _)| a)
}

/// The base assets `text` names, in the order it first names them.
pub fn assets_named(text: &str) -> Vec<&'static str> {
    let words = words(text);
    let mut first: Vec<(usize, &'static str)> = ASSETS
        .iter()
        .filter_map(|(asset, names)| {
            let at = words.iter().position(|w| names.contains(&w.as_str()));
            // Two-word names ("binance coin").
            let at = at.or_else(|| {
                names.iter().filter(|n| n.contains(' ')).find_map(|n| {
                    let parts: Vec<&str> = n.split(' ').collect();
                    words
                        .windows(parts.len())
                        .position(|w| w.iter().zip(&parts).all(|(a, b)| a == b))
                })
            });
            at.map(|i| (i, *asset))
        })
        .collect();
    first.sort();
    first.into_iter().map(|(_, a)| a).collect()
}

/// The intervals of a time frame the extractor names, preferred first.
fn intervals_of(timeframe: Option<&str>) -> &'static [&'static str] {
    match timeframe {
        Some("intraday") => &["1m", "5m", "15m", "1h"],
        Some("minute") => &["1m", "5m", "15m"],
        Some("hourly") => &["1h", "4h"],
        Some("daily") => &["1d"],
        Some("weekly") => &["1w", "1d"],
        Some("monthly") => &["1M", "1w", "1d"],
        _ => &[],
    }
}

/// Whether `symbol` (`BTCUSDT`, `BTC-USD`) is of the base asset `asset`.
fn of_asset(symbol: &str, asset: &str) -> bool {
    let s = symbol.to_ascii_uppercase();
    s.strip_prefix(asset)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-') || rest.len() >= 3)
        && !ASSETS
            .iter()
            .any(|(other, _)| other.len() > asset.len() && s.starts_with(other))
}

/// The series of `markets` an opportunity with `text` and `timeframe` trades, and why; the
/// `default` when none is of its asset.
pub fn choose(
    markets: &[Series],
    default: &Series,
    text: &str,
    timeframe: Option<&str>,
) -> (Series, String) {
    let Some(asset) = asset_of(text) else {
        return (
            default.clone(),
            format!("no asset named: the default {}", default.label()),
        );
    };
    let same: Vec<&Series> = markets
        .iter()
        .filter(|s| of_asset(&s.symbol, asset))
        .collect();
    for interval in intervals_of(timeframe) {
        if let Some(s) = same.iter().find(|s| s.interval.name() == *interval) {
            return (
                (*s).clone(),
                format!("{asset}, {} bars", timeframe.unwrap_or_default()),
            );
        }
    }
    match same.first() {
        Some(s) => ((*s).clone(), asset.to_string()),
        None => (
            default.clone(),
            format!(
                "{asset} is in no configured series (MARKETS): the default {}",
                default.label()
            ),
        ),
    }
}

/// The configured series of each leg of a strategy over several series: for each instrument
/// the idea names (`ETH-USDT`, `BTC-USDT`, `BTC-PERP`), in its order, the series of `markets`
/// of its base asset at `interval` (the legs are aligned by time, so they share one) — of a
/// perpetuals' venue (`binance-futures`) for a perpetual, of a spot venue otherwise. Else why
/// not: a leg without an instrument, or an instrument no series of that interval is of.
pub fn legs_series(
    markets: &[Series],
    instruments: &[String],
    count: usize,
    interval: &str,
) -> Result<Vec<Series>, String> {
    if instruments.len() < count {
        return Err(format!(
            "it trades {count} series but the idea names {} instrument(s) ({}): no series can be chosen for the others",
            instruments.len(),
            instruments.join(", ")
        ));
    }
    let mut out = Vec::with_capacity(count);
    for leg in &instruments[..count] {
        let upper = leg.to_ascii_uppercase();
        let perpetual = upper.ends_with("-PERP");
        let asset = upper.split(['-', '/']).next().unwrap_or_default();
        let found = markets.iter().find(|s| {
            of_asset(&s.symbol, asset)
                && s.interval.name() == interval
                && s.venue.perpetual() == perpetual
        });
        match found {
            Some(s) if !out.contains(s) => out.push(s.clone()),
            Some(s) => return Err(format!("two of its legs are the one series {}", s.label())),
            None => {
                let (kind, venue) = if perpetual {
                    ("perpetual", "binance-futures")
                } else {
                    ("spot", "binance")
                };
                return Err(format!(
                    "no {kind} series of {asset} at {interval} is in MARKETS for its leg {leg} (add one, e.g. {venue}/{asset}USDT/{interval})"
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(spec: &str) -> Series {
        Series::parse(spec).unwrap()
    }

    #[test]
    fn each_leg_trades_the_series_of_its_asset_at_one_interval_else_why_not() {
        let markets = [
            series("binance/BTCUSDT/1h"),
            series("binance/ETHUSDT/1m"),
            series("binance/ETHUSDT/1h"),
        ];
        let legs = |names: &[&str], n: usize, interval: &str| {
            let names: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
            legs_series(&markets, &names, n, interval)
                .map(|v| v.iter().map(Series::label).collect::<Vec<_>>())
        };
        assert_eq!(
            legs(&["ETH-USDT", "BTC-USDT"], 2, "1h").unwrap(),
            ["binance/ETHUSDT/1h", "binance/BTCUSDT/1h"]
        );
        assert!(legs(&["ETH-USDT", "BTC-USDT"], 2, "1m")
            .unwrap_err()
            .contains("no spot series of BTC at 1m"));
        assert!(legs(&["BTC-USDT-PERP", "BTC-USDT"], 2, "1h")
            .unwrap_err()
            .contains("no perpetual series of BTC at 1h is in MARKETS for its leg BTC-USDT-PERP (add one, e.g. binance-futures/BTCUSDT/1h)"));
        let with_perp = [
            series("binance-futures/BTCUSDT/1h"),
            series("binance/BTCUSDT/1h"),
        ];
        let carry: Vec<String> = vec!["BTC-PERP".into(), "BTC".into()];
        assert_eq!(
            legs_series(&with_perp, &carry, 2, "1h")
                .unwrap()
                .iter()
                .map(Series::label)
                .collect::<Vec<_>>(),
            ["binance-futures/BTCUSDT/1h", "binance/BTCUSDT/1h"]
        );
        assert!(legs(&["ETH-USDT"], 2, "1h")
            .unwrap_err()
            .contains("names 1 instrument"));
        assert!(legs(&["BTC-USDT", "BTC-USD"], 2, "1h")
            .unwrap_err()
            .contains("two of its legs"));
        assert!(legs(&["SOL-USDT", "BTC-USDT"], 2, "1h")
            .unwrap_err()
            .contains("binance/SOLUSDT/1h"));
    }

    #[test]
    fn an_idea_trades_the_series_of_its_asset_and_time_frame_else_the_default() {
        let markets = [
            series("binance/BTCUSDT/1h"),
            series("binance/ETHUSDT/1h"),
            series("binance/ETHUSDT/1m"),
            series("coinbase/SOL-USD/1h"),
        ];
        let default = &markets[0];
        let pick = |text: &str, tf: Option<&str>| choose(&markets, default, text, tf).0.label();
        assert_eq!(
            pick("Momentum in Ethereum after upgrades", None),
            "binance/ETHUSDT/1h"
        );
        assert_eq!(
            pick("ETH minute bars mean reversion", Some("minute")),
            "binance/ETHUSDT/1m"
        );
        assert_eq!(
            pick("Solana breakout", Some("daily")),
            "coinbase/SOL-USD/1h"
        );
        assert_eq!(pick("Bitcoin trend following", None), "binance/BTCUSDT/1h");
        // Not an asset of any series, or none named: the default.
        assert_eq!(pick("Dogecoin carry", None), "binance/BTCUSDT/1h");
        assert_eq!(pick("Value in equities", None), "binance/BTCUSDT/1h");
        // A word inside another is not the asset ("method" has no "eth" word).
        assert_eq!(asset_of("a new method, together"), None);
        // The asset named most wins.
        assert_eq!(
            asset_of("ETH/BTC pairs: ethereum leads bitcoin? eth"),
            Some("ETH")
        );
    }
}
