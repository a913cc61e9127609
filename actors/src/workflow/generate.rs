//! Generating a strategy as the log records it: from a template (the pipeline's path, and
//! `generate --mode template`), or by a language model (`llm`, or `hybrid`: a template's
//! structure with model-written logic) within the day's token budget. The file is written to
//! `DATA_DIR/generated_strategies/` and `strategy.generated` recorded once per source hash.

use std::path::{Path, PathBuf};

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::projection::OpportunityView;
use stratagem_events::{
    AppendRequest, GenerationAttempted, GenerationMode, Parameter, StrategyGenerated,
};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::settings::Settings;
use super::{refuse, Result, WorkflowError};
use crate::generator::llm::LlmClient;
use crate::generator::model::{self, Idea, ModelMode};
use crate::generator::templates::{self, TemplateSpec};
use crate::generator::{self, GeneratedStrategy};

/// Folder of generated strategies, in the data directory.
pub const GENERATED_DIR: &str = "generated_strategies";

/// Folder of the model's reply cache, in the data directory (one file per request, named by
/// the SHA-256 of its full content; deleting it only costs new requests).
pub const MODEL_CACHE_DIR: &str = "cache/model";

/// Appends each attempt of a model run to the log as it is made.
struct RecordAttempts<'a> {
    dir: &'a DataDir,
    projections: &'a mut ProjectionFiles,
    failed: Option<WorkflowError>,
}

impl model::AttemptLog for RecordAttempts<'_> {
    async fn record(&mut self, attempt: GenerationAttempted) -> std::result::Result<(), String> {
        let request = AppendRequest::one(attempt);
        match self.dir.append(self.projections, request).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let message = e.to_string();
                self.failed = Some(e);
                Err(message)
            }
        }
    }
}

/// The template for an opportunity: the one asked for, else the one it names, else its family's.
pub fn choose_template(
    opp: &OpportunityView,
    asked: Option<&str>,
) -> Result<&'static TemplateSpec> {
    match asked.or(opp.template.as_deref()) {
        Some(name) => templates::find(name).ok_or_else(|| {
            let known: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.name).collect();
            WorkflowError::refused(format!(
                "no template {name:?}; the templates are: {}",
                known.join(", ")
            ))
        }),
        // The scorer's decision (`templates::fit`).
        None => {
            let (spec, read) = templates::fit(opp);
            spec.ok_or_else(|| {
                let family = read
                    .as_ref()
                    .map(|x| x.family.as_str().to_string())
                    .or_else(|| opp.needs.as_ref().map(|n| n.family.clone()))
                    .or_else(|| opp.family.clone())
                    .unwrap_or_else(|| "unknown".into());
                let why = read
                    .map(|x| x.fit.reason)
                    .or_else(|| opp.fit.as_ref().map(|f| f.reason.clone()))
                    .unwrap_or_default();
                let why = why.trim_start_matches("no template fits: ");
                WorkflowError::refused(format!(
                    "no template fits opportunity {} (family: {family}): {why}; choose one with --template, which tests another idea than the one stated (see `stratagem templates`)",
                    opp.id,
                ))
            })
        }
    }
}

/// The opportunity of the log with this id.
fn opportunity(projections: &ProjectionFiles, id: Uuid) -> Result<OpportunityView> {
    match projections.state().opportunities.get(&id) {
        Some(o) => Ok(o.clone()),
        None => refuse!("no opportunity {id} in the log (see `stratagem status`)"),
    }
}

/// Microseconds since the epoch at today's UTC midnight.
fn utc_midnight_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from((now.as_secs() / 86_400) * 86_400 * 1_000_000).unwrap_or(i64::MAX)
}

/// What produced a strategy, for its event.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Template, model or both.
    pub mode: GenerationMode,
    /// The model, if one wrote it.
    pub model: Option<String>,
    /// The last prompt.
    pub prompt: Option<String>,
    /// The model's last reply.
    pub reply: Option<String>,
    /// Tokens spent.
    pub tokens: u64,
    /// Generations, repairs included.
    pub attempts: u32,
    /// The validator's decision on the model's final code (the pipeline validates it again
    /// and records that); none for a template.
    pub decision: Option<stratagem_events::Decision>,
}

impl Provenance {
    fn template() -> Provenance {
        Provenance {
            mode: GenerationMode::Template,
            model: None,
            prompt: None,
            reply: None,
            tokens: 0,
            attempts: 1,
            decision: None,
        }
    }
}

/// A strategy generated and recorded.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The strategy (the one already recorded, when its source was).
    pub strategy_id: Uuid,
    /// Whether the same source was already on the log (nothing new recorded).
    pub existing: bool,
    /// Its file.
    pub path: PathBuf,
    /// The strategy.
    pub generated: GeneratedStrategy,
    /// What produced it.
    pub provenance: Provenance,
}

/// Generates a strategy for an opportunity of the log in `mode` (`template` the one asked for,
/// else the opportunity's), and records it.
///
/// # Errors
/// An unknown opportunity or template; a model mode without a model, or with the day's token
/// budget spent (nothing generated then); the model's or the log's error.
pub async fn generate(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    settings: &Settings,
    opportunity_id: Uuid,
    template: Option<&str>,
    mode: Option<GenerationMode>,
) -> Result<Generated> {
    let codegen = settings.codegen()?;
    let mode = mode.unwrap_or(codegen.default_mode);
    let opp = opportunity(projections, opportunity_id)?;
    // The idea's parameters and family: as recorded, else as the rule extractor reads its
    // text (a hand submission records neither) — the same reading as the scorer's.
    let (_, read) = templates::fit(&opp);
    let given = given_parameters(&opp, read.as_ref());
    let family = opp
        .family
        .clone()
        .or_else(|| opp.needs.as_ref().map(|n| n.family.clone()))
        .or_else(|| read.as_ref().map(|x| x.family.as_str().to_string()));
    let (generated, provenance) = if mode == GenerationMode::Template {
        let spec = choose_template(&opp, template)?;
        (
            generator::from_template(spec, opportunity_id, &given)?,
            Provenance::template(),
        )
    } else {
        let Some(provider) = codegen.provider.clone() else {
            let name = if mode == GenerationMode::Llm {
                "llm"
            } else {
                "hybrid"
            };
            return Err(WorkflowError::Usage(format!("generation mode {name} needs a language model: set ANTHROPIC_API_KEY (Anthropic) or CODEGEN_OPENAI_BASE_URL (an OpenAI-compatible server; with OPENAI_API_KEY if it needs one). Nothing was generated.")));
        };
        let used = projections.state().tokens_used_since(utc_midnight_micros());
        if used >= codegen.daily_token_budget {
            return Err(WorkflowError::Unavailable(format!("the daily token budget is spent ({used} of {} tokens used today, CODEGEN_DAILY_TOKEN_BUDGET); nothing was generated", codegen.daily_token_budget)));
        }
        let model_mode = match mode {
            GenerationMode::Hybrid => ModelMode::Hybrid(choose_template(&opp, template)?),
            _ => ModelMode::Llm,
        };
        let mut client = LlmClient::new(provider, codegen.llm.clone())?;
        if codegen.cache {
            client = client.with_cache(root.join(MODEL_CACHE_DIR));
        }
        let validator = std::sync::Arc::new(settings.validator(root)?);
        let idea = Idea {
            opportunity_id,
            title: opp.title.raw().to_string(),
            hypothesis: opp.hypothesis.raw().to_string(),
            family,
            parameters: given,
        };
        let mut log = RecordAttempts {
            dir,
            projections: &mut *projections,
            failed: None,
        };
        let made = model::generate(
            &client,
            &validator,
            model_mode,
            &idea,
            codegen.max_attempts,
            &mut log,
        )
        .await;
        if let Some(e) = log.failed.take() {
            return Err(e);
        }
        let made = made?;
        let provenance = Provenance {
            mode: if matches!(model_mode, ModelMode::Hybrid(_)) {
                GenerationMode::Hybrid
            } else {
                GenerationMode::Llm
            },
            model: Some(made.model),
            prompt: Some(made.prompt),
            reply: Some(made.reply),
            tokens: made.tokens,
            attempts: made.attempts,
            decision: Some(made.report.decision),
        };
        (made.generated, provenance)
    };
    let (strategy_id, existing, path) = record_generated(
        root,
        dir,
        projections,
        opportunity_id,
        &generated,
        &provenance,
    )
    .await?;
    Ok(Generated {
        strategy_id,
        existing,
        path,
        generated,
        provenance,
    })
}

/// Writes the file and records the `strategy.generated` event unless a strategy with the same
/// source is already recorded. Returns the strategy id, whether it existed, and the file.
pub async fn record_generated(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    opportunity_id: Uuid,
    generated: &GeneratedStrategy,
    p: &Provenance,
) -> Result<(Uuid, bool, PathBuf)> {
    let relative = format!("{GENERATED_DIR}/{}", generated.file_name());
    let path = root.join(&relative);
    write_file(&path, &generated.source)?;
    let existing = projections
        .state()
        .strategies
        .values()
        .find(|s| s.sha256 == generated.sha256)
        .map(|s| s.id);
    let template = (!generated.template.is_empty()).then_some(generated.template);
    let strategy_id = match existing {
        Some(id) => id,
        None => {
            let event = StrategyGenerated {
                strategy_id: generated.strategy_id,
                opportunity_id,
                name: generated.name.clone(),
                path: relative,
                sha256: generated.sha256.clone(),
                source_code: generated.source.clone(),
                mode: p.mode,
                template: template.map(str::to_string),
                parameters: generated
                    .parameters
                    .iter()
                    .map(|c| Parameter {
                        name: c.name.to_string(),
                        value: c.value,
                    })
                    .collect(),
                model: p.model.clone(),
                prompt: p.prompt.clone(),
                reply: p.reply.clone().map(Into::into),
                tokens_used: p.tokens,
            };
            let request = AppendRequest::one(event)
                .idempotent(format!("generate:{opportunity_id}:{}", generated.sha256));
            dir.append(projections, request).await?;
            generated.strategy_id
        }
    };
    Ok((strategy_id, existing.is_some(), path))
}

/// The template an opportunity is generated from without a model, and the parameters it
/// gives: its template or family's, else (a hand submission carries no family) what the rule
/// extractor reads in its text. None when no template fits.
pub fn template_for(opp: &OpportunityView) -> Option<(&'static TemplateSpec, Vec<(String, f64)>)> {
    // The scorer's decision (`templates::fit`), with the parameters the idea states.
    let (spec, read) = templates::fit(opp);
    Some((spec?, given_parameters(opp, read.as_ref())))
}

/// The parameters an idea states: as its discovery recorded them, else as its reading
/// (`opportunity.read`) carries them, else as the rule extractor reads its text now (a
/// submission on a log written before readings were recorded).
fn given_parameters(
    opp: &OpportunityView,
    read: Option<&crate::extract::Extracted>,
) -> Vec<(String, f64)> {
    let recorded = opp
        .needs
        .as_ref()
        .map(|n| &n.parameters)
        .filter(|_| opp.parameters.is_empty())
        .unwrap_or(&opp.parameters);
    if !recorded.is_empty() {
        return recorded.iter().map(|p| (p.name.clone(), p.value)).collect();
    }
    read.map(|x| {
        x.parameters
            .iter()
            .map(|(n, v, _)| (n.clone(), *v))
            .collect()
    })
    .unwrap_or_default()
}

/// Template mode for the pipeline: the strategy of a submitted opportunity from the template
/// it names or its family's, recorded; `None` when no template fits (it then waits for a
/// model).
///
/// # Errors
/// An unknown opportunity; the template's or the log's error.
pub async fn from_template_recorded(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    opportunity_id: Uuid,
) -> Result<Option<Uuid>> {
    let opp = opportunity(projections, opportunity_id)?;
    let Some((spec, given)) = template_for(&opp) else {
        return Ok(None);
    };
    let generated = generator::from_template(spec, opportunity_id, &given)?;
    let provenance = Provenance::template();
    let (id, _, _) = record_generated(
        root,
        dir,
        projections,
        opportunity_id,
        &generated,
        &provenance,
    )
    .await?;
    Ok(Some(id))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| WorkflowError::refused(format!("{} has no folder", path.display())))?;
    std::fs::create_dir_all(parent)
        .map_err(|e| WorkflowError::io(format!("cannot create {}", parent.display()), e))?;
    let tmp = path.with_extension("rs.tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", path.display()), e))
}
