//! `stratagem config show`: every setting with what it does (documented once, in
//! `stratagem_actors::workflow::settings::KEYS`), its value (secrets redacted) and where it came
//! from, then the settings as each part of the pipeline resolves them — which also checks them: a
//! bad value is refused with its key named.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_actors::workflow::settings::{known_keys, Settings};

use super::print_json;
use crate::cli::ConfigCommand;
use crate::config::{self, Origin};

#[derive(Serialize)]
struct Setting {
    key: String,
    value: Option<String>,
    origin: Option<Origin>,
    secret: bool,
    /// What it does, and its default.
    doc: String,
}

#[derive(Serialize)]
struct Shown {
    file: Option<String>,
    settings: Vec<Setting>,
    /// The parts whose settings resolved and were checked.
    checked: Vec<&'static str>,
}

pub fn run(root: &Path, settings: &Settings, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Show(flags) = cmd;
    // Resolve (and so check) every part's settings first: nothing is printed for a bad one.
    let (discovery, scorer) = settings.discovery(root)?;
    let codegen = settings.codegen()?;
    let stages = settings.stages()?;
    let monitor = settings.monitor()?;
    let concurrency = settings.concurrency()?;
    let slack = settings.slack()?;
    let daemon = settings.daemon()?;
    let validator = (
        settings.flag("VALIDATOR_REQUIRE_ERROR_HANDLING")?,
        settings.flag("VALIDATOR_REQUIRE_LOGGING")?,
        settings.sandbox_timeout()?,
    );
    let shown: Vec<Setting> = known_keys()
        .into_iter()
        .map(|(key, doc)| {
            let secret = config::is_secret(&key);
            let value =
                crate::config::var(&key)
                    .ok()
                    .map(|v| if secret { "***".to_string() } else { v });
            Setting {
                origin: config::origin(&key),
                value,
                secret,
                key,
                doc,
            }
        })
        .collect();
    let resolved = vec![
        ("discovery", format!("{discovery:#?}")),
        ("scorer", format!("{scorer:#?}")),
        ("codegen", format!("{codegen:#?}")),
        ("stages", format!("{stages:#?}")),
        ("monitor", format!("{monitor:#?}")),
        (
            "validator",
            format!(
                "require_error_handling: {}, require_logging: {}, sandbox_timeout: {:?}",
                validator.0, validator.1, validator.2
            ),
        ),
        ("slack", format!("{slack:#?}")),
        ("pipeline", format!("{concurrency:#?}")),
        ("daemon", format!("{daemon:#?}")),
    ];
    let file = config::loaded()
        .file
        .as_ref()
        .map(|f| f.display().to_string());
    if flags.json {
        // The resolved parts are Rust values; their words are for the text form. JSON says
        // which parts resolved and were checked (every setting's value is in `settings`).
        print_json(&Shown {
            file,
            settings: shown,
            checked: resolved.iter().map(|(name, _)| *name).collect(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "configuration file  {}",
        file.as_deref().unwrap_or("(none)")
    );
    for s in &shown {
        let value = match (&s.value, s.origin) {
            (Some(v), Some(Origin::File)) => format!("= {v}  (file)"),
            (Some(v), _) => format!("= {v}  (env)"),
            _ => "unset".to_string(),
        };
        say!("{} {value}\n    {}", s.key, s.doc);
    }
    for (name, text) in &resolved {
        say!("\n[{name}]\n{text}");
    }
    Ok(ExitCode::SUCCESS)
}
