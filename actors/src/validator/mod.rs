//! The six-layer strategy validator. Each layer is a pure function over the strategy source (or
//! its syntax tree) that returns a [`LayerReport`]; the caller runs them in order, fail-fast, and
//! records each report as an event.
//!
//! | layer | module | what it checks |
//! | --- | --- | --- |
//! | 1 | [`syntax`] | size cap, parses with `syn`, lists imports, functions and types |
//! | 2 | [`security`] | forbidden constructs in the AST **and** the raw token stream; hard-coded secrets |
//!
//! Layers 3–6 (conventions, integration, coverage, sandbox) follow with the strategy SDK.
//!
//! Messages are our own words: they never quote a secret, a file path a strategy tried to read,
//! or compiler output.

pub mod sandbox;
pub mod secrets;
pub mod security;
pub mod syntax;

use std::time::Duration;

use serde::Serialize;

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
    /// How long the layer took.
    #[serde(serialize_with = "micros")]
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
            list.sort();
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
