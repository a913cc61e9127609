// expect: layer 2 security.module
// A hostile strategy file: importing std itself.
use std::{self};
fn f() { let _ = std::mem::size_of::<u8>(); }
