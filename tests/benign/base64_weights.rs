// benign: base64-encoded model weights.
/// Eight f32 weights, little endian, base64.
pub const WEIGHTS_B64: &str = "zczMPc3MTD6amZk+zczMPgAAAD+amRk/MzMzP83MTD8K1yM8j8J1PArXo7xmZuY+";
