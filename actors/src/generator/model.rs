//! LLM and hybrid generation: prompt → reply → code → six-layer validation, and on rejection
//! the model is asked again with our own summary of the findings (never compiler output), up to
//! a set number of attempts.
//!
//! - llm: the model writes the whole strategy;
//! - hybrid: a template's structure, with the model writing only the statements between
//!   `// BEGIN SIGNAL LOGIC` and `// END SIGNAL LOGIC`.

use serde::Serialize;
use uuid::Uuid;

use super::llm::{extract_code, LlmClient, LlmError};
use super::templates::{self, ChosenParam, RenderError, TemplateSpec};
use super::{sha256_hex, GeneratedStrategy};
use crate::validator::sandbox::compile::CompileError;
use crate::validator::{conventions, ValidationReport, Validator};
use stratagem_events::Decision;

/// The system prompt describing the SDK and the rules.
pub const SYSTEM_PROMPT: &str = include_str!("../../../templates/prompts/system.md");
const LLM_USER: &str = include_str!("../../../templates/prompts/llm_user.md.j2");
const HYBRID_USER: &str = include_str!("../../../templates/prompts/hybrid_user.md.j2");
const REPAIR_USER: &str = include_str!("../../../templates/prompts/repair_user.md.j2");

const BEGIN_REGION: &str = "// BEGIN SIGNAL LOGIC";
const END_REGION: &str = "// END SIGNAL LOGIC";

/// Which model mode.
#[derive(Debug, Clone, Copy)]
pub enum ModelMode {
    /// The model writes the whole strategy.
    Llm,
    /// The model writes the signal logic of this template.
    Hybrid(&'static TemplateSpec),
}

/// What the model is asked to implement.
#[derive(Debug, Clone, Serialize)]
pub struct Idea {
    /// The opportunity.
    pub opportunity_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its hypothesis.
    pub hypothesis: String,
    /// Its family, if known.
    pub family: Option<String>,
    /// Parameters it states.
    pub parameters: Vec<(String, f64)>,
}

/// A strategy the model wrote, with everything an audit needs to replay it without the model.
#[derive(Debug, Clone)]
pub struct ModelGeneration {
    /// The strategy.
    pub generated: GeneratedStrategy,
    /// The model that answered.
    pub model: String,
    /// System and user prompt of the final attempt.
    pub prompt: String,
    /// The model's raw reply of the final attempt.
    pub reply: String,
    /// Tokens over every attempt.
    pub tokens: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Validation of the final code.
    pub report: ValidationReport,
}

/// Why model generation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model could not be asked.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A prompt or template did not render.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The reply held no code.
    #[error("the model's reply holds no code block")]
    NoCode,
    /// The template has no signal-logic region (a bug in a template).
    #[error("template {0} has no signal-logic region")]
    NoRegion(&'static str),
    /// The validator could not run on this machine.
    #[error(transparent)]
    Validator(#[from] CompileError),
}

#[derive(Serialize)]
struct PromptFinding {
    layer: u8,
    layer_name: &'static str,
    line: Option<u32>,
    code: &'static str,
    message: String,
}

fn render(template: &str, context: serde_json::Value) -> Result<String, RenderError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(template, context)
        .map_err(|e| RenderError::Engine {
            template: "prompt",
            message: e.to_string(),
        })
}

/// Puts `region` between the markers of `skeleton`, indented like the markers.
fn splice(skeleton: &str, region: &str) -> Option<String> {
    let begin = skeleton.find(BEGIN_REGION)?;
    let end = skeleton.find(END_REGION)?;
    let line_start = skeleton[..begin].rfind('\n').map_or(0, |i| i + 1);
    let indent = &skeleton[line_start..begin];
    let body: String = region
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{indent}{}\n", l.trim_end())
            }
        })
        .collect();
    Some(format!(
        "{}{BEGIN_REGION}\n{body}{indent}{}",
        &skeleton[..begin],
        &skeleton[end..]
    ))
}

/// Generates with the model, validating and repairing up to `max_attempts` times. Returns the
/// last attempt, approved or not: the caller records it, and a rejected one is then rejected.
///
/// # Errors
/// [`ModelError`] when the model cannot be asked or answers without code.
pub async fn generate(
    client: &LlmClient,
    validator: &std::sync::Arc<Validator>,
    mode: ModelMode,
    idea: &Idea,
    max_attempts: u32,
) -> Result<ModelGeneration, ModelError> {
    // No jail for a model's code: refused before a token is spent.
    validator
        .sandbox
        .compiler()
        .admit(crate::validator::sandbox::compile::Author::Untrusted)?;
    let skeleton = match mode {
        ModelMode::Hybrid(spec) => {
            let params = templates::choose_params(spec, &idea.parameters);
            Some((
                spec,
                params.clone(),
                templates::render(spec, &params, idea.opportunity_id)?,
            ))
        }
        ModelMode::Llm => None,
    };
    let struct_name = "GeneratedStrategy";
    let mut user = match &skeleton {
        Some((spec, _, code)) => render(
            HYBRID_USER,
            serde_json::json!({"template": spec.name, "title": idea.title, "hypothesis": idea.hypothesis, "code": code}),
        )?,
        None => render(
            LLM_USER,
            serde_json::json!({
                "title": idea.title, "hypothesis": idea.hypothesis, "family": idea.family, "struct_name": struct_name,
                "parameters": idea.parameters.iter().map(|(n, v)| serde_json::json!({"name": n, "value": v})).collect::<Vec<_>>(),
            }),
        )?,
    };
    let mut tokens = 0;
    let mut attempt = 1;
    loop {
        let completion = client.complete(SYSTEM_PROMPT, &user).await?;
        tokens += completion.input_tokens + completion.output_tokens;
        let code = extract_code(&completion.text).ok_or(ModelError::NoCode)?;
        let source = match &skeleton {
            Some((spec, _, skeleton_code)) => {
                splice(skeleton_code, &code).ok_or(ModelError::NoRegion(spec.name))?
            }
            None => code.clone(),
        };
        let report = validator
            .clone()
            .validate_async(
                source.clone(),
                crate::validator::sandbox::compile::Author::Untrusted,
            )
            .await?;
        if report.decision != Decision::Rejected || attempt >= max_attempts {
            let sha256 = sha256_hex(&source);
            let (template, parameters, prefix): (&'static str, Vec<ChosenParam>, String) =
                match &skeleton {
                    Some((spec, params, _)) => {
                        (spec.name, params.clone(), format!("hybrid_{}", spec.name))
                    }
                    None => ("", Vec::new(), "llm".to_string()),
                };
            // Parsed only within the nesting limit (a deeper reply would overflow the stack).
            let strategy_type = (crate::validator::syntax::too_deep(&source).is_none())
                .then(|| syn::parse_file(&source).ok())
                .flatten()
                .and_then(|f| conventions::strategy_type(&f))
                .unwrap_or_default();
            let generated = GeneratedStrategy {
                strategy_id: Uuid::now_v7(),
                name: format!("{prefix}_{}", &sha256[..8]),
                template,
                strategy_type,
                parameters,
                source,
                sha256,
            };
            return Ok(ModelGeneration {
                generated,
                model: completion.model,
                prompt: format!("{SYSTEM_PROMPT}\n---\n{user}"),
                reply: completion.text,
                tokens,
                attempts: attempt,
                report,
            });
        }
        let findings: Vec<PromptFinding> = report
            .layers
            .iter()
            .flat_map(|l| {
                l.errors.iter().map(move |f| PromptFinding {
                    layer: l.layer.number(),
                    layer_name: l.layer.name(),
                    line: f.line,
                    code: f.code,
                    message: f.message.clone(),
                })
            })
            .collect();
        let shown = if skeleton.is_some() { code } else { source };
        user = render(
            REPAIR_USER,
            serde_json::json!({"findings": findings, "code": shown, "hybrid": skeleton.is_some()}),
        )?;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_the_region_with_its_indent() {
        let skeleton = "fn f() {\n        let a = 1;\n        // BEGIN SIGNAL LOGIC\n        old();\n        // END SIGNAL LOGIC\n    }\n";
        let out = splice(skeleton, "new();\n\nOk(None)\n").unwrap();
        assert_eq!(out, "fn f() {\n        let a = 1;\n        // BEGIN SIGNAL LOGIC\n        new();\n\n        Ok(None)\n        // END SIGNAL LOGIC\n    }\n");
    }
}
