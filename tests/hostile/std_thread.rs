// expect: layer 2 security.module
// A hostile strategy file: std thread.
fn f() { std::thread::spawn(|| loop {}); }
