// expect: layer 2 security.secret
// A hostile strategy file: aws key.
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
