// expect: layer 2 security.attribute
// A hostile strategy file: lint level allow.
#[allow(unused)]
fn f() {}
