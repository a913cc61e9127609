//! The seed's manual source: an idea a person submits, checked, then recorded as discovered.
//! The scorer takes it at the next discovery cycle.

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, OpportunityDiscovered};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::{refuse, Result};

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest hypothesis accepted, in characters.
pub const MAX_HYPOTHESIS_CHARS: usize = 20_000;

/// An idea as a person states it.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// A short title.
    pub title: String,
    /// Why it should make money, in plain words.
    pub hypothesis: String,
    /// Where it comes from, if anywhere.
    pub url: Option<String>,
}

impl Submission {
    /// The submission cleaned (trimmed; an empty URL is none).
    ///
    /// # Errors
    /// An empty or too long title or hypothesis; a URL that is not http(s).
    pub fn checked(&self) -> Result<Submission> {
        let title = self.title.trim();
        let hypothesis = self.hypothesis.trim();
        if title.is_empty() {
            refuse!("--title is empty: give the idea a short title");
        }
        if hypothesis.is_empty() {
            refuse!("--hypothesis is empty: say in plain words why the idea should make money");
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            refuse!("--title is longer than {MAX_TITLE_CHARS} characters");
        }
        if hypothesis.chars().count() > MAX_HYPOTHESIS_CHARS {
            refuse!("--hypothesis is longer than {MAX_HYPOTHESIS_CHARS} characters");
        }
        let url = match self.url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.contains(char::is_whitespace) =>
            {
                Some(u.to_string())
            }
            Some(u) => refuse!("--url {u:?} is not an http(s) URL"),
        };
        Ok(Submission {
            title: title.to_string(),
            hypothesis: hypothesis.to_string(),
            url,
        })
    }
}

/// Checks and records a submission; returns the opportunity's id and its event's sequence.
///
/// # Errors
/// As [`Submission::checked`]; the log cannot be appended to.
pub async fn submit(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    submission: &Submission,
) -> Result<(Uuid, u64)> {
    let Submission {
        title,
        hypothesis,
        url,
    } = submission.checked()?;
    let id = Uuid::now_v7();
    let event = OpportunityDiscovered {
        opportunity_id: id,
        source: "manual".into(),
        external_id: None,
        title: title.into(),
        hypothesis: hypothesis.into(),
        url,
        family: None,
        asset_class: None,
        timeframe: None,
        parameters: Vec::new(),
        stated_sharpe: None,
        template: None,
        parent_strategy_id: None,
    };
    let ack = dir.append(projections, AppendRequest::one(event)).await?;
    Ok((id, ack.first_seq))
}
