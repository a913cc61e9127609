// expect: layer 2 security.attribute
// A hostile strategy file: unsafe no mangle 2024.
#[unsafe(no_mangle)]
pub fn stratagem_run() {}
