// benign: a UUID in simple form.
/// The run this was tuned in.
pub const RUN_ID: &str = "67e5504410b1426f9247bb680e5fe0c8";
