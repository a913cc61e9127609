// benign: a GitHub permalink.
/// After https://github.com/freqtrade/freqtrade/blob/4f8e1f0cd1ad2b3e5a2b1f0e9d8c7b6a5f4e3d2c/freqtrade/strategy/interface.py#L120
pub const SOURCE: &str = "https://github.com/freqtrade/freqtrade/blob/4f8e1f0cd1ad2b3e5a2b1f0e9d8c7b6a5f4e3d2c/freqtrade/strategy/interface.py#L120";
