// expect: layer 2 security.macro
// A hostile strategy file: include str passwd.
const P: &str = include_str!("/etc/passwd");
