// expect: layer 2 security.macro
// A hostile strategy file: include_str! inside format!.
fn f() -> String { format!("{}", include_str!("/etc/passwd")) }
