// expect: layer 2 security.attribute
// A hostile strategy file: export name.
#[export_name = "memory"]
pub fn shadow() {}
