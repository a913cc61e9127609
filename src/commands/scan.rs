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

/// Compiles a strategy to wasm for a backtest or a stage, after the source-level layers (syntax
/// and security) pass: rustc never sees a file that could read the machine at compile time.
pub fn compile_checked(root: &Path, source: &str) -> anyhow::Result<Vec<u8>> {
    use stratagem_actors::validator::sandbox::compile::{CompileLimits, Compiler, Toolchain};
    use stratagem_actors::validator::{conventions, syntax};
    let (report, parsed) = syntax::check(source);
    let Some(parsed) = parsed.filter(|_| report.passed()) else {
        bail!("the strategy does not parse (run `stratagem validate` for details)");
    };
    let security = security::check(source, &parsed.file);
    if let Some(first) = security.errors.first() {
        bail!(
            "the strategy fails the security layer: {} (run `stratagem validate`)",
            first.message
        );
    }
    let strategy_type = conventions::strategy_type(&parsed.file).ok_or_else(|| {
        anyhow::anyhow!(
            "no `pub struct …Strategy` implementing `Strategy` (run `stratagem validate`)"
        )
    })?;
    Ok(Compiler::new(
        Toolchain::detect()?,
        root.join("cache"),
        CompileLimits::default(),
    )
    .compile(source, &strategy_type)?)
}
