// expect: layer 2 security.unsafe
// A hostile strategy file: unsafe impl.
struct S; unsafe impl Send for S {}
