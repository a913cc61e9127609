// benign: inline and must_use.
#[inline]
#[must_use]
pub fn half(x: f64) -> f64 { x / 2.0 }
#[inline(always)]
pub fn double(x: f64) -> f64 { x * 2.0 }
