//! `stratagem templates` and `stratagem generate` (the workflow is
//! `stratagem_actors::workflow::generate`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use serde::Serialize;
use stratagem_actors::generator::templates::{self, ChosenParam};
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::generate::generate;
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::GenerationMode;
use uuid::Uuid;

use super::print_json;
use crate::cli::GenerationModeArg;

pub fn list_templates(json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&crate::output::Page::all(
            templates::TEMPLATES.iter().collect(),
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in templates::TEMPLATES {
        say!("{} ({}): {}", t.name, t.family, t.description);
        say!(
            "    covers: {} signal; {} leg(s); {} data; rules: {}",
            t.signals
                .iter()
                .map(|s| templates::signal_words(s))
                .collect::<Vec<_>>()
                .join(", "),
            t.legs,
            t.data.join(", "),
            t.rules.join(", ")
        );
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
    /// The validator's decision on a model's final code (the pipeline validates it again).
    decision: Option<stratagem_events::Decision>,
}

pub async fn run(
    root: &Path,
    settings: &Settings,
    opportunity: &str,
    template: Option<&str>,
    mode: Option<GenerationModeArg>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let opportunity_id: Uuid = opportunity
        .trim()
        .parse()
        .map_err(|_| anyhow!("--opportunity {opportunity:?} is not an opportunity id (a UUID)"))?;
    let mode = mode.map(|m| match m {
        GenerationModeArg::Template => GenerationMode::Template,
        GenerationModeArg::Llm => GenerationMode::Llm,
        GenerationModeArg::Hybrid => GenerationMode::Hybrid,
    });
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let made = generate(
        root,
        &dir,
        &mut projections,
        settings,
        opportunity_id,
        template,
        mode,
    )
    .await?;
    let (strategy_id, existing, path, generated, p) = (
        made.strategy_id,
        made.existing,
        &made.path,
        &made.generated,
        &made.provenance,
    );
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
            model: p.model.as_deref(),
            attempts: p.attempts,
            tokens_used: p.tokens,
            decision: p.decision,
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
        if let Some(model) = &p.model {
            say!(
                "model    {model}, {} attempt(s), {} tokens",
                p.attempts,
                p.tokens
            );
        }
        if let Some(decision) = p.decision {
            let decision = match decision {
                stratagem_events::Decision::Approved => "approved",
                stratagem_events::Decision::Rejected => "rejected",
                stratagem_events::Decision::ManualReview => "manual review",
            };
            say!("checked  {decision} by the validator (recorded when the pipeline or `validate` runs it)");
        }
        say!("file     {}", path.display());
        say!("sha256   {}", generated.sha256);
    }
    Ok(ExitCode::SUCCESS)
}
