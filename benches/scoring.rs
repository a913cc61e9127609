//! Scoring throughput: new opportunities read from items and scored — novelty included —
//! against 100,000 earlier opportunities (target ≥ 5,000 opportunities/s).
//!
//! The earlier opportunities are abstract-length texts (120 words) drawn, with a fixed seed,
//! from a finance vocabulary and the words of the shipped arXiv and Reddit recordings, so
//! their shingles overlap as real texts do. Run with `cargo bench --bench scoring`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stratagem_actors::discovery::ScoringContext;
use stratagem_actors::extract::{self};
use stratagem_actors::scorer::novelty::{signature, NoveltyIndex};
use stratagem_actors::scorer::regime;
use stratagem_actors::scorer::{Candidate, ScorerConfig};
use stratagem_actors::sources::{Item, SourceName};
use uuid::Uuid;

const EARLIER: usize = 100_000;
const BATCH: usize = 1_000;

#[path = "common/texts.rs"]
mod texts;
use texts::{text, vocabulary};

fn bench(c: &mut Criterion) {
    let words = vocabulary();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut index = NoveltyIndex::new();
    for i in 0..EARLIER {
        index.insert(
            Uuid::from_u128(i as u128 + 1),
            i as u64 + 1,
            signature(&text(&mut rng, &words, 120)),
        );
    }
    let regime = regime::detect(stratagem_actors::market::embedded_hourly());
    let mut ctx = ScoringContext::new(regime.clone(), ScorerConfig::default());
    ctx.set_index(index);
    let items: Vec<Item> = (0..BATCH)
        .map(|i| Item {
            source: SourceName::Arxiv,
            external_id: format!("bench-{i}"),
            title: text(&mut rng, &words, 12),
            text: text(&mut rng, &words, 120),
            url: None,
            published: None,
            fields: Vec::new(),
        })
        .collect();

    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("extract_and_score_1000_against_100k", |b| {
        b.iter(|| {
            let mut submitted = 0;
            for (i, item) in items.iter().enumerate() {
                let x = extract::extract(item);
                let candidate =
                    Candidate::from_extracted(Uuid::from_u128(u128::MAX - i as u128), u64::MAX, &x);
                let (s, _) = ctx.score(&candidate);
                submitted += usize::from(s.composite >= ctx.config.min_score);
            }
            submitted
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
