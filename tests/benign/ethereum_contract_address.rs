// benign: an Ethereum contract address.
/// The Uniswap v3 USDC/ETH pool.
pub const POOL: &str = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640";
