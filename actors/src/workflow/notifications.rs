//! Notifications after recorded decisions: the Slack channel when `SLACK_WEBHOOK_URL` is set.
//! Each message's outcome is recorded; a failure never fails the command.

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event};

use super::data_dir::DataDir;
use super::settings::Settings;
use super::Result;
use crate::notify::{messages_for, Notify, SlackNotifier};

/// The configured channels.
pub struct Notifications {
    notify: Notify,
}

impl Notifications {
    /// From the settings.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn from_settings(settings: &Settings) -> Result<Notifications> {
        Ok(Notifications {
            notify: Self::notify(settings)?,
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
    pub fn notify(settings: &Settings) -> Result<Notify> {
        Ok(match Self::slack(settings)? {
            Some(slack) => Notify::Direct(slack),
            None => Notify::Off,
        })
    }

    /// The Slack notifier, when `SLACK_WEBHOOK_URL` is set.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn slack(settings: &Settings) -> Result<Option<SlackNotifier>> {
        Ok(settings.slack()?.map(SlackNotifier::new).transpose()?)
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
            tracing::warn!(error = %e.to_string(), "cannot record the notifications' outcomes");
        }
    }
}
