// expect: layer 2 security.secret
// A hostile strategy file: a GitLab personal access token.
const T: &str = "glpat-xxxxxxxxxxxxxxxx1234";
