// benign: formatting macros.
use std::fmt::Write;
pub fn describe(x: f64) -> String { let mut s = String::new(); let _ = write!(s, "{x:.2}"); let _ = writeln!(s); format!("{s} {}", format_args!("{}", 1)) }
