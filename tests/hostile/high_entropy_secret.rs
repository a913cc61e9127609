// expect: layer 2 security.secret
// A hostile strategy file: high entropy secret.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
