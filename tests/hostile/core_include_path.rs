// expect: layer 2 security.macro
// A hostile strategy file: include! named by its core path.
const P: &str = ::core::include!("/etc/passwd");
