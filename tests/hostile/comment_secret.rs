// expect: layer 2 security.secret
// A hostile strategy file: a GitHub token in a comment.
// token for later: ghp_0123456789abcdefghijABCDEFGHIJ012345
fn f() {}
