// expect: layer 2 security.module
// A hostile strategy file: a type alias to std::fs::File.
type F = std::fs::File;
fn f(_: Option<F>) {}
