// expect: layer 2 security.inner_attribute
// A hostile strategy file: inner attribute allow.
#![allow(unsafe_code)]
fn f() {}
