// expect: layer 2 security.module
// A hostile strategy file: raw pointers.
fn f() -> *const u8 { std::ptr::null() }
