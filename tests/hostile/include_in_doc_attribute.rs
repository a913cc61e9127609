// expect: layer 2 security.macro
// A hostile strategy file: include in doc attribute.
#[doc = include_str!("/etc/passwd")]
pub struct DocStrategy;
