// expect: layer 2 security.module
// A hostile strategy file: leading colon fs.
fn f() { let _ = ::std::fs::remove_file("x"); }
