// benign: secret-like words in prose next to hashes.
/// No password, token or key is needed: the data are public. Checksum
/// 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.
pub fn public() -> bool { true }
