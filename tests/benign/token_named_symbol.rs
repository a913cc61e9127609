// benign: a token symbol under a secret-like name.
/// The quote token.
pub const QUOTE_TOKEN: &str = "USDC";
pub const TOKEN_DECIMALS: u32 = 6;
