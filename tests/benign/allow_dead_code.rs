// benign: lint levels for ordinary lints.
#[allow(dead_code)]
fn unused_helper() -> u8 { 0 }
#[warn(unused_variables)]
pub fn noisy(x: f64) -> f64 { x }
