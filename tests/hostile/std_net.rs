// expect: layer 2 security.module
// A hostile strategy file: std net.
fn f() { let _ = std::net::TcpStream::connect("10.0.0.1:80"); }
