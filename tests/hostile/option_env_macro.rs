// expect: layer 2 security.macro
// A hostile strategy file: option env macro.
const K: Option<&str> = option_env!("AWS_SECRET_ACCESS_KEY");
