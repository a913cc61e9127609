// expect: layer 2 security.unsafe
// A hostile strategy file: unsafe trait.
unsafe trait Danger {}
