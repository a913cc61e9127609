// expect: layer 2 security.secret
// A hostile strategy file: a PGP private key block.
const K: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----";
