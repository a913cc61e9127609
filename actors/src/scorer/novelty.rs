//! Novelty: MinHash signatures of word shingles with LSH banding, so an opportunity is compared
//! with every earlier one in near-constant time (100,000 earlier ideas cost a few bucket
//! lookups, not 100,000 comparisons).
//!
//! Shingles are the overlapping word pairs of the normalised title and hypothesis (stop words
//! dropped), plus the words themselves for texts too short to pair. The estimated Jaccard
//! similarity of two texts is the share of equal signature slots. Candidates come from 16
//! bands of 4 slots: two texts 50 % similar meet in a band with probability 64 %, 80 % similar
//! with probability > 99.9 %, so a near-duplicate is never missed while unrelated texts are
//! rarely compared at all.

use std::collections::HashMap;

use uuid::Uuid;

/// Signature length.
pub const SLOTS: usize = 64;
const BANDS: usize = 16;
const ROWS: usize = SLOTS / BANDS;
/// Comparisons per band of one query at most: the most recent earlier ideas of a bucket.
const MAX_CANDIDATES_PER_BAND: usize = 512;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on",
    "or", "that", "the", "this", "to", "we", "with", "our", "its", "can", "which", "these",
    "their",
];

/// A MinHash signature.
pub type Signature = [u64; SLOTS];

/// 64-bit mix (splitmix64's finaliser): fast, well distributed, stable across builds — the
/// index can be rebuilt identically from the log on any machine.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over a word.
fn word_hash(w: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in w.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The signature of a text.
pub fn signature(text: &str) -> Signature {
    let lower = text.to_lowercase();
    let words: Vec<u64> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(word_hash)
        .collect();
    let mut sig = [u64::MAX; SLOTS];
    let mut add = |shingle: u64| {
        let base = mix(shingle);
        for (i, slot) in sig.iter_mut().enumerate() {
            // Slot i uses the hash family h_i(x) = mix(x ^ seed_i).
            let h = mix(base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if h < *slot {
                *slot = h;
            }
        }
    };
    if words.len() < 3 {
        words.iter().for_each(|w| add(*w));
    }
    for pair in words.windows(2) {
        add(pair[0].rotate_left(17) ^ pair[1]);
    }
    sig
}

/// Estimated Jaccard similarity of two signatures. Two empty texts are not similar.
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    if a[0] == u64::MAX || b[0] == u64::MAX {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / SLOTS as f64
}

/// The closest earlier text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearestMatch {
    /// Which opportunity.
    pub id: Uuid,
    /// Estimated similarity in [0, 1].
    pub similarity: f64,
}

/// Every earlier opportunity's signature, banded.
#[derive(Debug, Default, Clone)]
pub struct NoveltyIndex {
    entries: Vec<(Uuid, u64, Signature)>,
    buckets: HashMap<(u8, u64), Vec<u32>>,
}

impl NoveltyIndex {
    /// An empty index.
    pub fn new() -> NoveltyIndex {
        NoveltyIndex::default()
    }

    /// How many texts it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn band_key(sig: &Signature, band: usize) -> u64 {
        sig[band * ROWS..(band + 1) * ROWS]
            .iter()
            .fold(0u64, |h, x| mix(h ^ x))
    }

    /// Adds a text; `order` is its position in the log (the discovery sequence number).
    pub fn insert(&mut self, id: Uuid, order: u64, sig: Signature) {
        if sig[0] == u64::MAX {
            return;
        }
        let at = self.entries.len() as u32;
        for band in 0..BANDS {
            self.buckets
                .entry((band as u8, Self::band_key(&sig, band)))
                .or_default()
                .push(at);
        }
        self.entries.push((id, order, sig));
    }

    /// The most similar text recorded before `before` (all of them with `u64::MAX`), other
    /// than `exclude`.
    pub fn nearest(
        &self,
        sig: &Signature,
        before: u64,
        exclude: Option<Uuid>,
    ) -> Option<NearestMatch> {
        let mut best: Option<NearestMatch> = None;
        // A set, not a list searched each time: a crowded bucket (many near-identical texts)
        // made every query quadratic in its size (100,000 similar ideas took hours to score).
        let mut seen: std::collections::HashSet<u32> = std::collections::HashSet::new();
        for band in 0..BANDS {
            let Some(list) = self.buckets.get(&(band as u8, Self::band_key(sig, band))) else {
                continue;
            };
            // The most recent earlier entries of the bucket, at most `MAX_CANDIDATES_PER_BAND`
            // (the list is in log order): a bucket crowded with near-identical ideas costs a
            // bounded number of comparisons, and the answer depends only on what was recorded
            // before `before`, so re-scoring gives the same novelty.
            let mut taken = 0;
            for &at in list.iter().rev() {
                let (id, order, other) = &self.entries[at as usize];
                if *order >= before || Some(*id) == exclude {
                    continue;
                }
                if taken == MAX_CANDIDATES_PER_BAND {
                    break;
                }
                taken += 1;
                if !seen.insert(at) {
                    continue;
                }
                let s = similarity(sig, other);
                if best.is_none_or(|b| s > b.similarity) {
                    best = Some(NearestMatch {
                        id: *id,
                        similarity: s,
                    });
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bucket crowded with near-identical ideas: a query compares a bounded number of them,
    /// and what it answers depends only on the ideas recorded before it — ideas added later
    /// change nothing (re-scoring gives the same novelty).
    #[test]
    fn a_crowded_bucket_answers_from_earlier_ideas_only() {
        let text = |n: usize| format!("momentum on hourly bitcoin bars, variant {n} of the crowd");
        let mut index = NoveltyIndex::new();
        for n in 0..3_000 {
            index.insert(
                Uuid::from_u128(n as u128 + 1),
                n as u64 + 1,
                signature(&text(n)),
            );
        }
        let probe = signature(&text(2_999));
        let before = index.nearest(&probe, 2_000, None).unwrap();
        assert!(before.similarity > 0.5, "{before:?}");
        for n in 3_000..4_000 {
            index.insert(
                Uuid::from_u128(n as u128 + 1),
                n as u64 + 1,
                signature(&text(n)),
            );
        }
        assert_eq!(index.nearest(&probe, 2_000, None), Some(before));
        // Identical text recorded earlier is always found.
        let same = index.nearest(&signature(&text(10)), u64::MAX, Some(Uuid::from_u128(11)));
        assert!(same.is_some_and(|m| m.similarity > 0.5));
    }

    #[test]
    fn similar_texts_are_found_and_unrelated_ones_are_not() {
        let mut index = NoveltyIndex::new();
        let a = Uuid::from_u128(1);
        let text = "Time-series momentum on hourly bitcoin: go long when the 24-hour return exceeds two percent and exit when it turns negative";
        index.insert(a, 1, signature(text));
        index.insert(
            Uuid::from_u128(2),
            2,
            signature("Optimal market making with inventory risk in limit order books"),
        );
        // The same idea reworded at the end: still found, highly similar.
        let near = index
            .nearest(&signature(&format!("{text} again")), u64::MAX, None)
            .unwrap();
        assert_eq!(near.id, a);
        assert!(near.similarity > 0.8, "{}", near.similarity);
        // Identical text: similarity 1.
        assert_eq!(
            index
                .nearest(&signature(text), u64::MAX, None)
                .unwrap()
                .similarity,
            1.0
        );
        // Only earlier entries count.
        assert!(index.nearest(&signature(text), 1, None).is_none());
        // Unrelated text: nothing similar.
        let far = index.nearest(
            &signature("Earnings announcements of small-cap biotech firms"),
            u64::MAX,
            None,
        );
        assert!(far.is_none_or(|m| m.similarity < 0.2), "{far:?}");
    }
}
