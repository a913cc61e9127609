//! Abstract-like texts for the benchmarks: words drawn, with a fixed seed, from a finance
//! vocabulary and the words of the shipped Reddit recording, so their shingles overlap as real
//! texts do.

use stratagem_actors::sources::reddit;

/// The words texts are drawn from.
pub fn vocabulary() -> Vec<String> {
    let reddit = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sources/reddit/reddit_listing_r-popular_hot_limit100_2026-04-13.json"
    ))
    .unwrap();
    let mut words: Vec<String> = reddit::parse(&reddit)
        .unwrap()
        .items
        .iter()
        .flat_map(|i| {
            format!("{} {}", i.title, i.text)
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect();
    for w in "momentum mean reversion breakout trend volatility sharpe returns portfolio bitcoin ethereum futures options spread arbitrage liquidity order book market making sentiment earnings filing upgrade fork listing lookback threshold z-score moving average crossover hourly daily risk leverage stop-loss drawdown".split(' ') {
        words.push(w.to_string());
    }
    words.sort();
    words.dedup();
    words
}

/// `len` words drawn from `words`.
pub fn text(rng: &mut fastrand::Rng, words: &[String], len: usize) -> String {
    (0..len)
        .map(|_| words[rng.usize(..words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
