//! LLM and hybrid generation: prompt → reply → code → six-layer validation, and on rejection
//! the model is asked again with every finding of layers 1–5 (and layer 6's, rustc's main
//! message with paths removed), the idea and the numbered code, up to a set number of attempts.
//!
//! - llm: the model writes the whole strategy, following one complete example;
//! - hybrid: a template's structure, with the model writing only the statements between
//!   `// BEGIN SIGNAL LOGIC` and `// END SIGNAL LOGIC`, enforced ([`super::region`]).
//!
//! Every request is an attempt on the log ([`AttemptLog`]), failed and cached ones included,
//! so the day's budget counts every token. A reply cut off at its token cap is asked again
//! with twice the cap; a reply with warnings only gets one repair round.

use std::future::Future;

use serde::Serialize;
use uuid::Uuid;

use super::llm::{extract_code, LlmClient, LlmError, ModelRequest};
use super::prompt::{self, ParamLine};
use super::region::{self, RegionRefusal};
use super::templates::{self, ChosenParam, RenderError, TemplateSpec};
use super::{sha256_hex, GeneratedStrategy};
use crate::validator::sandbox::compile::{Author, CompileError};
use crate::validator::{conventions, Layer, LayerReport, ValidationReport, Validator};
use stratagem_events::{Decision, GenerationAttempted, GenerationMode};

const LLM_USER: &str = include_str!("../../../templates/prompts/llm_user.md.j2");
const HYBRID_USER: &str = include_str!("../../../templates/prompts/hybrid_user.md.j2");
const REPAIR_USER: &str = include_str!("../../../templates/prompts/repair_user.md.j2");

/// The struct name asked for in llm mode.
pub const STRUCT_NAME: &str = "GeneratedStrategy";

/// Where each attempt goes as soon as it is made (the workflow appends it to the log).
pub trait AttemptLog {
    /// Records one attempt durably.
    ///
    /// # Errors
    /// A description of why it could not be recorded; the run stops.
    fn record(
        &mut self,
        attempt: GenerationAttempted,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

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
    /// No attempt gave code that could be validated (no code block, a truncated reply, a
    /// hybrid reply outside its region).
    #[error("the model gave no usable code in {attempts} attempt(s); the last: {last}")]
    NoUsableCode {
        /// Attempts made.
        attempts: u32,
        /// What was wrong with the last one.
        last: String,
    },
    /// The template has no signal-logic region (a bug in a template).
    #[error("template {0} has no signal-logic region")]
    NoRegion(&'static str),
    /// The validator could not run on this machine.
    #[error(transparent)]
    Validator(#[from] CompileError),
    /// An attempt could not be recorded.
    #[error("an attempt could not be recorded: {0}")]
    Record(String),
}

/// A finding as the repair prompt and the attempt's event show it.
#[derive(Debug, Clone, Serialize)]
struct PromptFinding {
    severity: &'static str,
    layer: u8,
    layer_name: &'static str,
    line: Option<u32>,
    code: &'static str,
    message: String,
}

fn prompt_findings(layers: &[LayerReport]) -> Vec<PromptFinding> {
    let mut out = Vec::new();
    for l in layers {
        for (severity, list) in [("error", &l.errors), ("warning", &l.warnings)] {
            out.extend(list.iter().map(|f| PromptFinding {
                severity,
                layer: l.layer.number(),
                layer_name: l.layer.name(),
                line: f.line,
                code: f.code,
                message: f.message.clone(),
            }));
        }
    }
    out
}

fn to_event_findings(findings: &[PromptFinding]) -> Vec<stratagem_events::Finding> {
    findings
        .iter()
        .map(|f| stratagem_events::Finding {
            code: f.code.to_string(),
            message: format!("{} (layer {}, {})", f.message, f.layer, f.severity),
            line: f.line,
        })
        .collect()
}

fn render(template: &str, context: serde_json::Value) -> Result<String, RenderError> {
    prompt::render(template, context).map_err(|message| RenderError::Engine {
        template: "prompt",
        message,
    })
}

/// What became of one reply, before it is recorded.
struct Outcome {
    outcome: &'static str,
    reason: String,
    findings: Vec<PromptFinding>,
    source_sha256: Option<String>,
}

/// One accepted (approved or warned) or final attempt, kept to be returned.
struct Kept {
    source: String,
    report: ValidationReport,
    model: String,
    user: String,
    reply: String,
}

/// Generates with the model, validating and repairing up to `max_attempts` times, recording
/// every attempt in `log` as it is made. Returns the accepted code, else the last validated
/// attempt (the caller records it, and a rejected one is then rejected).
///
/// # Errors
/// [`ModelError`] when the model cannot be asked (the failed attempt is recorded first), or
/// no attempt gave code to validate.
pub async fn generate<L: AttemptLog + Send>(
    client: &LlmClient,
    validator: &std::sync::Arc<Validator>,
    mode: ModelMode,
    idea: &Idea,
    max_attempts: u32,
    log: &mut L,
) -> Result<ModelGeneration, ModelError> {
    // No jail for a model's code: refused before a token is spent.
    validator.sandbox.compiler().admit(Author::Untrusted)?;
    let run_id = Uuid::now_v7();
    let system = prompt::system_prompt();
    let system_sha256 = sha256_hex(system);
    let idea_block = prompt::idea_block(&idea.title, &idea.hypothesis, idea.family.as_deref());
    let skeleton: Option<(&'static TemplateSpec, Vec<ChosenParam>, String)> = match mode {
        ModelMode::Hybrid(spec) => {
            let params = templates::choose_params(spec, &idea.parameters);
            let code = templates::render(spec, &params, idea.opportunity_id)?;
            if !region::has_region(&code) {
                return Err(ModelError::NoRegion(spec.name));
            }
            Some((spec, params, code))
        }
        ModelMode::Llm => None,
    };
    let first_user = match &skeleton {
        Some((spec, params, code)) => render(
            HYBRID_USER,
            serde_json::json!({
                "template": spec.name, "idea": idea_block, "code": code,
                "parameters": prompt::chosen_lines(spec, params),
            }),
        )?,
        None => {
            let parameters: Vec<ParamLine> =
                prompt::param_lines(idea.family.as_deref(), &idea.parameters);
            render(
                LLM_USER,
                serde_json::json!({
                    "idea": idea_block, "struct_name": STRUCT_NAME,
                    "parameters": parameters, "example": prompt::example(),
                }),
            )?
        }
    };
    let settings = client.settings().clone();
    let (event_mode, template) = match &skeleton {
        Some((spec, _, _)) => (GenerationMode::Hybrid, Some(spec.name.to_string())),
        None => (GenerationMode::Llm, None),
    };
    let mut user = first_user;
    let mut max_tokens = settings.max_tokens;
    let mut tokens = 0u64;
    let mut warning_round_done = false;
    let mut warned: Option<Kept> = None;
    let mut last_validated: Option<Kept> = None;
    let mut last_problem = String::new();
    let mut attempts = 0;
    while attempts < max_attempts {
        attempts += 1;
        let request = ModelRequest {
            system,
            user: &user,
            max_tokens,
            fence: super::llm::CODE_FENCE,
        };
        let mut event = GenerationAttempted {
            run_id,
            opportunity_id: idea.opportunity_id,
            attempt: attempts,
            mode: event_mode,
            template: template.clone(),
            prompt_version: prompt::PROMPT_VERSION,
            system_sha256: system_sha256.clone(),
            prompt: user.clone(),
            request_sha256: String::new(),
            requested_model: settings.model.clone(),
            model: None,
            temperature: settings.temperature,
            max_tokens,
            reply: None,
            outcome: String::new(),
            reason: String::new(),
            findings: Vec::new(),
            source_sha256: None,
            input_tokens: 0,
            output_tokens: 0,
            cached: false,
        };
        let completion = match client.complete(&request).await {
            Ok(c) => c,
            Err(e) => {
                event.outcome = "failed".into();
                event.reason = e.to_string();
                log.record(event).await.map_err(ModelError::Record)?;
                return Err(e.into());
            }
        };
        event.request_sha256.clone_from(&completion.request_sha256);
        event.model = Some(completion.model.clone());
        event.reply = Some(completion.text.clone().into());
        event.input_tokens = completion.input_tokens;
        event.output_tokens = completion.output_tokens;
        event.cached = completion.cached;
        tokens += event.tokens_charged();
        if completion.truncated {
            let next = max_tokens
                .saturating_mul(2)
                .min(settings.max_tokens_cap.max(max_tokens));
            event.outcome = "truncated".into();
            event.reason = format!(
                "the reply was cut off at its cap of {max_tokens} tokens; asked again with {next}"
            );
            last_problem.clone_from(&event.reason);
            log.record(event).await.map_err(ModelError::Record)?;
            max_tokens = next;
            continue;
        }
        let outcome = match reply_source(&completion.text, skeleton.as_ref().map(|s| s.2.as_str()))
        {
            Err(refusal) => Outcome {
                outcome: if matches!(refusal, Refusal::NoCode) {
                    "no_code"
                } else {
                    "refused"
                },
                reason: refusal.to_string(),
                findings: Vec::new(),
                source_sha256: None,
            },
            Ok((source, code)) => {
                let report = validator
                    .clone()
                    .validate_async(source.clone(), Author::Untrusted)
                    .await?;
                let sha = sha256_hex(&source);
                let decision = report.decision;
                // A rejection stopped at its first failing layer: run layers 1–5 again without
                // stopping, for every finding, and keep layer 6's when it ran. Otherwise every
                // layer ran and the report holds them all.
                let layers = if decision == Decision::Rejected {
                    let mut all = validator.screen_all(&source);
                    all.extend(
                        report
                            .layers
                            .iter()
                            .filter(|l| l.layer == Layer::Sandbox)
                            .cloned(),
                    );
                    all
                } else {
                    report.layers.clone()
                };
                let findings = prompt_findings(&layers);
                let kept = Kept {
                    source: source.clone(),
                    report,
                    model: completion.model.clone(),
                    user: user.clone(),
                    reply: completion.text.clone(),
                };
                let reason = kept.report.reason();
                event.outcome = match decision {
                    Decision::Approved => "approved",
                    Decision::ManualReview => "manual_review",
                    Decision::Rejected => "rejected",
                }
                .into();
                event.reason.clone_from(&reason);
                event.findings = to_event_findings(&findings);
                event.source_sha256 = Some(sha);
                log.record(event).await.map_err(ModelError::Record)?;
                let done = decision == Decision::Approved
                    || (decision == Decision::ManualReview
                        && (warning_round_done || attempts >= max_attempts));
                if done {
                    return Ok(finish(kept, skeleton.as_ref(), tokens, attempts));
                }
                // A repair: of the errors, or once of the warnings.
                let warnings_only = decision == Decision::ManualReview;
                user = repair_prompt(
                    &idea_block,
                    skeleton.is_some(),
                    None,
                    &findings,
                    &code,
                    &kept.source,
                    warnings_only,
                )?;
                if warnings_only {
                    warning_round_done = true;
                    warned = Some(kept);
                } else {
                    last_problem = reason;
                    last_validated = Some(kept);
                }
                continue;
            }
        };
        last_problem.clone_from(&outcome.reason);
        event.outcome = outcome.outcome.into();
        event.reason.clone_from(&outcome.reason);
        event.source_sha256 = outcome.source_sha256;
        log.record(event).await.map_err(ModelError::Record)?;
        let code = extract_code(&completion.text).unwrap_or_default();
        user = repair_prompt(
            &idea_block,
            skeleton.is_some(),
            Some(&outcome.reason),
            &outcome.findings,
            &code,
            &code,
            false,
        )?;
    }
    // Out of attempts: the warned code if a repair of its warnings failed, else the last code
    // validated (rejected: the caller records it and its rejection).
    match warned.or(last_validated) {
        Some(kept) => Ok(finish(kept, skeleton.as_ref(), tokens, attempts)),
        None => Err(ModelError::NoUsableCode {
            attempts,
            last: last_problem,
        }),
    }
}

/// Why a reply gave no code to validate.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the reply holds no fenced code block")]
    NoCode,
    #[error(transparent)]
    Region(#[from] RegionRefusal),
}

/// The file to validate from a reply, and the reply's code: spliced and checked in hybrid.
fn reply_source(reply: &str, skeleton: Option<&str>) -> Result<(String, String), Refusal> {
    let code = extract_code(reply).ok_or(Refusal::NoCode)?;
    match skeleton {
        Some(skeleton) => Ok((region::splice_checked(skeleton, &code)?.source, code)),
        None => Ok((code.clone(), code)),
    }
}

fn repair_prompt(
    idea_block: &str,
    hybrid: bool,
    refusal: Option<&str>,
    findings: &[PromptFinding],
    code: &str,
    whole: &str,
    warnings_only: bool,
) -> Result<String, RenderError> {
    render(
        REPAIR_USER,
        serde_json::json!({
            "refusal": refusal, "findings": findings, "idea": idea_block, "hybrid": hybrid,
            "code": code, "numbered": prompt::numbered(whole), "warnings_only": warnings_only,
        }),
    )
}

fn finish(
    kept: Kept,
    skeleton: Option<&(&'static TemplateSpec, Vec<ChosenParam>, String)>,
    tokens: u64,
    attempts: u32,
) -> ModelGeneration {
    let sha256 = sha256_hex(&kept.source);
    let (template, parameters, prefix): (&'static str, Vec<ChosenParam>, String) = match skeleton {
        Some((spec, params, _)) => (spec.name, params.clone(), format!("hybrid_{}", spec.name)),
        None => ("", Vec::new(), "llm".to_string()),
    };
    // Parsed only within the nesting limit (a deeper reply would overflow the stack).
    let strategy_type = (crate::validator::syntax::too_deep(&kept.source).is_none())
        .then(|| syn::parse_file(&kept.source).ok())
        .flatten()
        .and_then(|f| conventions::strategy_type(&f))
        .unwrap_or_default();
    let generated = GeneratedStrategy {
        strategy_id: Uuid::now_v7(),
        name: format!("{prefix}_{}", &sha256[..8]),
        template,
        strategy_type,
        parameters,
        source: kept.source,
        sha256,
    };
    ModelGeneration {
        generated,
        model: kept.model,
        prompt: format!("{}\n---\n{}", prompt::system_prompt(), kept.user),
        reply: kept.reply,
        tokens,
        attempts,
        report: kept.report,
    }
}
