// expect: layer 2 security.macro
// A hostile strategy file: include bytes passwd.
const P: &[u8] = include_bytes!("/etc/passwd");
