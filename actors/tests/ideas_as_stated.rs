//! Ideas written as a user would, each read for what it needs and decided by the one
//! template-fit decision: the template chosen or the "no template fits" reason, and the
//! parameters carried into the strategy. A table: one row an idea.

use stratagem_actors::extract::extract_text;
use stratagem_actors::generator::templates;

/// One idea and what its reading must say.
struct Row {
    title: &'static str,
    hypothesis: &'static str,
    family: &'static str,
    signal: Option<&'static str>,
    legs: u32,
    data: &'static [&'static str],
    rules: &'static [&'static str],
    /// The template, or the words the "no template fits" reason must hold.
    fit: Result<&'static str, &'static str>,
    parameters: &'static [(&'static str, f64)],
}

const ROWS: &[Row] = &[
    Row {
        title: "Trend following in crypto",
        hypothesis: "A 20/100-day moving average crossover on BTC: long when the fast average is above the slow one, short below, with a 2 % stop loss.",
        family: "trend",
        signal: Some("ma_crossover"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["stop_loss"],
        fit: Ok("ma_crossover"),
        parameters: &[("stop_loss", 0.02), ("fast", 480.0), ("slow", 2400.0), ("exponential", 0.0)],
    },
    Row {
        title: "Pairs trading ETH and BTC via cointegration",
        hypothesis: "ETH and BTC are cointegrated: short the spread when it is 2 standard deviations above its mean, long it 2 below, close when it reverts.",
        family: "statistical_arbitrage",
        signal: Some("spread_zscore"),
        legs: 2,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("pairs_spread"),
        parameters: &[("entry_z", 2.0)],
    },
    Row {
        title: "Funding rate carry in perpetual futures",
        hypothesis: "When the BTC perpetual's funding rate is positive, short the perpetual and hedge with spot, collecting the funding every 8 hours.",
        family: "carry",
        signal: Some("funding_carry"),
        legs: 2,
        data: &["ohlcv", "funding_rate"],
        rules: &["hedge"],
        fit: Ok("funding_carry"),
        parameters: &[],
    },
    Row {
        title: "Golden cross on ETH",
        hypothesis: "Buy ETH when the 50-day simple moving average crosses above the 200-day one and sell when it crosses below; long only, we never short.",
        family: "trend",
        signal: Some("ma_crossover"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["long_only"],
        fit: Ok("ma_crossover"),
        parameters: &[("fast", 1200.0), ("slow", 4800.0), ("exponential", 0.0), ("long_only", 1.0)],
    },
    Row {
        title: "Fast EMA crossover on Solana",
        hypothesis: "A 12/26 hour exponential moving average crossover on SOL; exit after 12 hours whatever happens.",
        family: "trend",
        signal: Some("ma_crossover"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["holding_period"],
        fit: Ok("ma_crossover"),
        parameters: &[("max_hold", 12.0), ("fast", 12.0), ("slow", 26.0), ("exponential", 1.0)],
    },
    Row {
        title: "RSI oversold bounce on BTC",
        hypothesis: "Buy BTC when the 14-period RSI drops below 30 and sell short when it rises above 70.",
        family: "mean_reversion",
        signal: Some("rsi"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("rsi_reversal"),
        parameters: &[("period", 14.0), ("oversold", 30.0), ("overbought", 70.0)],
    },
    Row {
        title: "Connors 2-period RSI, long only",
        hypothesis: "Go long bitcoin when the 2-period RSI is below 10 and hold for 5 days at most; long only.",
        family: "mean_reversion",
        signal: Some("rsi"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["holding_period", "long_only"],
        fit: Ok("rsi_reversal"),
        parameters: &[("max_hold", 120.0), ("period", 2.0), ("oversold", 10.0), ("long_only", 1.0)],
    },
    Row {
        title: "Short-term reversal in BTC",
        hypothesis: "The short-term reversal effect: buy BTC after it fell more than 5 % over the previous day and sell it a day later.",
        family: "mean_reversion",
        signal: Some("reversal"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Err("no template fits: needs a short-term reversal signal (the mean_reversion template lacks it)"),
        parameters: &[("lookback", 24.0), ("threshold", 0.05)],
    },
    Row {
        title: "Donchian channel breakout on BTC",
        hypothesis: "Go long when BTC closes above its 20-day high and short below its 20-day low.",
        family: "breakout",
        signal: Some("channel_breakout"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("donchian_breakout"),
        parameters: &[("channel", 480.0)],
    },
    Row {
        title: "Bollinger band reversion on ETH",
        hypothesis: "Fade ETH when it closes 2.5 standard deviations outside its 20-period Bollinger band; exit back within 0.5.",
        family: "mean_reversion",
        signal: Some("zscore"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("mean_reversion"),
        parameters: &[("lookback", 20.0), ("entry_z", 2.5), ("exit_z", 0.5)],
    },
    Row {
        title: "Time-series momentum on hourly BTC",
        hypothesis: "Go long BTC when the 48-hour rate of change exceeds 2 % and short when it is below minus 2 %.",
        family: "momentum",
        signal: Some("rate_of_change"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("momentum"),
        parameters: &[("lookback", 48.0), ("threshold", 0.02)],
    },
    Row {
        title: "Momentum held for half a day",
        hypothesis: "Buy BTC after a 24-hour return above 3 % of momentum and hold for 12 hours.",
        family: "momentum",
        signal: Some("rate_of_change"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["holding_period"],
        fit: Err("no template fits: needs a holding period of 12 bars (the momentum template lacks it)"),
        parameters: &[("max_hold", 12.0), ("lookback", 24.0), ("threshold", 0.03)],
    },
    Row {
        title: "Volatility-targeted trend on BTC",
        hypothesis: "A 12/48 hour EMA trend scaled to a volatility target of 1 % a bar.",
        family: "trend",
        signal: Some("vol_target"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Ok("vol_target_trend"),
        parameters: &[("fast", 12.0), ("slow", 48.0), ("target_vol", 0.01)],
    },
    Row {
        title: "Mean reversion with a trailing stop",
        hypothesis: "Buy BTC 2 standard deviations below its 48-hour mean, with a 3 % trailing stop.",
        family: "mean_reversion",
        signal: Some("zscore"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["trailing_stop"],
        fit: Err("no template fits: needs a trailing stop of 3%"),
        parameters: &[("lookback", 48.0), ("entry_z", 2.0)],
    },
    Row {
        title: "Market making on the Binance order book",
        hypothesis: "Quote both sides of the BTC limit order book and skew quotes by inventory risk.",
        family: "market_making",
        signal: None,
        legs: 1,
        data: &["ohlcv", "order_book"],
        rules: &[],
        fit: Err("no template fits: needs order book data"),
        parameters: &[],
    },
    Row {
        title: "Twitter sentiment predicts bitcoin",
        hypothesis: "Go long BTC when the sentiment of tweets about bitcoin turns positive.",
        family: "sentiment",
        signal: None,
        legs: 1,
        data: &["ohlcv", "text"],
        rules: &[],
        fit: Err("no template fits: needs text data"),
        parameters: &[],
    },
    Row {
        title: "Sandwich MEV on Uniswap",
        hypothesis: "Front-run large swaps seen in the mempool and back-run them in the same block.",
        family: "mev",
        signal: None,
        legs: 1,
        data: &["ohlcv", "on_chain"],
        rules: &[],
        fit: Err("no template fits: needs on chain data"),
        parameters: &[],
    },
    Row {
        title: "Post-earnings announcement drift",
        hypothesis: "Stocks that beat earnings keep drifting up for weeks after the announcement.",
        family: "event_driven",
        signal: None,
        legs: 1,
        data: &["ohlcv", "fundamentals", "events"],
        rules: &[],
        fit: Err("no template fits: needs fundamentals data, events data"),
        parameters: &[],
    },
    Row {
        title: "Cross-sectional momentum in the top 10 coins",
        hypothesis: "Each week buy the top 10 coins by 30-day return and short the worst: winners minus losers.",
        family: "momentum",
        signal: Some("rate_of_change"),
        legs: 10,
        data: &["ohlcv"],
        rules: &[],
        fit: Err("no template fits: needs 10 legs"),
        parameters: &[("lookback", 720.0)],
    },
    Row {
        title: "Breakouts entered with limit orders",
        hypothesis: "Buy 20-bar channel breakouts on ETH with limit orders at the breakout level.",
        family: "breakout",
        signal: Some("channel_breakout"),
        legs: 1,
        data: &["ohlcv"],
        rules: &[],
        fit: Err("no template fits: needs limit orders"),
        parameters: &[("channel", 20.0)],
    },
    Row {
        title: "Z-score reversion with a bracket",
        hypothesis: "Fade BTC moves beyond a z score of 2 over 72 hours, stop loss at 2 % and take profit at 5 %.",
        family: "mean_reversion",
        signal: Some("zscore"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["stop_loss", "take_profit"],
        fit: Ok("mean_reversion"),
        parameters: &[("stop_loss", 0.02), ("take_profit", 0.05), ("lookback", 72.0), ("entry_z", 2.0)],
    },
    Row {
        title: "Momentum with a volatility filter",
        hypothesis: "Follow 24-hour momentum in BTC, but only when volatility is below its monthly median: a volatility filter.",
        family: "momentum",
        signal: Some("rate_of_change"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["volatility_filter"],
        fit: Err("no template fits: needs a volatility filter (the momentum template lacks it)"),
        parameters: &[("lookback", 24.0)],
    },
    Row {
        title: "Covered calls on ETH",
        hypothesis: "Hold ETH and sell weekly out-of-the-money call options to harvest the volatility risk premium.",
        family: "volatility",
        signal: None,
        legs: 1,
        data: &["ohlcv", "options"],
        rules: &[],
        fit: Err("no template fits: needs options data"),
        parameters: &[],
    },
    Row {
        title: "A Survey on Web Testing",
        hypothesis: "We review the trend towards AI in web application testing.",
        family: "other",
        signal: None,
        legs: 1,
        data: &[],
        rules: &[],
        fit: Err("no template fits: no trading rule recognised"),
        parameters: &[],
    },
    Row {
        title: "Levered death cross shorts",
        hypothesis: "Short BTC with 10x leverage when the 50-day moving average crosses below the 200-day.",
        family: "trend",
        signal: Some("ma_crossover"),
        legs: 1,
        data: &["ohlcv"],
        rules: &["leverage"],
        fit: Ok("ma_crossover"),
        parameters: &[("fast", 1200.0), ("slow", 4800.0), ("exponential", 0.0)],
    },
];

#[test]
fn every_idea_is_read_for_its_needs_and_fitted_honestly() {
    let mut failures = Vec::new();
    for row in ROWS {
        let x = extract_text(row.title, row.hypothesis);
        let n = &x.needs;
        let got_rules: Vec<&str> = n.rules.iter().map(|r| r.rule.as_str()).collect();
        let got_params: Vec<(&str, f64)> = n
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.value))
            .collect();
        let fit_ok = match row.fit {
            Ok(t) => x.fit.template.as_deref() == Some(t) && x.fit.route == "template",
            Err(words) => x.fit.template.is_none() && x.fit.reason.contains(words),
        };
        let ok = n.family == row.family
            && n.signal.as_deref() == row.signal
            && n.leg_count == row.legs
            && n.data == row.data
            && got_rules == row.rules
            && got_params == row.parameters
            && fit_ok;
        if !ok {
            failures.push(format!(
                "{}\n  family {} signal {:?} legs {} {:?} data {:?} rules {:?}\n  params {:?}\n  fit {:?}: {}",
                row.title, n.family, n.signal, n.leg_count, n.legs, n.data, got_rules, got_params, x.fit.template, x.fit.reason
            ));
        }
        // The decision is the one the generator takes: the same template, its parameters
        // carried (within the template's ranges).
        if let Some(t) = x.fit.template.as_deref() {
            let spec = templates::find(t).expect("a known template");
            let given: Vec<(String, f64)> = x
                .parameters
                .iter()
                .map(|(n, v, _)| (n.clone(), *v))
                .collect();
            let chosen = templates::choose_params(spec, &given);
            for (name, _) in row.parameters {
                if spec.params.iter().any(|p| p.name == *name)
                    && !chosen
                        .iter()
                        .any(|c| c.name == *name && c.origin != "default")
                {
                    failures.push(format!("{}: {name} not carried into {t}", row.title));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}
