// expect: layer 2 security.rename_std
// A hostile strategy file: rename std.
use std as s;
fn f() { let _ = s::fs::read("x"); }
