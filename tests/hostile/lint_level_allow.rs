// expect: layer 2 security.attribute
// A hostile strategy file: a lint level that would switch off a compiler guard.
#[allow(long_running_const_eval)]
fn f() {}
