// benign: a SHA-256 of a data file.
/// SHA-256 of the bars it was tuned on.
pub const DATA_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
