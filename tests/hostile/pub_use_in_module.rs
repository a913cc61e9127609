// expect: layer 2 security.module
// A hostile strategy file: a `pub use` inside a module brings std::fs in under another path.
mod m {
    pub use std::fs;
}
fn f() { let _ = m::fs::read("x"); }
