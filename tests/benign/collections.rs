// benign: collections.
use std::collections::{BTreeMap, HashMap, VecDeque as Queue};
pub fn tally(xs: &[u32]) -> (BTreeMap<u32, u32>, HashMap<u32, u32>, Queue<u32>) { let mut b = BTreeMap::new(); for x in xs { *b.entry(*x).or_insert(0) += 1; } (b, HashMap::new(), Queue::new()) }
