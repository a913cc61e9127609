//! `stratagem scan FILE`: the security layer alone.

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::validator::security;
use stratagem_actors::workflow::compile::read_strategy;

use super::print_json;

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
        crate::output::verdict(
            "findings",
            format!("{} security finding(s)", report.errors.len()),
        );
        ExitCode::FAILURE
    })
}
