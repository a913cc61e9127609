// expect: layer 2 security.macro
// A hostile strategy file: include concat path.
const P: &str = include_str!(concat!("/etc/", "pass", "wd"));
