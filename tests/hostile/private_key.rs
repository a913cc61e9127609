// expect: layer 2 security.secret
// A hostile strategy file: private key.
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----";
