// expect: layer 2 security.macro
// A hostile strategy file: renamed include via prelude.
use std::prelude::v1::{include as inc};
const P: &str = inc!("/etc/passwd");
