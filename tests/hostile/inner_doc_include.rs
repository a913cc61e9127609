// expect: layer 2 security.macro
// A hostile strategy file: an inner doc attribute that reads a file.
#![doc = include_str!("/etc/passwd")]
pub struct DocStrategy;
