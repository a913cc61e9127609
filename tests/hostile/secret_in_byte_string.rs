// expect: layer 2 security.secret
// A hostile strategy file: secret in byte string.
const K: &[u8] = b"AKIAIOSFODNN7EXAMPLE";
