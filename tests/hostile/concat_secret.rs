// expect: layer 2 security.secret
// A hostile strategy file: an AWS key in concat! pieces.
const K: &str = concat!("AKIA", "IOSF", "ODNN7", "EXAMPLE");
