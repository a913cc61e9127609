// expect: layer 2 security.unsafe
// A hostile strategy file: unsafe in macro body.
fn f() -> Vec<u8> { vec![unsafe { std::mem::zeroed() }] }
