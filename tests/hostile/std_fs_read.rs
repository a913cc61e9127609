// expect: layer 2 security.module
// A hostile strategy file: std fs read.
fn f() -> String { std::fs::read_to_string("/etc/passwd").unwrap_or_default() }
