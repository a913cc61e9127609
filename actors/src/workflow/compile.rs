//! Reading a strategy file, and compiling a strategy for a backtest or a stage.

use std::io::Read;
use std::path::Path;

use super::{refuse, Result, WorkflowError};
use crate::validator::sandbox::compile::{cached_module, CompileLimits, Compiler, Toolchain};
use crate::validator::syntax::MAX_SOURCE_BYTES;
use crate::validator::{conventions, security, syntax};

/// Reads a strategy file, refusing one over the size cap or not UTF-8.
///
/// # Errors
/// The file cannot be read, is too large, or is not UTF-8.
pub fn read_strategy(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path)
        .map_err(|e| WorkflowError::io(format!("cannot open {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| WorkflowError::io(format!("cannot read {}", path.display()), e))?;
    if bytes.len() > MAX_SOURCE_BYTES {
        refuse!(
            "{} is larger than {MAX_SOURCE_BYTES} bytes: not a strategy file",
            path.display()
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| WorkflowError::refused(format!("{} is not UTF-8 text", path.display())))
}

/// Compiles a strategy to wasm after the source-level layers (syntax and security) pass: rustc
/// never sees a file that could read the machine at compile time. Modules are cached in
/// `DATA_DIR/cache`: a module compiled before is read back without looking for rustc or the
/// jail.
///
/// # Errors
/// A strategy that fails those layers, or rustc's error.
pub fn compile_checked(root: &Path, source: &str) -> Result<Vec<u8>> {
    let (report, parsed) = syntax::check(source);
    let Some(parsed) = parsed.filter(|_| report.passed()) else {
        refuse!("the strategy does not parse (run `stratagem validate` for details)");
    };
    let security = security::check(source, &parsed.file);
    if let Some(first) = security.errors.first() {
        refuse!(
            "the strategy fails the security layer: {} (run `stratagem validate`)",
            first.message
        );
    }
    let strategy_type = conventions::strategy_type(&parsed.file).ok_or_else(|| {
        WorkflowError::refused(
            "no `pub struct …Strategy` implementing `Strategy` (run `stratagem validate`)",
        )
    })?;
    let cache = root.join("cache");
    if let Some(wasm) = cached_module(&cache, source, &strategy_type) {
        return Ok(wasm);
    }
    Ok(
        Compiler::new(Toolchain::detect()?, cache, CompileLimits::default())
            .compile(source, &strategy_type)?,
    )
}
