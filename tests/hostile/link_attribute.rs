// expect: layer 2 security.attribute
// A hostile strategy file: link attribute.
#[link(name = "c")]
fn f() {}
