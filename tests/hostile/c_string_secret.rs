// expect: layer 2 security.secret
// A hostile strategy file: an AWS key in a C string.
fn f() -> usize { c"AKIAIOSFODNN7EXAMPLE".to_bytes().len() }
