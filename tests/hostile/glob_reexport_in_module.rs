// expect: layer 2 security.glob_std
// A hostile strategy file: a module re-exporting all of std, then a glob of it.
mod m {
    pub use std::*;
}
use m::*;
fn f() { let _ = fs::read("x"); }
