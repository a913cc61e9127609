//! The six-layer strategy validator. Each layer is a pure function over the strategy source (or
//! its syntax tree) that returns a [`LayerReport`]; the caller runs them in order, fail-fast, and
//! records each report as an event.
//!
//! | layer | module | what it checks |
//! | --- | --- | --- |
//! | 1 | [`syntax`] | size cap, parses with `syn`, lists imports, functions and types |
//! | 2 | [`security`] | forbidden constructs in the AST **and** the raw token stream; hard-coded secrets |
//! | 3 | [`conventions`] | SDK import, `pub struct …Strategy`, `impl Strategy` with both methods; magic numbers |
//! | 4 | [`integration`] | confidence gate, sizing, error handling, logging |
//! | 5 | [`coverage`] | at least 3 functions and 20 lines of logic |
//! | 6 | [`sandbox`] | rustc → wasm32, run twice in wasmtime over real bars, same orders |
//!
//! Decision: every layer clean → approved for COLD; any error → rejected (later layers do not
//! run); warnings only → manual review.
//!
//! Messages are our own words: they never quote a secret, a file path a strategy tried to read,
//! or compiler output.

pub mod conventions;
pub mod coverage;
pub mod integration;
pub mod sandbox;
pub mod secrets;
pub mod security;
pub mod syntax;

use std::time::Duration;

use serde::Serialize;
use stratagem_events::Decision;

use integration::IntegrationRules;
use sandbox::compile::{Author, CompileError};
use sandbox::runtime::SandboxBar;
use sandbox::SandboxLayer;

/// The validator layers, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Parses as Rust.
    Syntax = 1,
    /// Nothing that could escape the sandbox or leak a secret.
    Security = 2,
    /// The SDK's conventions.
    Conventions = 3,
    /// Gate, sizing, error handling, logging.
    Integration = 4,
    /// Enough functions and logic.
    Coverage = 5,
    /// Compiles to wasm and runs deterministically in the sandbox.
    Sandbox = 6,
}

impl Layer {
    /// 1 to 6.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Syntax => "syntax",
            Layer::Security => "security",
            Layer::Conventions => "conventions",
            Layer::Integration => "integration",
            Layer::Coverage => "coverage",
            Layer::Sandbox => "sandbox",
        }
    }
}

/// One error or warning, with a stable code and the 1-based line when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// 1-based line.
    pub line: Option<u32>,
    /// Stable code, e.g. `security.unsafe`.
    pub code: &'static str,
    /// What is wrong, in our words.
    pub message: String,
}

impl Finding {
    /// A finding at a line.
    pub fn at(line: usize, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            line: u32::try_from(line).ok().filter(|l| *l > 0),
            code,
            message: message.into(),
        }
    }

    /// The persisted form.
    pub fn to_event(&self) -> stratagem_events::Finding {
        stratagem_events::Finding {
            code: self.code.to_string(),
            message: self.message.clone(),
            line: self.line,
        }
    }
}

/// The result of one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerReport {
    /// Which layer.
    pub layer: Layer,
    /// Errors: any one rejects the strategy.
    pub errors: Vec<Finding>,
    /// Warnings: alone, they send it to manual review.
    pub warnings: Vec<Finding>,
    /// How long the layer took (`duration_us` in JSON: the unit in the key).
    #[serde(serialize_with = "micros", rename = "duration_us")]
    pub duration: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl LayerReport {
    /// No errors.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }

    /// Sorts and de-duplicates findings (the AST and token checks can find the same thing).
    fn normalise(mut self) -> Self {
        for list in [&mut self.errors, &mut self.warnings] {
            // Same line and code from both passes: keep the more descriptive message.
            list.sort_by(|a, b| {
                (a.line, a.code)
                    .cmp(&(b.line, b.code))
                    .then(b.message.len().cmp(&a.message.len()))
            });
            list.dedup_by(|a, b| a.line == b.line && a.code == b.code);
        }
        self
    }

    /// The persisted form.
    pub fn to_event(&self, strategy_id: uuid::Uuid) -> stratagem_events::ValidationLayerFinished {
        stratagem_events::ValidationLayerFinished {
            strategy_id,
            layer: self.layer.number(),
            layer_name: self.layer.name().to_string(),
            passed: self.passed(),
            errors: self.errors.iter().map(Finding::to_event).collect(),
            warnings: self.warnings.iter().map(Finding::to_event).collect(),
            duration_us: u64::try_from(self.duration.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// The outcome of all layers that ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    /// SHA-256 of the source, hex.
    pub sha256: String,
    /// The strategy type found by layer 3.
    pub strategy_type: Option<String>,
    /// Reports of the layers that ran, in order (fail-fast: none after the first with errors).
    pub layers: Vec<LayerReport>,
    /// The verdict.
    pub decision: Decision,
}

impl ValidationReport {
    /// Layers that ran without errors.
    pub fn layers_passed(&self) -> u8 {
        u8::try_from(self.layers.iter().filter(|l| l.passed()).count()).unwrap_or(u8::MAX)
    }

    /// One line saying why.
    pub fn reason(&self) -> String {
        match self.layers.iter().find(|l| !l.passed()) {
            Some(l) => format!(
                "layer {} ({}): {}",
                l.layer.number(),
                l.layer.name(),
                l.errors.first().map_or("", |f| f.message.as_str())
            ),
            None if self.decision == Decision::ManualReview => {
                let n: usize = self.layers.iter().map(|l| l.warnings.len()).sum();
                format!("{n} warning(s): manual review")
            }
            None => "all six layers passed".into(),
        }
    }
}

/// Runs the six layers in order, fail-fast.
pub struct Validator {
    /// Layer 4's rules.
    pub rules: IntegrationRules,
    /// Layer 6.
    pub sandbox: SandboxLayer,
    /// Bars layer 6 runs the strategy over.
    pub bars: Vec<SandboxBar>,
}

impl Validator {
    /// Validates one strategy source written by `author`.
    ///
    /// # Errors
    /// Only problems of this machine (toolchain, cache files, no jail for code that is not
    /// ours: [`CompileError::NoJail`]) from layer 6.
    pub fn validate(&self, source: &str, author: Author) -> Result<ValidationReport, CompileError> {
        match self.screen(source) {
            Screened::Decided(report) => Ok(report),
            Screened::Passed {
                mut layers,
                strategy_type,
            } => {
                self.sandbox.compiler().admit(author)?;
                layers.push(self.sandbox.check(source, &strategy_type, &self.bars)?);
                Ok(finish(source, layers, Some(strategy_type)))
            }
        }
    }

    /// [`Validator::validate`] for the pipeline: layers 1–5 and the sandbox runs on the
    /// blocking pool, rustc awaited as a child process (killed if this future is dropped).
    ///
    /// # Errors
    /// As [`Validator::validate`].
    pub async fn validate_async(
        self: std::sync::Arc<Self>,
        source: String,
        author: Author,
    ) -> Result<ValidationReport, CompileError> {
        let stopped = |_| CompileError::Internal("validation worker");
        let (this, text) = (self.clone(), source.clone());
        let front = tokio::task::spawn_blocking(move || this.screen(&text))
            .await
            .map_err(stopped)?;
        let (mut layers, strategy_type) = match front {
            Screened::Decided(report) => return Ok(report),
            Screened::Passed {
                layers,
                strategy_type,
            } => (layers, strategy_type),
        };
        self.sandbox.compiler().admit(author)?;
        let started = std::time::Instant::now();
        let compiled = self
            .sandbox
            .compiler()
            .compile_async(&source, &strategy_type)
            .await;
        tokio::task::spawn_blocking(move || {
            layers.push(self.sandbox.check_compiled(compiled, started, &self.bars)?);
            Ok(finish(&source, layers, Some(strategy_type)))
        })
        .await
        .map_err(stopped)?
    }

    /// Layers 1–5, fail-fast (cheap, no I/O): a report when they decide, else what layer 6
    /// compiles. The pipeline's screeners run this, the validators layer 6 after it.
    pub fn screen(&self, source: &str) -> Screened {
        let mut layers = Vec::new();
        let (report, parsed) = syntax::check(source);
        layers.push(report);
        let Some(parsed) = parsed else {
            return Screened::Decided(finish(source, layers, None));
        };
        let file = &parsed.file;
        for report in [
            security::check_parsed(source, file, parsed.tokens.clone()),
            conventions::check(file),
            integration::check(file, self.rules),
            coverage::check(source, file),
        ] {
            let failed = !report.passed();
            layers.push(report);
            if failed {
                return Screened::Decided(finish(source, layers, conventions::strategy_type(file)));
            }
        }
        match conventions::strategy_type(file) {
            None => Screened::Decided(finish(source, layers, None)),
            Some(strategy_type) => Screened::Passed {
                layers,
                strategy_type,
            },
        }
    }
}

impl Validator {
    /// Layers 1–5, not fail-fast: every finding they can give (all of them when the file
    /// parses, else layer 1's). For a repair prompt, which should fix everything at once.
    pub fn screen_all(&self, source: &str) -> Vec<LayerReport> {
        let (report, parsed) = syntax::check(source);
        let mut layers = vec![report];
        if let Some(parsed) = parsed {
            let file = &parsed.file;
            layers.extend([
                security::check_parsed(source, file, parsed.tokens.clone()),
                conventions::check(file),
                integration::check(file, self.rules),
                coverage::check(source, file),
            ]);
        }
        layers
    }
}

/// What layers 1–5 left.
#[derive(Debug, Clone)]
pub enum Screened {
    /// A decision: a layer failed, or there is nothing to compile.
    Decided(ValidationReport),
    /// They passed: layer 6 compiles this type.
    Passed {
        /// Layers 1–5's reports.
        layers: Vec<LayerReport>,
        /// The strategy type layer 6 links.
        strategy_type: String,
    },
}

/// The report of the layers run: rejected if one failed, manual review if any warned.
fn finish(
    source: &str,
    layers: Vec<LayerReport>,
    strategy_type: Option<String>,
) -> ValidationReport {
    use sha2::Digest;
    let sha256 = sha2::Sha256::digest(source.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let decision = if layers.iter().any(|l| !l.passed()) {
        Decision::Rejected
    } else if layers.iter().any(|l| !l.warnings.is_empty()) {
        Decision::ManualReview
    } else {
        Decision::Approved
    };
    ValidationReport {
        sha256,
        strategy_type,
        layers,
        decision,
    }
}
