// expect: layer 2 security.extern
// A hostile strategy file: extern block.
extern "C" { fn system(cmd: *const u8) -> i32; }
