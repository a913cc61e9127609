// expect: layer 2 security.attribute
// A hostile strategy file: a debugger visualizer reading a host file.
#[debugger_visualizer(gdb_script_file = "/etc/passwd")]
mod viz {}
