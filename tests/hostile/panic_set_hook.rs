// expect: layer 2 security.module
// A hostile strategy file: replacing the panic hook that reports to the host.
fn f() { std::panic::set_hook(Box::new(|_| {})); }
