// benign: an instrument identifier with digits.
pub const SERIES: &str = "BTC-USDT-PERP-20241227";
pub const VENUE_SYMBOL: &str = "XBTUSDTM_20241227_Q4";
