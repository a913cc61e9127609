// expect: layer 2 security.macro
// A hostile strategy file: global asm macro.
core::arch::global_asm!(".globl x");
