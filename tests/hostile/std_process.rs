// expect: layer 2 security.module
// A hostile strategy file: std process.
fn f() { let _ = std::process::Command::new("sh"); }
