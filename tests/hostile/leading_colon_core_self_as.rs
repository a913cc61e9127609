// expect: layer 2 security.rename_std
// A hostile strategy file: `::core::{self as}` renames core.
use ::core::{self as c};
const P: &str = c::include_str!("/etc/passwd");
