//! From item to opportunity: plain, rule-based functions (no I/O) that read a paper, post,
//! filing or release and say what trading idea it holds — family, asset class, time frame,
//! the parameters and Sharpe ratio the text states, and the template that fits. Every choice
//! carries the phrase that decided it, so a person can see why.
//!
//! An LLM extractor can sit behind the same [`Extractor`] trait; the rule-based one is the
//! default and the only one built so far.

use serde::Serialize;
use stratagem_events::{OpportunityDiscovered, OpportunityRead, Parameter};
use uuid::Uuid;

use crate::generator::templates;
use crate::sources::{Item, SourceName};

/// A strategy family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Follow recent returns.
    Momentum,
    /// Fade deviations from a mean.
    MeanReversion,
    /// Follow a break of a range.
    Breakout,
    /// Follow a trend (moving averages).
    Trend,
    /// Trade volatility itself.
    Volatility,
    /// Relative value between related instruments.
    StatisticalArbitrage,
    /// Earn a carry (a perpetual's funding against its spot).
    Carry,
    /// Quote both sides, earn the spread.
    MarketMaking,
    /// Trade on text and crowd mood.
    Sentiment,
    /// Trade on announcements, filings, listings, upgrades.
    EventDriven,
    /// Maximal extractable value on-chain.
    Mev,
    /// Nothing recognisable.
    Other,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 12] = [
        Family::Momentum,
        Family::MeanReversion,
        Family::Breakout,
        Family::Trend,
        Family::Volatility,
        Family::StatisticalArbitrage,
        Family::Carry,
        Family::MarketMaking,
        Family::Sentiment,
        Family::EventDriven,
        Family::Mev,
        Family::Other,
    ];

    /// The snake-case name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Momentum => "momentum",
            Family::MeanReversion => "mean_reversion",
            Family::Breakout => "breakout",
            Family::Trend => "trend",
            Family::Volatility => "volatility",
            Family::StatisticalArbitrage => "statistical_arbitrage",
            Family::Carry => "carry",
            Family::MarketMaking => "market_making",
            Family::Sentiment => "sentiment",
            Family::EventDriven => "event_driven",
            Family::Mev => "mev",
            Family::Other => "other",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<Family> {
        let name = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Phrases that indicate the family (matched on whole words, case and hyphens ignored).
    fn phrases(self) -> &'static [&'static str] {
        match self {
            Family::Momentum => &[
                "momentum",
                "rate of change",
                "relative strength",
                "winners minus losers",
                "time series momentum",
            ],
            Family::MeanReversion => &[
                "mean reversion",
                "mean reverting",
                "mean revert",
                "revert",
                "reverts",
                "z score",
                "bollinger",
                "oversold",
                "overbought",
                "standard deviations below",
                "sigma",
            ],
            Family::Breakout => &[
                "breakout",
                "break out",
                "breakouts",
                "donchian",
                "channel break",
                "new high",
                "52 week high",
                "range break",
            ],
            Family::Trend => &[
                "trend following",
                "trend",
                "trends",
                "moving average crossover",
                "moving average",
                "crossover",
                "ema",
                "sma",
                "cta",
            ],
            Family::Volatility => &[
                "volatility",
                "implied volatility",
                "variance",
                "vix",
                "straddle",
                "garch",
                "vol targeting",
                "volatility risk premium",
            ],
            Family::StatisticalArbitrage => &[
                "pairs trading",
                "pairs",
                "cointegration",
                "cointegrated",
                "statistical arbitrage",
                "stat arb",
                "spread trading",
                "triangular arbitrage",
            ],
            Family::Carry => &[
                "carry",
                "funding rate",
                "funding rates",
                "basis trade",
                "cash and carry",
            ],
            Family::MarketMaking => &[
                "market making",
                "market maker",
                "market makers",
                "limit order book",
                "order book",
                "bid ask",
                "quoting",
                "inventory risk",
            ],
            Family::Sentiment => &[
                "sentiment",
                "social media",
                "news",
                "nlp",
                "text mining",
                "tweets",
                "investor attention",
            ],
            Family::EventDriven => &[
                "earnings",
                "announcement",
                "filing",
                "filings",
                "merger",
                "acquisition",
                "hard fork",
                "fork",
                "upgrade",
                "listing",
                "listed",
                "launch",
                "release",
                "ipo",
                "8 k",
                "10 k",
                "restaking",
                "airdrop",
                "halving",
            ],
            Family::Mev => &[
                "mev",
                "sandwich",
                "front running",
                "front run",
                "frontrunning",
                "flashbots",
                "liquidation",
                "liquidations",
                "mempool",
                "backrun",
                "backrunning",
            ],
            Family::Other => &[],
        }
    }
}

/// What the rules read from an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extracted {
    /// Title.
    pub title: String,
    /// The alpha hypothesis in plain words.
    pub hypothesis: String,
    /// Strategy family.
    pub family: Family,
    /// Why that family (the phrases that matched, or the source's nature).
    pub family_reason: String,
    /// Asset class, when the text says.
    pub asset_class: Option<String>,
    /// Time frame, when the text says.
    pub timeframe: Option<String>,
    /// Parameters the text states, named as the template knows them, each with its phrase.
    pub parameters: Vec<(String, f64, String)>,
    /// A Sharpe ratio the text claims.
    pub stated_sharpe: Option<f64>,
    /// The template that fits, if any (the fit's).
    pub template: Option<String>,
    /// What the idea needs to be tested as stated.
    pub needs: stratagem_events::IdeaNeeds,
    /// The template-fit decision over those needs (no model assumed; the caller decides again
    /// with [`templates::decide`] when one is configured).
    pub fit: stratagem_events::IdeaFit,
    /// When a language model read the needs: the model, its reply and the tokens it cost.
    pub read_by: Option<(String, String, u64)>,
}

/// Turns items into opportunities.
pub trait Extractor {
    /// Reads one item.
    fn extract(&self, item: &Item) -> Extracted;
}

/// The rule-based extractor: keyword phrases and number patterns, explainable line by line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleExtractor;

/// Lower-case words, with every non-alphanumeric character a separator (`mean-reversion` and
/// `mean reversion` read the same), padded with spaces for whole-word phrase search.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in text.chars() {
        if c.is_alphanumeric() || c == '.' || c == '%' || c == '/' {
            out.extend(c.to_lowercase());
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    // A sentence-ending full stop is not part of a word.
    let mut out = out.replace(". ", " ");
    if out.ends_with('.') {
        out.pop();
    }
    out.push(' ');
    out
}

fn has(haystack: &str, phrase: &str) -> bool {
    haystack.contains(&format!(" {phrase} "))
}

const ASSET_CLASSES: &[(&str, &[&str])] = &[
    (
        "crypto",
        &[
            "bitcoin",
            "btc",
            "ethereum",
            "eth",
            "crypto",
            "cryptocurrency",
            "cryptocurrencies",
            "defi",
            "stablecoin",
            "blockchain",
            "on chain",
            "token",
            "tokens",
            "solana",
        ],
    ),
    (
        "equities",
        &[
            "stock", "stocks", "equity", "equities", "s p 500", "shares", "nasdaq", "nyse", "10 k",
            "earnings",
        ],
    ),
    (
        "fx",
        &["forex", "fx", "currency", "currencies", "exchange rate"],
    ),
    (
        "futures",
        &["futures", "perpetual", "perpetuals", "perp", "perps"],
    ),
    ("options", &["option", "options", "implied volatility"]),
    (
        "fixed_income",
        &["bond", "bonds", "treasury", "yield curve", "interest rate"],
    ),
    ("commodities", &["gold", "oil", "commodity", "commodities"]),
];

const TIMEFRAMES: &[(&str, &[&str])] = &[
    (
        "intraday",
        &["intraday", "high frequency", "tick", "microstructure"],
    ),
    (
        "minute",
        &["minute", "minutes", "1m", "5m", "1 minute", "5 minute"],
    ),
    ("hourly", &["hourly", "hour", "hours", "1h", "4h"]),
    ("daily", &["daily", "day", "days", "overnight"]),
    ("weekly", &["weekly", "week", "weeks"]),
    ("monthly", &["monthly", "month", "months"]),
];

impl Extractor for RuleExtractor {
    fn extract(&self, item: &Item) -> Extracted {
        extract(item)
    }
}

/// Reads an idea recorded with only a title and a hypothesis (`stratagem submit`).
pub fn extract_text(title: &str, hypothesis: &str) -> Extracted {
    extract(&Item {
        source: SourceName::Manual,
        external_id: String::new(),
        title: title.to_string(),
        text: hypothesis.to_string(),
        url: None,
        published: None,
        fields: Vec::new(),
    })
}

/// Reads one item (see [`RuleExtractor`]).
pub fn extract(item: &Item) -> Extracted {
    let title_n = normalise(&item.title);
    let text_n = normalise(&item.text);
    let (family, family_reason) = family_of(item, &title_n, &text_n);
    let both = format!("{title_n}{text_n}");
    let asset_class = ASSET_CLASSES
        .iter()
        .map(|(class, phrases)| (class, phrases.iter().filter(|p| has(&both, p)).count()))
        .filter(|(_, n)| *n > 0)
        // The first class in the table wins a tie (crypto perpetuals are crypto).
        .fold(None, |best: Option<(&&str, usize)>, (c, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((c, n)),
        })
        .map(|(c, _)| c.to_string())
        .or(match item.source {
            SourceName::Defillama | SourceName::Network => Some("crypto".to_string()),
            SourceName::Edgar => Some("equities".to_string()),
            _ => None,
        });
    let timeframe = TIMEFRAMES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| has(&both, p)))
        .map(|(t, _)| t.to_string());
    let raw = format!("{}\n{}", item.title, item.text);
    let reading = crate::needs::read(family, &both, &raw);
    let named_family = item.field("family").and_then(Family::parse).is_some();
    // A signal rule read in a text about markets says the family, even when no family phrase
    // matched (an RSI rule, a crossover).
    let readable = family != Family::Other || family_reason == NO_PHRASE;
    let (family, family_reason) = match (reading.family, named_family) {
        (Some(f), false) if readable => (
            f,
            format!(
                "its {} rule ({family_reason})",
                reading.signal.unwrap_or_default().replace('_', " ")
            ),
        ),
        _ => (family, family_reason),
    };
    let mut parameters = reading.parameters.clone();
    for (name, value) in item
        .fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("param:")?, v.parse::<f64>().ok()?)))
    {
        parameters.retain(|(n, _, _)| n != name);
        parameters.push((
            name.to_string(),
            value,
            "given in the idea file".to_string(),
        ));
    }
    let needs = stratagem_events::IdeaNeeds {
        family: family.as_str().to_string(),
        legs: reading.legs,
        leg_count: reading.leg_count,
        data: reading.data.iter().map(|d| d.to_string()).collect(),
        timeframe: timeframe.clone(),
        orders: reading.orders.iter().map(|o| o.to_string()).collect(),
        signal: reading.signal.map(str::to_string),
        rules: reading.rules,
        parameters: parameters
            .iter()
            .map(|(name, value, _)| Parameter {
                name: name.clone(),
                value: *value,
            })
            .collect(),
    };
    let fit = templates::decide(&needs, item.field("template"), false);
    let template = fit.template.clone();
    let hypothesis = if item.text.trim().is_empty() {
        item.title.clone()
    } else {
        item.text.clone()
    };
    Extracted {
        title: item.title.clone(),
        hypothesis,
        family,
        family_reason,
        asset_class,
        timeframe,
        parameters,
        stated_sharpe: stated_sharpe(&both),
        template,
        needs,
        fit,
        read_by: None,
    }
}

/// Words that say a text is about trading or markets at all. A paper on software testing
/// that mentions a "trend" is not a trend-following idea.
const MARKET_CONTEXT: &[&str] = &[
    "trading",
    "trade",
    "trades",
    "trader",
    "traders",
    "market",
    "markets",
    "price",
    "prices",
    "returns",
    "return",
    "portfolio",
    "portfolios",
    "asset",
    "assets",
    "stock",
    "stocks",
    "equity",
    "equities",
    "crypto",
    "bitcoin",
    "btc",
    "eth",
    "ethereum",
    "futures",
    "options",
    "alpha",
    "hedge",
    "investment",
    "investor",
    "investors",
    "volatility",
    "liquidity",
    "arbitrage",
    "sharpe",
    "backtest",
    "backtesting",
    "defi",
    "token",
    "forex",
    "exchange",
    "quant",
    "quantitative finance",
    "order book",
    "execution",
    "buy",
    "sell",
    "coins",
    "solana",
    "mempool",
    "swaps",
    "uniswap",
];

/// The family reason of a text about markets in which no family phrase matched.
const NO_PHRASE: &str = "no trading phrase matched";

fn family_of(item: &Item, title: &str, text: &str) -> (Family, String) {
    if let Some(f) = item.field("family").and_then(Family::parse) {
        return (f, "named in the idea".to_string());
    }
    let about_markets = MARKET_CONTEXT.iter().any(|w| has(title, w) || has(text, w))
        || matches!(
            item.source,
            SourceName::Edgar | SourceName::Network | SourceName::Defillama
        );
    if !about_markets {
        return (Family::Other, "not about trading or markets".to_string());
    }
    let mut best: Option<(Family, f64, Vec<&str>)> = None;
    for family in Family::ALL {
        let mut score = 0.0;
        let mut matched = Vec::new();
        for p in family.phrases() {
            let weight = if has(title, p) {
                2.0
            } else if has(text, p) {
                1.0
            } else {
                continue;
            };
            // Longer phrases are more specific than single words.
            score += weight * (1.0 + 0.5 * p.matches(' ').count() as f64);
            matched.push(*p);
        }
        if score > best.as_ref().map_or(0.0, |b| b.1) {
            best = Some((family, score, matched));
        }
    }
    let prior = match item.source {
        SourceName::Edgar => Some("an SEC filing is an event"),
        SourceName::Network => Some("a client release is a network event"),
        SourceName::Defillama => Some("a new protocol listing is an event"),
        _ => None,
    };
    match (best, prior) {
        (Some((f, score, matched)), _) if score >= 2.0 || prior.is_none() => (
            f,
            format!(
                "matched {}",
                matched
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (_, Some(why)) => (Family::EventDriven, why.to_string()),
        (_, None) => (Family::Other, NO_PHRASE.to_string()),
    }
}

/// A Sharpe ratio the text claims: the first number within four words after "sharpe".
fn stated_sharpe(text: &str) -> Option<f64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == "sharpe")
        .find_map(|(i, _)| {
            words[i + 1..]
                .iter()
                .take(4)
                .find_map(|w| w.trim_end_matches('.').parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > -10.0 && *v < 20.0)
        })
}

/// The reading of an opportunity as its event: what it needs and the fit decision.
pub fn read_event(x: &Extracted, id: Uuid) -> OpportunityRead {
    let (extractor, model, reply, tokens_used) = match &x.read_by {
        Some((model, reply, tokens)) => (
            "model",
            Some(model.clone()),
            Some(reply.clone().into()),
            *tokens,
        ),
        None => ("rules", None, None, 0),
    };
    OpportunityRead {
        opportunity_id: id,
        extractor: extractor.into(),
        model,
        needs: x.needs.clone(),
        fit: x.fit.clone(),
        reply,
        tokens_used,
    }
}

impl Extracted {
    /// The template the idea named, when the fit took it by name.
    pub fn fit_named(&self) -> Option<&str> {
        self.fit
            .reason
            .ends_with("named in the idea")
            .then_some(self.fit.template.as_deref())
            .flatten()
    }
}

/// The event of a new opportunity from an item and what was read from it.
pub fn to_event(item: &Item, x: &Extracted, id: Uuid) -> OpportunityDiscovered {
    OpportunityDiscovered {
        opportunity_id: id,
        source: item.source.as_str().to_string(),
        external_id: Some(item.external_id.clone()),
        title: x.title.clone().into(),
        hypothesis: x.hypothesis.clone().into(),
        url: item.url.clone(),
        family: Some(x.family.as_str().to_string()),
        asset_class: x.asset_class.clone(),
        timeframe: x.timeframe.clone(),
        parameters: x
            .parameters
            .iter()
            .map(|(name, value, _)| Parameter {
                name: name.clone(),
                value: *value,
            })
            .collect(),
        stated_sharpe: x.stated_sharpe,
        template: x.template.clone(),
        parent_strategy_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(source: SourceName, title: &str, text: &str) -> Item {
        Item {
            source,
            external_id: "x".into(),
            title: title.into(),
            text: text.into(),
            url: None,
            published: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn families_parameters_and_sharpe_are_read_from_the_text() {
        let check = |source,
                     title: &str,
                     text: &str,
                     family: Family,
                     template: Option<&str>,
                     params: &[(&str, f64)],
                     sharpe: Option<f64>| {
            let x = extract(&item(source, title, text));
            assert_eq!(x.family, family, "{title}: {}", x.family_reason);
            assert_eq!(x.template.as_deref(), template, "{title}");
            let got: Vec<(&str, f64)> = x
                .parameters
                .iter()
                .map(|(n, v, _)| (n.as_str(), *v))
                .collect();
            assert_eq!(got, params, "{title}");
            assert_eq!(x.stated_sharpe, sharpe, "{title}");
        };
        check(
            SourceName::Arxiv,
            "Time-Series Momentum in Cryptocurrency Markets",
            "A 48-hour look-back with a 2% threshold earns a Sharpe ratio of 1.4.",
            Family::Momentum,
            Some("momentum"),
            &[("lookback", 48.0), ("threshold", 0.02)],
            Some(1.4),
        );
        // A stated stop-loss or take-profit is not the threshold; the other percentage is.
        check(
            SourceName::Reddit,
            "Momentum on BTC with a stop",
            "A 24-hour look-back, 1% threshold, a 2% stop loss and a take profit at 6%.",
            Family::Momentum,
            Some("momentum"),
            &[
                ("stop_loss", 0.02),
                ("take_profit", 0.06),
                ("lookback", 24.0),
                ("threshold", 0.01),
            ],
            None,
        );
        check(
            SourceName::Reddit,
            "Mean-reversion on BTC",
            "Buy when price is 2 standard deviations below the 20-day mean.",
            Family::MeanReversion,
            Some("mean_reversion"),
            &[("lookback", 480.0), ("entry_z", 2.0)],
            None,
        );
        check(
            SourceName::Twitter,
            "Donchian breakout works on ETH",
            "20-bar channel breakout",
            Family::Breakout,
            Some("donchian_breakout"),
            &[("channel", 20.0)],
            None,
        );
        check(
            SourceName::Arxiv,
            "Trend following with a 12/48 moving average crossover",
            "Backtested on equity index futures.",
            Family::Trend,
            Some("ma_crossover"),
            &[("fast", 12.0), ("slow", 48.0), ("exponential", 0.0)],
            None,
        );
        check(
            SourceName::Arxiv,
            "Optimal market making in a limit order book",
            "inventory risk",
            Family::MarketMaking,
            None,
            &[],
            None,
        );
        check(
            SourceName::Reddit,
            "Ulberg on Jiri showing mercy",
            "https://x.com/status/1",
            Family::Other,
            None,
            &[],
            None,
        );
        // A "trend" in a paper about software testing is not a trading idea.
        check(
            SourceName::Arxiv,
            "A Survey on Web Testing",
            "the trend towards AI in testing",
            Family::Other,
            None,
            &[],
            None,
        );
        check(
            SourceName::Edgar,
            "8-K - Coinbase Global, Inc. (Filer)",
            "Filed 2021-04-16",
            Family::EventDriven,
            None,
            &[],
            None,
        );
        check(
            SourceName::Network,
            "ethereum/go-ethereum release v1.14.0",
            "",
            Family::EventDriven,
            None,
            &[],
            None,
        );
    }

    #[test]
    fn asset_class_and_timeframe() {
        let x = extract(&item(
            SourceName::Reddit,
            "Hourly BTC momentum",
            "bitcoin perpetual futures",
        ));
        assert_eq!(x.asset_class.as_deref(), Some("crypto"));
        assert_eq!(x.timeframe.as_deref(), Some("hourly"));
        let x = extract(&item(SourceName::Edgar, "10-K - INTEL CORP", ""));
        assert_eq!(x.asset_class.as_deref(), Some("equities"));
    }
}
