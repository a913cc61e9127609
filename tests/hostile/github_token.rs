// expect: layer 2 security.secret
// A hostile strategy file: github token.
const T: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
