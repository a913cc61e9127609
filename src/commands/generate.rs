//! `stratagem templates` and `stratagem generate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use stratagem_actors::generator::llm::LlmClient;
use stratagem_actors::generator::model::{self, Idea, ModelMode};
use stratagem_actors::generator::templates::{self, ChosenParam, TemplateSpec};
use stratagem_actors::generator::{self, GeneratedStrategy};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::projection::OpportunityView;
use stratagem_events::{AppendRequest, GenerationMode, Parameter, StrategyGenerated};
use uuid::Uuid;

use super::print_json;
use super::validate::validator_from_env;
use crate::cli::GenerationModeArg;
use crate::data_dir::DataDir;
use crate::settings::CodegenSettings;

/// Folder of generated strategies, in the data directory.
pub const GENERATED_DIR: &str = "generated_strategies";

pub fn list_templates(json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&templates::TEMPLATES)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in templates::TEMPLATES {
        say!("{} ({}): {}", t.name, t.family, t.description);
        for p in t.params {
            let kind = if p.integer { "bars" } else { "real" };
            say!(
                "    {:<12} {:<5} default {:<8} range [{}, {}]  {}",
                p.name,
                kind,
                p.default,
                p.min,
                p.max,
                p.doc
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Generated<'a> {
    strategy_id: Uuid,
    opportunity_id: Uuid,
    mode: &'static str,
    template: Option<&'a str>,
    path: String,
    sha256: &'a str,
    already_generated: bool,
    parameters: &'a [ChosenParam],
    model: Option<&'a str>,
    attempts: u32,
    tokens_used: u64,
}

/// The template for an opportunity: the one asked for, else the one it names, else its family's.
fn choose_template(
    opp: &OpportunityView,
    asked: Option<&str>,
) -> anyhow::Result<&'static TemplateSpec> {
    match asked.or(opp.template.as_deref()) {
        Some(name) => templates::find(name).ok_or_else(|| {
            let known: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.name).collect();
            anyhow!("no template {name:?}; the templates are: {}", known.join(", "))
        }),
        None => opp.family.as_deref().and_then(templates::for_family).ok_or_else(|| {
            anyhow!(
                "no template fits opportunity {} (family: {}); choose one with --template (see `stratagem templates`)",
                opp.id,
                opp.family.as_deref().unwrap_or("unknown")
            )
        }),
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
struct Provenance<'a> {
    mode: GenerationMode,
    model: Option<&'a str>,
    prompt: Option<&'a str>,
    reply: Option<&'a str>,
    tokens: u64,
    attempts: u32,
}

pub async fn run(
    root: &Path,
    opportunity: &str,
    template: Option<&str>,
    mode: Option<GenerationModeArg>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = CodegenSettings::from_env()?;
    let mode = mode.unwrap_or(settings.default_mode);
    let opportunity_id: Uuid = opportunity
        .trim()
        .parse()
        .map_err(|_| anyhow!("--opportunity {opportunity:?} is not an opportunity id (a UUID)"))?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let Some(opp) = projections
        .state()
        .opportunities
        .get(&opportunity_id)
        .cloned()
    else {
        bail!("no opportunity {opportunity_id} in the log (see `stratagem status`)");
    };
    let given: Vec<(String, f64)> = opp
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.value))
        .collect();
    if mode == GenerationModeArg::Template {
        let spec = choose_template(&opp, template)?;
        let generated = generator::from_template(spec, opportunity_id, &given)?;
        let provenance = Provenance {
            mode: GenerationMode::Template,
            model: None,
            prompt: None,
            reply: None,
            tokens: 0,
            attempts: 1,
        };
        return record(
            root,
            &dir,
            &mut projections,
            opportunity_id,
            &generated,
            provenance,
            json,
        )
        .await;
    }
    let Some(provider) = settings.provider.clone() else {
        let name = if mode == GenerationModeArg::Llm {
            "llm"
        } else {
            "hybrid"
        };
        bail!("generation mode {name} needs a language model: set ANTHROPIC_API_KEY (Anthropic) or CODEGEN_OPENAI_BASE_URL (an OpenAI-compatible server; with OPENAI_API_KEY if it needs one). Nothing was generated.");
    };
    let used = projections.state().tokens_used_since(utc_midnight_micros());
    if used >= settings.daily_token_budget {
        bail!("the daily token budget is spent ({used} of {} tokens used today, CODEGEN_DAILY_TOKEN_BUDGET); nothing was generated", settings.daily_token_budget);
    }
    let model_mode = match mode {
        GenerationModeArg::Hybrid => ModelMode::Hybrid(choose_template(&opp, template)?),
        _ => ModelMode::Llm,
    };
    let client = LlmClient::new(provider, settings.llm.clone())?;
    let validator = validator_from_env(root)?;
    let idea = Idea {
        opportunity_id,
        title: opp.title.clone(),
        hypothesis: opp.hypothesis.clone(),
        family: opp.family.clone(),
        parameters: given,
    };
    let made = model::generate(
        &client,
        &validator,
        model_mode,
        &idea,
        settings.max_attempts,
    )
    .await?;
    let provenance = Provenance {
        mode: if matches!(model_mode, ModelMode::Hybrid(_)) {
            GenerationMode::Hybrid
        } else {
            GenerationMode::Llm
        },
        model: Some(&made.model),
        prompt: Some(&made.prompt),
        reply: Some(&made.reply),
        tokens: made.tokens,
        attempts: made.attempts,
    };
    record(
        root,
        &dir,
        &mut projections,
        opportunity_id,
        &made.generated,
        provenance,
        json,
    )
    .await
}

/// Writes the file and records the `strategy.generated` event (once per source hash), then
/// prints what was done.
#[allow(clippy::too_many_arguments)]
async fn record(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    opportunity_id: Uuid,
    generated: &GeneratedStrategy,
    p: Provenance<'_>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (strategy_id, existing, path) =
        record_generated(root, dir, projections, opportunity_id, generated, &p).await?;
    let template = (!generated.template.is_empty()).then_some(generated.template);
    let mode = match p.mode {
        GenerationMode::Template => "template",
        GenerationMode::Llm => "llm",
        GenerationMode::Hybrid => "hybrid",
    };
    if json {
        print_json(&Generated {
            strategy_id,
            opportunity_id,
            mode,
            template,
            path: path.display().to_string(),
            sha256: &generated.sha256,
            already_generated: existing,
            parameters: &generated.parameters,
            model: p.model,
            attempts: p.attempts,
            tokens_used: p.tokens,
        })?;
    } else {
        let note = if existing {
            " (already generated: nothing new recorded)"
        } else {
            ""
        };
        say!(
            "strategy {strategy_id} ({mode}{}){note}",
            template
                .map(|t| format!(", template {t}"))
                .unwrap_or_default()
        );
        if let Some(model) = p.model {
            say!(
                "model    {model}, {} attempt(s), {} tokens",
                p.attempts,
                p.tokens
            );
        }
        say!("file     {}", path.display());
        say!("sha256   {}", generated.sha256);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the file and records the `strategy.generated` event unless a strategy with the same
/// source is already recorded. Returns the strategy id, whether it existed, and the file.
async fn record_generated(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    opportunity_id: Uuid,
    generated: &GeneratedStrategy,
    p: &Provenance<'_>,
) -> anyhow::Result<(Uuid, bool, std::path::PathBuf)> {
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
                model: p.model.map(str::to_string),
                prompt: p.prompt.map(str::to_string),
                reply: p.reply.map(str::to_string),
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

/// Template mode for the pipeline: the strategy of a submitted opportunity from the template
/// it names or its family's; `None` when no template fits (it then waits for a model).
/// The template an opportunity is generated from without a model, and the parameters it
/// gives: its template or family's, else (a hand submission carries no family) what the rule
/// extractor reads in its text. None when no template fits.
pub fn template_for(opp: &OpportunityView) -> Option<(&'static TemplateSpec, Vec<(String, f64)>)> {
    let mut given: Vec<(String, f64)> = opp
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.value))
        .collect();
    let spec = match choose_template(opp, None) {
        Ok(spec) => spec,
        Err(_) if opp.family.is_none() => {
            let x = stratagem_actors::extract::extract_text(&opp.title, &opp.hypothesis);
            let spec = x.template.as_deref().and_then(templates::find)?;
            if given.is_empty() {
                given = x.parameters.into_iter().map(|(n, v, _)| (n, v)).collect();
            }
            spec
        }
        Err(_) => return None,
    };
    Some((spec, given))
}

pub async fn from_template_recorded(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    opportunity_id: Uuid,
) -> anyhow::Result<Option<Uuid>> {
    let Some(opp) = projections
        .state()
        .opportunities
        .get(&opportunity_id)
        .cloned()
    else {
        bail!("no opportunity {opportunity_id} in the log");
    };
    let Some((spec, given)) = template_for(&opp) else {
        return Ok(None);
    };
    let generated = generator::from_template(spec, opportunity_id, &given)?;
    let provenance = Provenance {
        mode: GenerationMode::Template,
        model: None,
        prompt: None,
        reply: None,
        tokens: 0,
        attempts: 1,
    };
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

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = path.with_extension("rs.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
