// expect: layer 2 security.attribute
// A hostile strategy file: cfg attr wraps no mangle.
#[cfg_attr(all(), no_mangle)]
pub fn f() {}
