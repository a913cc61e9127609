// benign: Unicode in comments, strings and identifiers.
// Волатильность — 日本語のコメント ✓ σ and μ.
/// σ-threshold in “sigmas”.
pub fn z_score(x: f64, μ: f64, σ: f64) -> f64 { let label = "σ → ∞"; let _ = label; (x - μ) / σ }
