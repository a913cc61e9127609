// expect: layer 2 security.file_module
// A hostile strategy file: file module.
mod helpers;
