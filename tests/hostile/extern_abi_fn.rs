// expect: layer 2 security.extern
// A hostile strategy file: extern abi fn.
pub extern "C" fn hook() {}
