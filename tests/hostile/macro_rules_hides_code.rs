// expect: layer 2 security.macro
// A hostile strategy file: macro rules hides code.
macro_rules! hide { () => { include_str!("/etc/passwd") } }
