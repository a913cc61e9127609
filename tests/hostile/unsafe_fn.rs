// expect: layer 2 security.unsafe
// A hostile strategy file: unsafe fn.
unsafe fn peek() {}
