//! Notifications after recorded decisions: the Slack channel when `SLACK_WEBHOOK_URL` is set.
//! A decision's messages go into the outbox on the log (`notification.queued`); the courier
//! delivers them off the pipeline's path, and each outcome is recorded. A failure never fails
//! or slows the command: what is not delivered stays in the outbox for the next one.

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event};

use super::data_dir::DataDir;
use super::settings::Settings;
use super::Result;
use crate::notify::{Channel, Courier, Notify, SlackNotifier};

/// The configured channels.
pub struct Notifications {
    notify: Notify,
}

impl Notifications {
    /// From the settings: a courier of this command's own when `SLACK_WEBHOOK_URL` is set.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn from_settings(settings: &Settings) -> Result<Notifications> {
        Ok(Notifications {
            notify: Self::notify(settings)?,
        })
    }

    /// Through a courier of the caller's (the root supervisor's).
    pub fn via(notify: Notify) -> Notifications {
        Notifications { notify }
    }

    /// A courier over a notifier of its own when `SLACK_WEBHOOK_URL` is set, else none.
    ///
    /// # Errors
    /// A bad Slack setting, naming its key.
    pub fn notify(settings: &Settings) -> Result<Notify> {
        Ok(match Self::slack(settings)? {
            Some(slack) => Notify::Courier(Courier::start(Channel::Direct(slack))),
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

    /// Puts the messages `events` (already recorded) call for in the outbox, with the outcomes
    /// of earlier deliveries, and hands them to the courier. Never fails the caller.
    pub async fn after(
        &mut self,
        dir: &DataDir,
        projections: &mut ProjectionFiles,
        events: &[Event],
    ) {
        record_and_post(&self.notify, dir, projections, events).await;
    }

    /// The end of a command: the courier delivers what it holds while deliveries succeed (up
    /// to [`crate::notify::SETTLE_GRACE`]), and the outcomes are recorded; the rest stays in
    /// the outbox for the next command.
    pub async fn finish(self, dir: &DataDir, projections: &mut ProjectionFiles) {
        finish(&self.notify, dir, projections).await;
    }
}

/// [`Notifications::after`] for a courier held elsewhere.
pub async fn record_and_post(
    notify: &Notify,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    events: &[Event],
) {
    let mut prepared = notify.prepare(events, projections.state());
    let queued = std::mem::take(&mut prepared.events);
    if !queued.is_empty() {
        if let Err(e) = dir.append(projections, AppendRequest::new(queued)).await {
            tracing::warn!(error = %e.to_string(), "cannot record the notifications");
            return;
        }
    }
    notify.post(prepared);
}

/// [`Notifications::finish`] for a courier held elsewhere.
pub async fn finish(notify: &Notify, dir: &DataDir, projections: &mut ProjectionFiles) {
    if matches!(notify, Notify::Off) {
        return;
    }
    // What an earlier run left in the outbox goes too.
    record_and_post(notify, dir, projections, &[]).await;
    let outcomes = notify.settle().await;
    if outcomes.is_empty() {
        return;
    }
    if let Err(e) = dir.append(projections, AppendRequest::new(outcomes)).await {
        tracing::warn!(error = %e.to_string(), "cannot record the notifications' outcomes");
    }
}
