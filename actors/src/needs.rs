//! What an idea needs to be tested as stated, read by rules from its words: the legs it
//! trades, the data kinds it reads, its signal rule, the order types it uses, and the rules
//! and numbers it states (a stop-loss, a holding period, long only, …). Each rule keeps the
//! words it was read from. Plain functions, no I/O; the text is [`crate::extract`]'s
//! normalised form (lower case, words separated by single spaces, `.` `%` `/` kept).

use stratagem_events::StatedRule;

use crate::extract::Family;

/// What the rules read of an idea's needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The family its signal rule belongs to, when the rule says more than the phrases did
    /// (an RSI rule is a reverting one whatever else the text says).
    pub family: Option<Family>,
    /// The signal rule.
    pub signal: Option<&'static str>,
    /// The instruments named, one per leg (`BTC`, `ETH`, `BTC-PERP`).
    pub legs: Vec<String>,
    /// How many legs it trades.
    pub leg_count: u32,
    /// Data kinds.
    pub data: Vec<&'static str>,
    /// Order types beyond market orders.
    pub orders: Vec<&'static str>,
    /// Rules stated.
    pub rules: Vec<StatedRule>,
    /// Numbers, named as the templates know them, each with its phrase.
    pub parameters: Vec<(String, f64, String)>,
}

fn has(haystack: &str, phrase: &str) -> bool {
    haystack.contains(&format!(" {phrase} "))
}

/// The first of `phrases` in `text`, if any.
fn first_of<'a>(text: &str, phrases: &[&'a str]) -> Option<&'a str> {
    phrases.iter().copied().find(|p| has(text, p))
}

/// Signal rules, most specific first: each with the phrases that state it and the family it
/// belongs to.
const SIGNALS: &[(&str, Family, &[&str])] = &[
    (
        "funding_carry",
        Family::Carry,
        &[
            "funding rate carry",
            "funding carry",
            "funding rate arbitrage",
            "funding arbitrage",
            "cash and carry",
            "basis trade",
            "collect funding",
            "collect the funding",
            "earn funding",
            "earn the funding",
            "funding rate",
            "funding rates",
        ],
    ),
    (
        "spread_zscore",
        Family::StatisticalArbitrage,
        &[
            "pairs trading",
            "pairs trade",
            "pair trade",
            "pair trading",
            "cointegration",
            "cointegrated",
            "spread between",
            "spread of",
            "ratio between",
            "statistical arbitrage",
            "stat arb",
            "relative value",
        ],
    ),
    (
        "rsi",
        Family::MeanReversion,
        &["rsi", "relative strength index"],
    ),
    (
        "vol_target",
        Family::Trend,
        &[
            "volatility target",
            "volatility targeting",
            "volatility targeted",
            "vol target",
            "vol targeting",
            "volatility scaled",
            "scaled to a volatility target",
        ],
    ),
    (
        "channel_breakout",
        Family::Breakout,
        &[
            "donchian",
            "channel breakout",
            "channel break",
            "breakout",
            "breakouts",
            "break out",
            "new high",
            "new highs",
            "range break",
        ],
    ),
    (
        "zscore",
        Family::MeanReversion,
        &[
            "z score",
            "zscore",
            "standard deviations",
            "standard deviation",
            "bollinger",
            "sigma",
        ],
    ),
    (
        "reversal",
        Family::MeanReversion,
        &[
            "short term reversal",
            "short term reversals",
            "reversal effect",
            "buy the losers",
            "buy yesterday s losers",
            "fade the previous",
            "fade the last",
            "fade yesterday",
        ],
    ),
    (
        "ma_crossover",
        Family::Trend,
        &[
            "moving average crossover",
            "moving average cross",
            "moving averages cross",
            "crossover",
            "crosses above",
            "crosses below",
            "golden cross",
            "death cross",
            "moving average",
            "moving averages",
            "sma",
            "ema",
        ],
    ),
    (
        "rate_of_change",
        Family::Momentum,
        &[
            "rate of change",
            "time series momentum",
            "momentum",
            "past return",
            "trailing return",
        ],
    ),
];

/// Data kinds beyond bars, and the phrases that say an idea reads them.
const DATA: &[(&str, &[&str])] = &[
    (
        "funding_rate",
        &["funding", "funding rate", "funding rates"],
    ),
    (
        "order_book",
        &[
            "order book",
            "limit order book",
            "bid ask",
            "order flow imbalance",
            "queue position",
            "market making",
            "market maker",
            "quoting",
            "depth",
        ],
    ),
    (
        "text",
        &[
            "sentiment",
            "tweets",
            "tweet",
            "news",
            "headlines",
            "social media",
            "nlp",
            "text mining",
            "google trends",
        ],
    ),
    (
        "on_chain",
        &[
            "on chain",
            "mempool",
            "gas",
            "whale",
            "whales",
            "wallet",
            "wallets",
            "tvl",
            "exchange inflows",
            "exchange outflows",
            "stablecoin flows",
        ],
    ),
    (
        "options",
        &[
            "option",
            "options",
            "implied volatility",
            "straddle",
            "straddles",
            "vix",
        ],
    ),
    (
        "fundamentals",
        &[
            "earnings",
            "filing",
            "filings",
            "balance sheet",
            "fundamental",
            "fundamentals",
            "book to market",
        ],
    ),
];

/// Rules an idea states in so many words (no number), and the words that state them.
const WORDED_RULES: &[(&str, &[&str])] = &[
    (
        "volatility_filter",
        &[
            "volatility filter",
            "above its recent volatility",
            "volatility regime filter",
            "only when volatility",
            "low volatility regime",
            "high volatility regime",
        ],
    ),
    (
        "rebalance",
        &[
            "rebalance daily",
            "rebalance weekly",
            "rebalance monthly",
            "rebalanced daily",
            "rebalanced weekly",
            "rebalanced monthly",
            "rebalance every",
        ],
    ),
    (
        "hedge",
        &[
            "hedge ratio",
            "hedged with",
            "hedge with",
            "delta neutral",
            "delta hedged",
            "market neutral",
            "beta neutral",
        ],
    ),
];

/// Numbers and the words beside them: (value, next word or `%`, previous word, index).
fn numbers(text: &str) -> Vec<(f64, &str, &str, usize)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_end_matches('.');
        let (num, pct) = match w.strip_suffix('%') {
            Some(n) => (n, true),
            None => (w, false),
        };
        // `10x` leverage.
        let num = num.strip_suffix('x').unwrap_or(num);
        if let Ok(v) = num.parse::<f64>() {
            if v.is_finite() {
                let next = if pct {
                    "%"
                } else if w.ends_with('x') {
                    "x"
                } else {
                    words.get(i + 1).copied().unwrap_or("")
                };
                let prev = if i > 0 { words[i - 1] } else { "" };
                out.push((v, next, prev, i));
            }
        }
    }
    out
}

/// Bars of the hourly data the stages run on in one `unit`, if it is a unit of time or bars.
fn hours_in(unit: &str) -> Option<f64> {
    Some(match unit {
        "hour" | "hours" | "hourly" | "bar" | "bars" | "period" | "periods" | "h" | "candle"
        | "candles" => 1.0,
        "day" | "days" | "d" => 24.0,
        "week" | "weeks" | "w" => 168.0,
        "minute" | "minutes" | "min" => 1.0 / 60.0,
        _ => return None,
    })
}

/// Reads the needs of an idea of `family` from its normalised text.
pub fn read(family: Family, text: &str, raw: &str) -> Reading {
    let words: Vec<&str> = text.split_whitespace().collect();
    let nums = numbers(text);
    let mut rules: Vec<StatedRule> = Vec::new();
    let mut params: Vec<(String, f64, String)> = Vec::new();
    let put = |params: &mut Vec<(String, f64, String)>, name: &str, value: f64, why: String| {
        if !params.iter().any(|(n, _, _)| n == name) {
            params.push((name.to_string(), value, why));
        }
    };
    let mut used: Vec<usize> = Vec::new();

    // The signal rule, and its family.
    let signal = SIGNALS
        .iter()
        .find(|(_, _, phrases)| phrases.iter().any(|p| has(text, p)));
    let signal_family = signal.map(|(_, f, _)| *f);
    let signal_name = signal.map(|(s, _, _)| *s);

    // Stop-loss and take-profit: the percentage nearest a word starting "stop" or "take" /
    // "target" / "profit" (within four words); never a number already claimed.
    let percents: Vec<(f64, usize)> = nums
        .iter()
        .filter(|(v, unit, _, _)| *unit == "%" && *v > 0.0 && *v <= 500.0)
        .map(|(v, _, _, i)| (*v, *i))
        .collect();
    let nearest_percent = |keys: &[&str], max: f64, used: &[usize]| {
        words
            .iter()
            .enumerate()
            .filter(|(_, w)| keys.iter().any(|k| w.starts_with(k)))
            .filter_map(|(k, _)| {
                percents
                    .iter()
                    .filter(|(v, i)| *v <= max && i.abs_diff(k) <= 4 && !used.contains(i))
                    .min_by_key(|(_, i)| i.abs_diff(k))
                    .copied()
            })
            .next()
    };
    let trailing = has(text, "trailing stop") || has(text, "trailing stop loss");
    if let Some((v, i)) = nearest_percent(&["stop"], 50.0, &used) {
        used.push(i);
        let rule = if trailing {
            "trailing_stop"
        } else {
            "stop_loss"
        };
        rules.push(StatedRule {
            rule: rule.into(),
            value: Some(v / 100.0),
            phrase: format!("'{v}%' {}", if trailing { "trailing stop" } else { "stop" }),
        });
        if !trailing {
            put(
                &mut params,
                "stop_loss",
                v / 100.0,
                format!("'{v}% stop' → stop_loss {}", v / 100.0),
            );
        }
    } else if trailing {
        rules.push(StatedRule {
            rule: "trailing_stop".into(),
            value: None,
            phrase: "'trailing stop'".into(),
        });
    }
    if let Some((v, i)) = nearest_percent(&["take", "profit"], 500.0, &used) {
        used.push(i);
        rules.push(StatedRule {
            rule: "take_profit".into(),
            value: Some(v / 100.0),
            phrase: format!("'{v}%' take-profit"),
        });
        put(
            &mut params,
            "take_profit",
            v / 100.0,
            format!("'{v}% take profit' → take_profit {}", v / 100.0),
        );
    }

    // A holding period: a span within three words after "hold"/"holding"/"exit after"/"close
    // after"/"for", or before "holding period".
    let holding = nums.iter().find(|(v, unit, prev, i)| {
        let Some(h) = hours_in(unit) else {
            return false;
        };
        if *v <= 0.0 || v * h > 10_000.0 {
            return false;
        }
        let before = &words[i.saturating_sub(3)..*i];
        let after = words.get(i + 2..(i + 4).min(words.len())).unwrap_or(&[]);
        before
            .iter()
            .any(|w| matches!(*w, "hold" | "holds" | "holding" | "held"))
            || *prev == "after"
            || after.contains(&"holding")
            || after.contains(&"hold")
    });
    if let Some((v, unit, _, i)) = holding {
        let bars = (v * hours_in(unit).unwrap_or(1.0)).round().max(1.0);
        used.push(*i);
        rules.push(StatedRule {
            rule: "holding_period".into(),
            value: Some(bars),
            phrase: format!("'{v} {unit}' held"),
        });
        put(
            &mut params,
            "max_hold",
            bars,
            format!("'{v} {unit}' held → max_hold {bars} bars"),
        );
    }

    // Look-backs: spans not claimed by the holding period.
    let lookbacks: Vec<(f64, String, usize)> = nums
        .iter()
        .filter(|(_, _, _, i)| !used.contains(i))
        .filter_map(|(v, unit, _, i)| {
            let h = hours_in(unit)?;
            (*v >= 1.0 && v * h <= 10_000.0 && v * h >= 1.0)
                .then(|| ((v * h).round(), format!("'{v} {unit}'"), *i))
        })
        .collect();
    let sigma = nums
        .iter()
        .filter(|(_, _, _, i)| !used.contains(i))
        .find(|(v, unit, prev, i)| {
            (matches!(
                *unit,
                "standard" | "sigma" | "std" | "sd" | "stdev" | "deviations" | "deviation"
            ) || *prev == "score"
                || *prev == "z"
                || *prev == "zscore"
                || (*prev == "of"
                    && i.checked_sub(2)
                        .is_some_and(|j| matches!(words[j], "score" | "zscore"))))
                && v.abs() > 0.0
                && v.abs() <= 6.0
        })
        .map(|(v, unit, _, i)| (v.abs(), format!("'{v} {unit}'"), *i));
    let free_percent = |used: &[usize]| {
        percents
            .iter()
            .find(|(v, i)| *v <= 50.0 && !used.contains(i))
            .copied()
    };

    let family_now = signal_family.unwrap_or(family);
    match signal_name {
        Some("rate_of_change") | None if family_now == Family::Momentum => {
            if let Some((v, why, _)) = lookbacks.first() {
                put(
                    &mut params,
                    "lookback",
                    *v,
                    format!("{why} → lookback {v} bars"),
                );
            }
            if let Some((v, i)) = free_percent(&used) {
                used.push(i);
                put(
                    &mut params,
                    "threshold",
                    v / 100.0,
                    format!("'{v}%' → threshold {}", v / 100.0),
                );
            }
        }
        Some("zscore" | "spread_zscore") | None
            if matches!(
                family_now,
                Family::MeanReversion | Family::StatisticalArbitrage
            ) =>
        {
            if let Some((v, why, _)) = lookbacks.first() {
                put(
                    &mut params,
                    "lookback",
                    *v,
                    format!("{why} → lookback {v} bars"),
                );
            }
            if let Some((v, why, _)) = &sigma {
                put(&mut params, "entry_z", *v, format!("{why} → entry_z {v}"));
            }
            // "exit at 0.5", "exit when the z score is back within 0.5".
            if let Some(v) =
                number_after(&words, &["exit", "exits", "back", "within"], 6, 0.0..=2.0)
            {
                put(
                    &mut params,
                    "exit_z",
                    v,
                    format!("'exit … {v}' → exit_z {v}"),
                );
            }
        }
        Some("channel_breakout") => {
            if let Some((v, why, _)) = lookbacks.first() {
                put(
                    &mut params,
                    "channel",
                    *v,
                    format!("{why} → channel {v} bars"),
                );
            }
        }
        Some("ma_crossover" | "vol_target") | None
            if matches!(family_now, Family::Trend | Family::Volatility) =>
        {
            // "20/100 moving average" or two look-backs: the shorter is fast.
            let pair = words.iter().enumerate().find_map(|(i, w)| {
                let (a, b) = w.split_once('/')?;
                let a = a.parse::<f64>().ok()?;
                let b = b.parse::<f64>().ok()?;
                let unit = words.get(i + 1).copied().unwrap_or("");
                let h = hours_in(unit).unwrap_or(1.0);
                Some((a * h, b * h, format!("'{a}/{b} {unit}'")))
            });
            let two = match (pair, lookbacks.as_slice()) {
                (Some((a, b, why)), _) => Some((a.min(b), a.max(b), why)),
                (None, [(a, wa, _), (b, wb, _), ..]) => {
                    Some((a.min(*b), a.max(*b), format!("{wa} and {wb}")))
                }
                _ => None,
            };
            if let Some((fast, slow, why)) = two.filter(|(f, s, _)| f < s) {
                put(
                    &mut params,
                    "fast",
                    fast,
                    format!("{why} → fast {fast} bars"),
                );
                put(
                    &mut params,
                    "slow",
                    slow,
                    format!("{why} → slow {slow} bars"),
                );
            }
            if signal_name == Some("vol_target") {
                if let Some((v, i)) = free_percent(&used) {
                    used.push(i);
                    put(
                        &mut params,
                        "target_vol",
                        v / 100.0,
                        format!("'{v}%' → target_vol {}", v / 100.0),
                    );
                }
            }
            if signal_name == Some("ma_crossover") {
                let exponential = has(text, "ema")
                    || has(text, "exponential")
                    || has(text, "exponential moving average");
                put(
                    &mut params,
                    "exponential",
                    if exponential { 1.0 } else { 0.0 },
                    if exponential {
                        "'exponential' → exponential averages".into()
                    } else {
                        "no 'exponential' stated → simple averages".into()
                    },
                );
            }
        }
        Some("rsi") => {
            if let Some((v, why, _)) = lookbacks.first() {
                put(
                    &mut params,
                    "period",
                    *v,
                    format!("{why} → period {v} bars"),
                );
            } else if let Some(v) = nums
                .iter()
                .find(|(v, unit, _, _)| *unit == "rsi" && *v >= 2.0 && *v <= 500.0)
                .map(|(v, _, _, _)| *v)
            {
                put(
                    &mut params,
                    "period",
                    v,
                    format!("'{v} rsi' → period {v} bars"),
                );
            }
            for (words_before, name) in [
                (&["below", "under", "beneath", "<"][..], "oversold"),
                (&["above", "over", "exceeds", ">"][..], "overbought"),
            ] {
                if let Some((v, _, prev, _)) = nums.iter().find(|(v, unit, prev, _)| {
                    words_before.contains(prev)
                        && *v > 0.0
                        && *v < 100.0
                        && hours_in(unit).is_none()
                        && *unit != "%"
                }) {
                    put(&mut params, name, *v, format!("'{prev} {v}' → {name} {v}"));
                }
            }
        }
        Some("reversal") => {
            if let Some((v, why, _)) = lookbacks.first() {
                put(
                    &mut params,
                    "lookback",
                    *v,
                    format!("{why} → lookback {v} bars"),
                );
            } else if has(text, "yesterday") || has(text, "previous day") || has(text, "one day") {
                put(
                    &mut params,
                    "lookback",
                    24.0,
                    "'previous day' → lookback 24 bars".into(),
                );
            }
            if let Some((v, i)) = free_percent(&used) {
                used.push(i);
                put(
                    &mut params,
                    "threshold",
                    v / 100.0,
                    format!("'{v}%' → threshold {}", v / 100.0),
                );
            }
        }
        Some("funding_carry") => {
            if let Some((v, i)) = free_percent(&used) {
                used.push(i);
                put(
                    &mut params,
                    "entry_funding",
                    v / 100.0,
                    format!("'{v}%' → entry_funding {} a year", v / 100.0),
                );
            }
        }
        _ => {}
    }

    // Stated rules that change the trades, and constraints.
    if let Some(p) = first_of(
        text,
        &[
            "long only",
            "only long",
            "never short",
            "no shorting",
            "no shorts",
            "without shorting",
            "never go short",
        ],
    ) {
        rules.push(StatedRule {
            rule: "long_only".into(),
            value: None,
            phrase: format!("'{p}'"),
        });
        put(&mut params, "long_only", 1.0, format!("'{p}' → long_only"));
    }
    if let Some(p) = first_of(
        text,
        &[
            "no leverage",
            "unlevered",
            "never lever",
            "without leverage",
            "not levered",
        ],
    ) {
        rules.push(StatedRule {
            rule: "no_leverage".into(),
            value: None,
            phrase: format!("'{p}'"),
        });
    } else if let Some((v, _, _, _)) = nums.iter().find(|(v, unit, _, i)| {
        (*unit == "x" || *unit == "leverage" || words.get(i + 1) == Some(&"leverage"))
            && *v > 1.0
            && *v <= 200.0
    }) {
        rules.push(StatedRule {
            rule: "leverage".into(),
            value: Some(*v),
            phrase: format!("'{v}x leverage'"),
        });
    }
    // Rules stated in so many words, without a number.
    for (rule, phrases) in WORDED_RULES {
        if let Some(p) = first_of(text, phrases) {
            rules.push(StatedRule {
                rule: (*rule).into(),
                value: None,
                phrase: format!("'{p}'"),
            });
        }
    }

    // Legs: the assets named, as spot or perpetual; a pair trades two whatever it names, a
    // carry a perpetual and its spot.
    let assets = crate::bars::instruments::assets_named(raw);
    let perp = has(text, "perpetual")
        || has(text, "perpetuals")
        || has(text, "perp")
        || has(text, "perps")
        || has(text, "swap")
        || has(text, "futures");
    let (legs, leg_count) = match signal_name {
        Some("funding_carry") => {
            let a = assets.first().copied().unwrap_or("BTC");
            (vec![format!("{a}-PERP"), a.to_string()], 2)
        }
        Some("spread_zscore") => {
            let legs: Vec<String> = assets.iter().take(4).map(|a| a.to_string()).collect();
            let n = legs.len().max(2) as u32;
            (legs, n)
        }
        _ => {
            let legs: Vec<String> = assets
                .iter()
                .take(1)
                .map(|a| {
                    if perp {
                        format!("{a}-PERP")
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            // A basket ("top 10 coins", "cross-sectional") is many legs.
            let basket = first_of(
                text,
                &[
                    "cross sectional",
                    "cross section",
                    "basket",
                    "portfolio of",
                    "top 10",
                    "top 20",
                    "universe of",
                    "long short portfolio",
                    "winners minus losers",
                ],
            );
            let n = if basket.is_some() { 10 } else { 1 };
            (legs, n)
        }
    };

    // Data kinds: bars always for a market idea; more as the text says.
    let mut data: Vec<&'static str> = Vec::new();
    if family_now != Family::Other {
        data.push("ohlcv");
    }
    for (kind, phrases) in DATA {
        if phrases.iter().any(|p| has(text, p)) && !data.contains(kind) {
            data.push(kind);
        }
    }
    if family_now == Family::Sentiment && !data.contains(&"text") {
        data.push("text");
    }
    if family_now == Family::Mev && !data.contains(&"on_chain") {
        data.push("on_chain");
    }
    if family_now == Family::MarketMaking && !data.contains(&"order_book") {
        data.push("order_book");
    }
    if family_now == Family::EventDriven {
        data.push("events");
    }

    let mut orders = Vec::new();
    if first_of(
        text,
        &[
            "limit order",
            "limit orders",
            "post only",
            "resting orders",
            "passive orders",
        ],
    )
    .is_some()
    {
        orders.push("limit");
    }
    if first_of(
        text,
        &[
            "stop order",
            "stop orders",
            "buy stop",
            "sell stop",
            "stop entry",
        ],
    )
    .is_some()
    {
        orders.push("stop");
    }

    Reading {
        family: signal_family.filter(|f| *f != family),
        signal: signal_name,
        legs,
        leg_count,
        data,
        orders,
        rules,
        parameters: params,
    }
}

/// The first number in `range` within `span` words after one of `keys`.
fn number_after(
    words: &[&str],
    keys: &[&str],
    span: usize,
    range: std::ops::RangeInclusive<f64>,
) -> Option<f64> {
    words.iter().enumerate().find_map(|(i, w)| {
        if !keys.contains(w) {
            return None;
        }
        words[i + 1..]
            .iter()
            .take(span)
            .find_map(|w| w.trim_end_matches('.').parse::<f64>().ok())
            .filter(|v| range.contains(v))
    })
}
