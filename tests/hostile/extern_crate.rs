// expect: layer 2 security.extern
// A hostile strategy file: extern crate.
extern crate std as evil;
