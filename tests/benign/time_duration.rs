// benign: std::time::Duration.
use std::time::Duration;
pub fn bar_length() -> Duration { Duration::from_secs(3600) }
