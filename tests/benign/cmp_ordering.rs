// benign: std::cmp.
use std::cmp::Ordering;
pub fn order(a: f64, b: f64) -> Ordering { a.partial_cmp(&b).unwrap_or(Ordering::Equal) }
