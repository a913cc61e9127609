// benign: a module named env.
mod env {
    /// The market environment: trending or not.
    pub fn trending(slope: f64) -> bool { slope.abs() > 0.001 }
}
pub fn regime(slope: f64) -> bool { env::trending(slope) || self::env::trending(-slope) || crate::env::trending(slope) }
