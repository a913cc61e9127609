//! Compiling a recorded strategy for a backtest or a stage.

use std::path::Path;

use super::{refuse, Result, WorkflowError};
use crate::validator::sandbox::compile::{CompileLimits, Compiler, Toolchain};
use crate::validator::{conventions, security, syntax};

/// Compiles a strategy to wasm after the source-level layers (syntax and security) pass: rustc
/// never sees a file that could read the machine at compile time. Modules are cached in
/// `DATA_DIR/cache`.
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
    Ok(Compiler::new(
        Toolchain::detect()?,
        root.join("cache"),
        CompileLimits::default(),
    )
    .compile(source, &strategy_type)?)
}
