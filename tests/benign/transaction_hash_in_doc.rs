// benign: a transaction hash in a doc comment.
/// The first swap seen: tx 0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640abcdef0123456789abcdef01.
pub fn first_swap_block() -> u64 { 17_000_000 }
