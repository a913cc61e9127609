// benign: a commit hash in a doc comment.
/// Ported from upstream commit 3f5fd8dd41153bc5fdca9427e9e05be2c767ba23 (key insight: the
/// lookback, commit key 9c1185a5c5e9fc54612808977ee8f548b2258d31).
pub fn ported() -> u32 { 1 }
