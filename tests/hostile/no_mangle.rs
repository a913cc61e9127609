// expect: layer 2 security.attribute
// A hostile strategy file: no mangle.
#[no_mangle]
pub fn stratagem_run() {}
