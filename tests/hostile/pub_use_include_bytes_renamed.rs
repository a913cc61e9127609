// expect: layer 2 security.macro
// A hostile strategy file: a public renamed include_bytes.
pub use core::include_bytes as bytes;
const P: &[u8] = bytes!("/etc/passwd");
