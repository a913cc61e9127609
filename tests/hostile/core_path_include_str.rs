// expect: layer 2 security.macro
// A hostile strategy file: core path include str.
const P: &str = core::include_str!("/etc/passwd");
