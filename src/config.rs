//! Configuration: a TOML file, then the environment, then the command line's flags, each
//! overriding the one before. Every setting is named by its environment variable; in the file,
//! `[section] key = value` stands for `SECTION_KEY` (`[discovery] arxiv_enabled = false` is
//! `DISCOVERY_ARXIV_ENABLED=0`) and a top-level `key` for `KEY`. The file is read once at start;
//! an unknown key, a nested table or an unusable value is refused, naming the key. Every
//! settings reader asks [`var`], which answers from the environment and then from the file: the
//! process's environment is never written.
//!
//! The file is `--config FILE` (env `STRATAGEM_CONFIG`), else `DATA_DIR/stratagem.toml` when it
//! exists. Secrets (keys, tokens, the webhook URL) are never printed by `config show`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The configuration file.
    File,
    /// The environment.
    Env,
}

pub use stratagem_actors::workflow::settings::is_secret;

/// Every setting, by environment variable name, in a fixed order (documented in
/// `stratagem_actors::workflow::settings::KEYS`).
pub fn known_keys() -> Vec<String> {
    stratagem_actors::workflow::settings::known_keys()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// What was loaded: the file and the keys it set.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Keys the file set (those the environment did not).
    pub from_file: Vec<String>,
    /// The file's values, by key.
    values: FileValues,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// What [`load`] did (empty before it ran).
pub fn loaded() -> &'static Loaded {
    LOADED.get_or_init(Loaded::default)
}

fn value_text(key: &str, v: &toml::Value) -> anyhow::Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
        toml::Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Integer(n) => Ok(n.to_string()),
                    _ => bail!("{key}: a list may hold only text and whole numbers"),
                })
                .collect::<anyhow::Result<_>>()?;
            // Queries and search terms may hold commas: they are `;`-separated.
            let sep = if key.ends_with("_QUERIES") || key.ends_with("_TERMS") {
                ";"
            } else {
                ","
            };
            parts.join(sep)
        }
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            bail!("{key}: expected text, a number, true/false or a list")
        }
    })
}

/// A configuration file's settings: `KEY → value`.
pub type FileValues = BTreeMap<String, String>;

/// Reads a configuration file into `KEY → value`.
///
/// # Errors
/// An unreadable file, bad TOML, an unknown key or an unusable value, named.
pub fn read_file(path: &Path) -> anyhow::Result<FileValues> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let known = known_keys();
    let mut out = BTreeMap::new();
    let mut set_by: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |key: String, shown: String, v: &toml::Value| -> anyhow::Result<()> {
        if !known.contains(&key) {
            bail!("{}: unknown setting {shown} ({key}); see `stratagem config show` for the known ones", path.display());
        }
        if let Some(first) = set_by.insert(key.clone(), shown.clone()) {
            bail!(
                "{}: {shown} sets {key}, which {first} already set: keep one",
                path.display()
            );
        }
        let text =
            value_text(&key, v).with_context(|| format!("{}: setting {shown}", path.display()))?;
        out.insert(key, text);
        Ok(())
    };
    for (k, v) in &table {
        match v {
            toml::Value::Table(section) => {
                for (sk, sv) in section {
                    if sv.is_table() {
                        bail!(
                            "{}: [{k}] {sk} is a table; settings are one level deep",
                            path.display()
                        );
                    }
                    put(
                        format!("{k}_{sk}").to_ascii_uppercase(),
                        format!("{k}.{sk}"),
                        sv,
                    )?;
                }
            }
            _ => put(k.to_ascii_uppercase(), k.clone(), v)?,
        }
    }
    Ok(out)
}

/// Loads the configuration file, if any: [`var`] answers from it what the environment does not
/// set. Runs once, at start.
///
/// # Errors
/// As [`read_file`]; and a `--config` file that does not exist.
pub fn load(explicit: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let path = match explicit {
        Some(p) => {
            if !p.is_file() {
                bail!("--config {}: no such file", p.display());
            }
            Some(p.to_path_buf())
        }
        None => Some(data_dir.join("stratagem.toml")).filter(|p| p.is_file()),
    };
    let mut loaded = Loaded {
        file: path.clone(),
        ..Loaded::default()
    };
    if let Some(path) = &path {
        for (key, value) in read_file(path)? {
            if std::env::var_os(&key).is_none() {
                loaded.from_file.push(key.clone());
            }
            loaded.values.insert(key, value);
        }
    }
    let _ = LOADED.set(loaded);
    Ok(())
}

/// A setting's value: the environment's, else the configuration file's (as
/// [`std::env::var`] answers, so readers tell "unset" from "not text").
///
/// # Errors
/// `NotPresent` when neither sets it; `NotUnicode` when the environment's value is not text.
pub fn var(key: &str) -> Result<String, std::env::VarError> {
    match std::env::var(key) {
        Err(std::env::VarError::NotPresent) => loaded()
            .values
            .get(key)
            .cloned()
            .ok_or(std::env::VarError::NotPresent),
        other => other,
    }
}

/// [`var`] as a lookup: text, or `None` when unset or not text.
pub fn lookup(key: &str) -> Option<String> {
    var(key).ok()
}

/// Where a key's current value comes from, if it is set.
pub fn origin(key: &str) -> Option<Origin> {
    if std::env::var_os(key).is_some() {
        return Some(Origin::Env);
    }
    loaded().values.contains_key(key).then_some(Origin::File)
}

/// The settings as the library's workflows read them: [`var`]'s answers. A value that is not
/// text reaches them as text with the bad bytes replaced, so its reader names the key.
pub fn settings() -> stratagem_actors::workflow::settings::Settings {
    stratagem_actors::workflow::settings::Settings::new(|key| match var(key) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(raw)) => Some(raw.to_string_lossy().into_owned()),
    })
}
