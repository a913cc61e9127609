// expect: layer 2 security.macro
// A hostile strategy file: env macro.
const K: &str = env!("ANTHROPIC_API_KEY");
