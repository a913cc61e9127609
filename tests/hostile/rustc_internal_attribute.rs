// expect: layer 2 security.attribute
// A hostile strategy file: a rustc-internal attribute.
#[rustc_layout_scalar_valid_range_start(1)]
pub struct NonZero(u32);
