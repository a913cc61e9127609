// expect: layer 2 security.secret
// A hostile strategy file: openai key.
const K: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
