// benign: math constants.
use std::f64::consts::PI;
pub fn angle(x: f64) -> f64 { (x * PI / 180.0).sin() + core::f64::consts::E.ln() + f64::EPSILON }
