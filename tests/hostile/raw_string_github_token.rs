// expect: layer 2 security.secret
// A hostile strategy file: a GitHub token in a raw string.
const T: &str = r"ghp_0123456789abcdefghijABCDEFGHIJ012345";
