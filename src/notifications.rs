//! Notifications after recorded decisions: the Slack channel when `SLACK_WEBHOOK_URL` is set.
//! Each message's outcome is recorded; a failure never fails the command.

use stratagem_actors::notify::{messages_for, Notify, SlackNotifier, SlackSettings};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event};

use crate::data_dir::DataDir;

/// The configured channels.
pub struct Notifications {
    notify: Notify,
}

impl Notifications {
    /// From the environment.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn from_env() -> anyhow::Result<Notifications> {
        Ok(Notifications {
            notify: Self::notify_from_env()?,
        })
    }

    /// Through the root supervisor's notifier actor.
    pub fn via(notify: Notify) -> Notifications {
        Notifications { notify }
    }

    /// A notifier of the caller's own when `SLACK_WEBHOOK_URL` is set, else none.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn notify_from_env() -> anyhow::Result<Notify> {
        Ok(match Self::slack_from_env()? {
            Some(slack) => Notify::Direct(slack),
            None => Notify::Off,
        })
    }

    /// The Slack notifier, when `SLACK_WEBHOOK_URL` is set.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn slack_from_env() -> anyhow::Result<Option<SlackNotifier>> {
        let get = |k: &str| crate::config::var(k).ok();
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
        if matches!(self.notify, Notify::Off) {
            return;
        }
        let messages = messages_for(events, projections.state());
        let outcomes = self.notify.deliver(messages).await;
        if outcomes.is_empty() {
            return;
        }
        if let Err(e) = dir.append(projections, AppendRequest::new(outcomes)).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot record the notifications' outcomes");
        }
    }
}
