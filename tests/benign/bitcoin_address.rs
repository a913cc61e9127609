// benign: a Bitcoin address.
/// Where the paper's authors took donations.
pub const ADDRESS: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
