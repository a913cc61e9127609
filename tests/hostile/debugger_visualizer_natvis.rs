// expect: layer 2 security.attribute
// A hostile strategy file: a natvis visualizer reading a host file.
#[debugger_visualizer(natvis_file = "/dev/zero")]
mod viz {}
