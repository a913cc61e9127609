//! `stratagem submit`: the seed's manual source.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_events::{AppendRequest, OpportunityDiscovered};
use uuid::Uuid;

use super::print_json;
use crate::cli::SubmitArgs;
use stratagem_actors::workflow::data_dir::DataDir;

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest hypothesis accepted, in characters.
pub const MAX_HYPOTHESIS_CHARS: usize = 20_000;

#[derive(Serialize)]
struct Submitted {
    opportunity_id: Uuid,
    seq: u64,
    source: &'static str,
}

/// Checks a manual submission; returns the cleaned title, hypothesis and URL.
fn check(args: &SubmitArgs) -> anyhow::Result<(String, String, Option<String>)> {
    let title = args.title.trim();
    let hypothesis = args.hypothesis.trim();
    if title.is_empty() {
        bail!("--title is empty: give the idea a short title");
    }
    if hypothesis.is_empty() {
        bail!("--hypothesis is empty: say in plain words why the idea should make money");
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        bail!("--title is longer than {MAX_TITLE_CHARS} characters");
    }
    if hypothesis.chars().count() > MAX_HYPOTHESIS_CHARS {
        bail!("--hypothesis is longer than {MAX_HYPOTHESIS_CHARS} characters");
    }
    let url = match args.url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u)
            if (u.starts_with("https://") || u.starts_with("http://"))
                && !u.contains(char::is_whitespace) =>
        {
            Some(u.to_string())
        }
        Some(u) => bail!("--url {u:?} is not an http(s) URL"),
    };
    Ok((title.to_string(), hypothesis.to_string(), url))
}

pub async fn run(root: &Path, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let (title, hypothesis, url) = check(&args)?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let id = Uuid::now_v7();
    let event = OpportunityDiscovered {
        opportunity_id: id,
        source: "manual".into(),
        external_id: None,
        title,
        hypothesis,
        url,
        family: None,
        asset_class: None,
        timeframe: None,
        parameters: Vec::new(),
        stated_sharpe: None,
        template: None,
        parent_strategy_id: None,
    };
    let ack = dir
        .append(&mut projections, AppendRequest::one(event))
        .await?;
    if args.json {
        print_json(&Submitted {
            opportunity_id: id,
            seq: ack.first_seq,
            source: "manual",
        })?;
    } else {
        say!("submitted opportunity {id} (event {})", ack.first_seq);
    }
    Ok(ExitCode::SUCCESS)
}
