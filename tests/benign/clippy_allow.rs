// benign: a clippy lint level.
#[allow(clippy::too_many_arguments)]
pub fn many(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64, h: f64) -> f64 { a + b + c + d + e + f + g + h }
