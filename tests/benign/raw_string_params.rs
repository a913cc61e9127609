// benign: a raw string holding JSON parameters.
pub const PARAMS: &str = r#"{"lookback": 24, "threshold": 0.01, "name": "momentum_v3"}"#;
