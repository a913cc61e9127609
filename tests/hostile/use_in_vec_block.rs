// expect: layer 2 security.module
// A hostile strategy file: a use of std::fs inside a block inside vec!.
fn f() -> Vec<usize> { vec![{ use std::fs as f; f::read("x").map(|v| v.len()).unwrap_or(0) }] }
