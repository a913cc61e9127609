// expect: layer 2 security.secret
// A hostile strategy file: secret in macro body.
fn f() -> String { format!("{}", "ghp_0123456789abcdefghijABCDEFGHIJ012345") }
