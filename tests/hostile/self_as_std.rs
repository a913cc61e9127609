// expect: layer 2 security.rename_std
// A hostile strategy file: `self as` renames std.
use std::{self as s};
fn f() { let _ = s::fs::read("x"); }
