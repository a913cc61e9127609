// benign: a long label with separators.
/// The family and version of this rule.
pub const LABEL: &str = "donchian_breakout_20_55_v2";
