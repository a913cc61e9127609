// expect: layer 2 security.macro
// A hostile strategy file: include passwd.
const P: &str = include!("/etc/passwd");
