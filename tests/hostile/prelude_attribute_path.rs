// expect: layer 2 security.attribute
// A hostile strategy file: an attribute named by its full prelude path.
#[::core::prelude::v1::global_allocator]
static A: u8 = 0;
