// expect: layer 2 security.secret
// A hostile strategy file: anthropic key.
const K: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123";
