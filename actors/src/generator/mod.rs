//! The strategy generator. Template mode substitutes an opportunity's parameters into a
//! template ([`templates`]); the LLM and hybrid modes follow.

pub mod llm;
pub mod model;
pub mod prompt;
pub mod region;
pub mod templates;

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use templates::{ChosenParam, RenderError, TemplateSpec};

/// A generated strategy, before it is written and recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedStrategy {
    /// Our id for it.
    pub strategy_id: Uuid,
    /// `<template>_<hash8>`.
    pub name: String,
    /// The template used.
    pub template: &'static str,
    /// The strategy type the code declares.
    pub strategy_type: String,
    /// The parameters, with where each came from.
    pub parameters: Vec<ChosenParam>,
    /// The source.
    pub source: String,
    /// SHA-256 of the source, hex.
    pub sha256: String,
}

impl GeneratedStrategy {
    /// The file name under `generated_strategies/`.
    pub fn file_name(&self) -> String {
        format!("{}.rs", self.name)
    }
}

/// SHA-256 of a text, hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Template mode: the opportunity's stated parameters substituted into a template.
///
/// # Errors
/// When the parameters contradict each other or the template does not render.
pub fn from_template(
    spec: &'static TemplateSpec,
    opportunity_id: Uuid,
    given: &[(String, f64)],
) -> Result<GeneratedStrategy, RenderError> {
    let parameters = templates::choose_params(spec, given);
    let source = templates::render(spec, &parameters, opportunity_id)?;
    let sha256 = sha256_hex(&source);
    Ok(GeneratedStrategy {
        strategy_id: Uuid::now_v7(),
        name: format!("{}_{}", spec.name, &sha256[..8]),
        template: spec.name,
        strategy_type: templates::struct_name(spec),
        parameters,
        source,
        sha256,
    })
}
