// benign: a sort key under a secret-like name.
pub fn sort_key() -> &'static str { let key = "close_price"; key }
