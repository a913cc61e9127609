//! `data download | list | export`: the bar store (`DATA_DIR/market`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use stratagem_actors::bars::venues::{download, follow, VenueClient, VenueUrls};
use stratagem_actors::bars::{iso, BarStore, Interval, Series, Venue};
use stratagem_actors::market::parse_timestamp;
use stratagem_actors::workflow::settings::Settings;

use super::print_json;
use crate::cli::{DataCommand, SeriesArgs};

fn urls(settings: &Settings) -> anyhow::Result<VenueUrls> {
    Ok(VenueUrls::from_settings(settings)?)
}

fn series(a: &SeriesArgs) -> anyhow::Result<Series> {
    let Some(venue) = Venue::parse(&a.venue) else {
        bail!(
            "--venue {:?} is not binance, binance-futures or coinbase",
            a.venue
        );
    };
    let Some(interval) = Interval::parse(&a.interval) else {
        let names: Vec<&str> = Interval::NAMES.iter().map(|(n, _)| *n).collect();
        bail!(
            "--interval {:?} is not one of {}",
            a.interval,
            names.join(", ")
        );
    };
    Ok(Series::new(venue, &a.symbol, interval)?)
}

fn when(flag: &str, text: &str) -> anyhow::Result<i64> {
    parse_timestamp(text.trim()).with_context(|| {
        format!("{flag} {text:?} is not a date (2024-01-01), an RFC 3339 time or unix seconds")
    })
}

pub async fn run(root: &Path, settings: &Settings, cmd: DataCommand) -> anyhow::Result<ExitCode> {
    let store = BarStore::new(root);
    match cmd {
        DataCommand::Download {
            series: args,
            since,
            until,
            json,
        } => {
            let s = series(&args)?;
            let since = when("--since", &since)?;
            let until = until.map(|u| when("--until", &u)).transpose()?;
            let mut client = VenueClient::new(s.venue, urls(settings)?)?;
            let now = stratagem_actors::bars::now();
            let done = download(&store, &mut client, &s, since, until, now).await?;
            if json {
                print_json(&done)?;
            } else {
                say!(
                    "{}: {} bar(s) in {} request(s); the store covers {}",
                    done.series,
                    done.bars,
                    done.requests,
                    done.coverage.map_or("nothing".to_string(), |c| format!(
                        "{} to {}",
                        iso(c.from),
                        iso(c.to)
                    ))
                );
            }
        }
        DataCommand::Funding {
            venue,
            symbol,
            since,
            until,
            json,
        } => {
            let Some(venue) = stratagem_actors::bars::Venue::parse(&venue) else {
                bail!("--venue {venue:?} is not binance");
            };
            let since = when("--since", &since)?;
            let now = stratagem_actors::bars::now();
            let until = until
                .map(|u| when("--until", &u))
                .transpose()?
                .unwrap_or(now);
            let mut client = VenueClient::new(venue, urls(settings)?)?;
            let (rates, requests) = client.funding_history(&symbol, since, until).await?;
            let stored = store.put_funding(venue, &symbol, &rates)?;
            #[derive(serde::Serialize)]
            struct Funded<'a> {
                symbol: &'a str,
                requests: usize,
                rates: usize,
                stored: usize,
                first: Option<String>,
                last: Option<String>,
            }
            let done = Funded {
                symbol: &symbol,
                requests,
                rates: rates.len(),
                stored,
                first: rates.first().map(|r| iso(r.time)),
                last: rates.last().map(|r| iso(r.time)),
            };
            if json {
                print_json(&done)?;
            } else {
                say!(
                    "{symbol}: {} funding rate(s) in {requests} request(s), {} to {}; the store holds {stored}",
                    done.rates,
                    done.first.as_deref().unwrap_or("-"),
                    done.last.as_deref().unwrap_or("-")
                );
            }
        }
        DataCommand::Follow {
            series: args,
            bars,
            json,
        } => {
            let s = series(&args)?;
            if s.venue != Venue::Binance {
                bail!(
                    "data follow streams Binance klines; {} is stored by `data download`",
                    s.label()
                );
            }
            let urls = urls(settings)?;
            let url = format!(
                "{}/{}@kline_{}",
                urls.binance_ws.trim_end_matches('/'),
                s.symbol.to_ascii_lowercase(),
                s.interval.name()
            );
            let mut feed =
                stratagem_actors::stages::feed::KlineFeed::resilient(&url, urls.clone(), 10)
                    .await
                    .with_context(|| format!("cannot open the kline stream {url}"))?;
            let mut client = VenueClient::new(s.venue, urls)?;
            let done = follow(&store, &mut feed, &mut client, &s, bars).await?;
            if json {
                print_json(&done)?;
            } else {
                say!(
                    "{}: {} bar(s) stored ({} request(s) to catch up, {} backfilled after drops)",
                    done.series,
                    done.bars,
                    done.requests,
                    feed.backfilled()
                );
            }
        }
        DataCommand::Update(flags) => {
            let configured = settings.text("MARKETS").unwrap_or_default();
            let mut all = Vec::new();
            for spec in configured
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
            {
                all.push(Series::parse(spec).with_context(|| format!("MARKETS={configured:?}"))?);
            }
            if all.is_empty() {
                bail!("no series to update: MARKETS is empty (e.g. MARKETS=binance/BTCUSDT/1h,coinbase/BTC-USD/1h)");
            }
            let days: i64 = settings.parsed(
                "MARKET_HISTORY_DAYS",
                30,
                |d| (1..=3650).contains(d),
                "a number of days between 1 and 3650",
            )?;
            let urls = urls(settings)?;
            let now = stratagem_actors::bars::now();
            let mut done = Vec::new();
            for s in &all {
                let since = match store.coverage(s)? {
                    Some(c) => c.from,
                    None => now - days * 86_400,
                };
                let mut client = VenueClient::new(s.venue, urls.clone())?;
                done.push(download(&store, &mut client, s, since, None, now).await?);
            }
            if flags.json {
                print_json(&done)?;
            } else {
                for d in &done {
                    say!(
                        "{}: {} new bar(s) in {} request(s)",
                        d.series,
                        d.bars,
                        d.requests
                    );
                }
            }
        }
        DataCommand::List(flags) => {
            let mut all = Vec::new();
            for s in store.series()? {
                all.push(store.summary(&s)?);
            }
            if flags.json {
                print_json(&all)?;
            } else if all.is_empty() {
                say!("no series in {}", store.root().display());
            } else {
                say!(
                    "{:<28} {:>8} {:>6}  {:<25} {:<25} last bar",
                    "series",
                    "bars",
                    "gaps",
                    "from",
                    "to"
                );
                for x in &all {
                    let (from, to) = x
                        .coverage
                        .map_or((String::new(), String::new()), |c| (iso(c.from), iso(c.to)));
                    say!(
                        "{:<28} {:>8} {:>6}  {:<25} {:<25} {}",
                        x.series,
                        x.bars,
                        x.gaps,
                        from,
                        to,
                        x.last_open_time.map(iso).unwrap_or_default()
                    );
                }
            }
        }
        DataCommand::Export {
            series: args,
            format,
            out,
        } => {
            let s = series(&args)?;
            if format != "csv" && format != "parquet" {
                bail!("--format {format:?} is not csv or parquet");
            }
            let bars = store.read(&s, i64::MIN, i64::MAX)?;
            if bars.is_empty() {
                bail!(
                    "the store has no bars of {} (`stratagem data download` first)",
                    s.label()
                );
            }
            if format == "parquet" {
                stratagem_actors::bars::parquet::write(&out, &bars)?;
                say!(
                    "{}: {} bar(s) written to {} (Parquet)",
                    s.label(),
                    bars.len(),
                    out.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut text = String::from("timestamp,open,high,low,close,volume\n");
            for b in &bars {
                text.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    iso(b.open_time),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume
                ));
            }
            std::fs::write(&out, text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            say!(
                "{}: {} bar(s) written to {}",
                s.label(),
                bars.len(),
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
