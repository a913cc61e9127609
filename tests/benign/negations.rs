// benign: negations after keywords.
pub fn gate(ok: bool, xs: &[f64]) -> bool { if !ok { return !xs.is_empty(); } while !(xs.len() > 3) { break; } match !ok { true => false, false => !false } }
