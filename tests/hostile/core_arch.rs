// expect: layer 2 security.module
// A hostile strategy file: core arch.
fn f() { let _ = core::arch::wasm32::memory_size(0); }
