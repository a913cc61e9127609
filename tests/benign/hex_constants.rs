// benign: hex numeric constants.
pub const MASK: u64 = 0xdead_beef_cafe_f00d;
pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
