// expect: layer 2 security.macro
// A hostile strategy file: asm macro.
fn f() { core::arch::asm!("nop"); }
