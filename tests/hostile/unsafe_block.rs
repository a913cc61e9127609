// expect: layer 2 security.unsafe
// A hostile strategy file: unsafe block.
fn f(p: *const u8) -> u8 { unsafe { *p } }
