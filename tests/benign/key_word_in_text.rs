// benign: the word key in prose.
/// The key insight of the paper: momentum persists for 20 to 55 bars.
pub const NOTE: &str = "key levels: the 20-day high and the 55-day low";
