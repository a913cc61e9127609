// expect: layer 2 security.inner_attribute
// A hostile strategy file: inner attribute feature.
#![feature(core_intrinsics)]
fn f() {}
