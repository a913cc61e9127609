//! `stratagem scan FILE`: the security layer alone.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use stratagem_actors::validator::security;
use stratagem_actors::validator::syntax::MAX_SOURCE_BYTES;

use super::print_json;

/// Reads a strategy file, refusing one over the size cap or not UTF-8.
pub fn read_strategy(path: &Path) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > MAX_SOURCE_BYTES {
        bail!(
            "{} is larger than {MAX_SOURCE_BYTES} bytes: not a strategy file",
            path.display()
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

pub fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let source = read_strategy(path)?;
    let report = security::scan_source(&source);
    if json {
        print_json(&report)?;
    } else if report.passed() {
        say!(
            "clean: no security findings in {} ({} µs)",
            path.display(),
            report.duration.as_micros()
        );
    } else {
        say!(
            "REJECTED: {} security finding(s) in {}",
            report.errors.len(),
            path.display()
        );
        for f in &report.errors {
            let line = f.line.map_or_else(|| "-".to_string(), |l| l.to_string());
            say!("  line {line:>4}  {:<26} {}", f.code, f.message);
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
