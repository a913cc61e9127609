// expect: layer 2 security.secret
// A hostile strategy file: a random string bound to a secret-like name.
fn f() -> usize { let api_secret = "Zr9LmX4pK8sW1dV6bN3hJ5tY0cGe7Fq2"; api_secret.len() }
