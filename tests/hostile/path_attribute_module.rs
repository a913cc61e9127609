// expect: layer 2 security.attribute
// A hostile strategy file: path attribute module.
#[path = "/etc/passwd"]
mod secrets_mod {}
