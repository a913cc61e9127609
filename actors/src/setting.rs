//! The error of a setting that cannot be used, shared by every settings reader of the library
//! (discovery, scorer, Slack).

/// A setting that cannot be used: its key, and what is wrong in words that name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SettingError {
    /// The setting's key (its environment variable), or the keys' pattern when several are at
    /// fault together (`OPPORTUNITY_*_WEIGHT`).
    pub key: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl SettingError {
    /// A setting error.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> SettingError {
        SettingError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Whether the message contains `text` (tests check that it names the key).
    pub fn contains(&self, text: &str) -> bool {
        self.message.contains(text)
    }
}
