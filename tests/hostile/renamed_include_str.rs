// expect: layer 2 security.macro
// A hostile strategy file: renamed include str.
use core::include_str as read_it;
const P: &str = read_it!("/etc/passwd");
