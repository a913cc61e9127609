//! Notifications after recorded decisions: the Slack channel when `SLACK_WEBHOOK_URL` is set.
//! Each message's outcome is recorded; a failure never fails the command.

use stratagem_actors::notify::{messages_for, SlackNotifier, SlackSettings};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event};

use crate::data_dir::DataDir;

/// The configured channels.
pub struct Notifications {
    slack: Option<SlackNotifier>,
}

impl Notifications {
    /// From the environment.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn from_env() -> anyhow::Result<Notifications> {
        Ok(Notifications {
            slack: Self::slack_from_env()?,
        })
    }

    /// The Slack notifier, when `SLACK_WEBHOOK_URL` is set.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn slack_from_env() -> anyhow::Result<Option<SlackNotifier>> {
        let get = |k: &str| std::env::var(k).ok();
        SlackSettings::from_lookup(&get)
            .map_err(anyhow::Error::msg)?
            .map(SlackNotifier::new)
            .transpose()
            .map_err(anyhow::Error::msg)
    }

    /// Sends what `events` (already recorded) call for, and records how each went.
    pub async fn after(
        &mut self,
        dir: &DataDir,
        projections: &mut ProjectionFiles,
        events: &[Event],
    ) {
        let Some(slack) = self.slack.as_mut() else {
            return;
        };
        let messages = messages_for(events, projections.state());
        if messages.is_empty() {
            return;
        }
        let mut outcomes = Vec::new();
        for m in &messages {
            outcomes.push(slack.send(m).await);
        }
        if let Err(e) = dir.append(projections, AppendRequest::new(outcomes)).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot record the notifications' outcomes");
        }
    }
}
