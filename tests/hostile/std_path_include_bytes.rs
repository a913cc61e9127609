// expect: layer 2 security.macro
// A hostile strategy file: std path include bytes.
const P: &[u8] = ::std::include_bytes!("/etc/passwd");
