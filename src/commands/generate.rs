//! `stratagem templates` and `stratagem generate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use stratagem_actors::generator::{self, templates};
use stratagem_events::{AppendRequest, GenerationMode, Parameter, StrategyGenerated};
use uuid::Uuid;

use super::print_json;
use crate::data_dir::DataDir;

/// Folder of generated strategies, in the data directory.
pub const GENERATED_DIR: &str = "generated_strategies";

pub fn list_templates(json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&templates::TEMPLATES)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in templates::TEMPLATES {
        println!("{} ({}): {}", t.name, t.family, t.description);
        for p in t.params {
            let kind = if p.integer { "bars" } else { "real" };
            println!(
                "    {:<12} {:<5} default {:<8} range [{}, {}]  {}",
                p.name, kind, p.default, p.min, p.max, p.doc
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Generated<'a> {
    strategy_id: Uuid,
    opportunity_id: Uuid,
    template: &'a str,
    path: String,
    sha256: &'a str,
    already_generated: bool,
    parameters: &'a [templates::ChosenParam],
}

pub async fn run(
    root: &Path,
    opportunity: &str,
    template: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
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
    let spec = match template.or(opp.template.as_deref()) {
        Some(name) => templates::find(name).ok_or_else(|| {
            let known: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.name).collect();
            anyhow!("no template {name:?}; the templates are: {}", known.join(", "))
        })?,
        None => opp.family.as_deref().and_then(templates::for_family).ok_or_else(|| {
            anyhow!(
                "no template fits opportunity {opportunity_id} (family: {}); choose one with --template (see `stratagem templates`)",
                opp.family.as_deref().unwrap_or("unknown")
            )
        })?,
    };
    let given: Vec<(String, f64)> = opp
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.value))
        .collect();
    let generated = generator::from_template(spec, opportunity_id, &given)?;
    let relative = format!("{GENERATED_DIR}/{}", generated.file_name());
    let path = root.join(&relative);
    let existing = projections
        .state()
        .strategies
        .values()
        .find(|s| s.sha256 == generated.sha256)
        .map(|s| s.id);
    write_file(&path, &generated.source)?;
    let strategy_id = match existing {
        Some(id) => id,
        None => {
            let event = StrategyGenerated {
                strategy_id: generated.strategy_id,
                opportunity_id,
                name: generated.name.clone(),
                path: relative.clone(),
                sha256: generated.sha256.clone(),
                source_code: generated.source.clone(),
                mode: GenerationMode::Template,
                template: Some(spec.name.to_string()),
                parameters: generated
                    .parameters
                    .iter()
                    .map(|p| Parameter {
                        name: p.name.to_string(),
                        value: p.value,
                    })
                    .collect(),
                model: None,
                prompt: None,
                reply: None,
                tokens_used: 0,
            };
            let request = AppendRequest::one(event)
                .idempotent(format!("generate:{opportunity_id}:{}", generated.sha256));
            dir.append(&mut projections, request).await?;
            generated.strategy_id
        }
    };
    if json {
        print_json(&Generated {
            strategy_id,
            opportunity_id,
            template: spec.name,
            path: path.display().to_string(),
            sha256: &generated.sha256,
            already_generated: existing.is_some(),
            parameters: &generated.parameters,
        })?;
    } else {
        let note = if existing.is_some() {
            " (already generated: nothing new recorded)"
        } else {
            ""
        };
        println!("strategy {strategy_id} from template {}{note}", spec.name);
        println!("file     {}", path.display());
        println!("sha256   {}", generated.sha256);
    }
    Ok(ExitCode::SUCCESS)
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
