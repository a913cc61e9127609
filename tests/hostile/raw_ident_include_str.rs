// expect: layer 2 security.macro
// A hostile strategy file: raw ident include str.
const P: &str = r#include_str!("/etc/passwd");
