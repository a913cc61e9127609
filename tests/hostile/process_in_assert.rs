// expect: layer 2 security.module
// A hostile strategy file: std::process inside assert!.
fn f() { assert!({ std::process::abort(); true }); }
