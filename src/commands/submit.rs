//! `stratagem submit`: the seed's manual source (the workflow is
//! `stratagem_actors::workflow::submit`).

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::submit::{submit, Submission};
use uuid::Uuid;

use super::print_json;
use crate::cli::SubmitArgs;

#[derive(Serialize)]
struct Submitted {
    opportunity_id: Uuid,
    seq: u64,
    source: &'static str,
}

pub async fn run(root: &Path, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let submission = Submission {
        title: args.title,
        hypothesis: args.hypothesis,
        url: args.url,
    };
    // Checked before the log is opened: a bad submission touches nothing.
    submission.checked()?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let (id, seq) = submit(&dir, &mut projections, &submission).await?;
    if args.json {
        print_json(&Submitted {
            opportunity_id: id,
            seq,
            source: "manual",
        })?;
    } else {
        say!("submitted opportunity {id} (event {seq})");
    }
    Ok(ExitCode::SUCCESS)
}
