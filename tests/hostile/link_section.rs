// expect: layer 2 security.attribute
// A hostile strategy file: link section.
#[link_section = ".init_array"]
pub static INIT: fn() = init;
fn init() {}
