// expect: layer 2 security.rename_std
// A hostile strategy file: `self as` renames core.
use core::{self as c};
fn f() -> usize { c::mem::size_of::<u8>() }
