// expect: layer 2 security.module
// A hostile strategy file: std env var.
fn f() -> Option<String> { std::env::var("HOME").ok() }
