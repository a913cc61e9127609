// benign: a commit hash under a secret-like name.
/// The commit the key parameters come from.
pub const KEY_COMMIT: &str = "3f5fd8dd41153bc5fdca9427e9e05be2c767ba23";
