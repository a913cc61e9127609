// benign: stringify! and concat!.
pub const NAME: &str = concat!("momentum", "_", "v", 2);
pub fn field() -> &'static str { stringify!(lookback) }
