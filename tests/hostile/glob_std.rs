// expect: layer 2 security.glob_std
// A hostile strategy file: glob std.
use std::*;
fn f() { let _ = fs::read("x"); }
