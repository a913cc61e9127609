// expect: layer 2 security.macro
// A hostile strategy file: include in vec macro.
fn f() -> Vec<&'static str> { vec![include_str!("/etc/passwd")] }
