//! Notifications: a Slack incoming webhook with the seed's messages (opportunity discovered,
//! validation passed, validation failed) and promotions.
//!
//! A notification is sent only after the decision it reports is durable, and its outcome is an
//! event (`notification.sent` / `notification.failed`). Sending is rate limited (one message per
//! `min_interval`, Slack's limit is about one a second per webhook), retried on 429 / 5xx /
//! connection errors honouring `Retry-After` (`http_policy`: capped backoff with jitter, error
//! bodies read up to 4 KiB), and never blocks or fails the pipeline. The
//! webhook URL is the secret: it is a [`Secret`], redacted in `Debug`, and never part of an
//! error or an event.

use std::time::{Duration, Instant};

/// The longest wait between two attempts, `Retry-After` included.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The most of an error body read (Slack's are a word).
const MAX_ERROR_BODY: usize = 4096;

use stratagem_events::{Event, NotificationFailed, NotificationSent, Stage};
use uuid::Uuid;

use crate::generator::llm::Secret;

/// A message and what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `opportunity_discovered`, `validation_passed`, `validation_failed`, `stage_promoted`, ….
    pub kind: std::borrow::Cow<'static, str>,
    /// The opportunity or strategy it is about.
    pub subject: Option<Uuid>,
    /// The text, as Slack shows it.
    pub text: String,
}

/// Implementation effort on the seed's 1–10 scale from the complexity sub-score (higher =
/// simpler): 0.95 → 1/10 (Low), 0.5 → 5/10 (Medium), 0.15 → 9/10 (High).
pub fn effort(complexity_score: f64) -> (u8, &'static str) {
    let tenths = ((1.0 - complexity_score.clamp(0.0, 1.0)) * 10.0)
        .round()
        .clamp(1.0, 10.0) as u8;
    let word = match tenths {
        1..=3 => "Low",
        4..=6 => "Medium",
        _ => "High",
    };
    (tenths, word)
}

/// 🔍 a submitted opportunity.
pub fn opportunity_discovered(
    id: Uuid,
    title: &str,
    composite: f64,
    complexity_score: f64,
) -> Message {
    let (n, word) = effort(complexity_score);
    Message {
        kind: "opportunity_discovered".into(),
        subject: Some(id),
        text: format!(
            "🔍 Strategy Opportunity Discovered\nTitle: {}\nScore: {composite:.2}\nImplementation: {word} (complexity {n}/10)",
            one_line(title)
        ),
    }
}

/// ✅ a strategy approved for COLD.
pub fn validation_passed(id: Uuid, strategy: &str, layers_passed: u8) -> Message {
    Message {
        kind: "validation_passed".into(),
        subject: Some(id),
        text: format!(
            "✅ Strategy Validation Passed\nStrategy: {strategy}\nLayers: {layers_passed}/6 passed\nRecommendation: APPROVE for COLD"
        ),
    }
}

/// ❌ a rejected strategy (or one sent to manual review), with its first finding.
pub fn validation_failed(
    id: Uuid,
    strategy: &str,
    layer: u8,
    layer_name: &str,
    finding: &str,
    review: bool,
) -> Message {
    let mut name = layer_name.to_string();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    Message {
        kind: "validation_failed".into(),
        subject: Some(id),
        text: format!(
            "❌ Strategy Validation Failed\nStrategy: {strategy}\nLayer {layer} ({name}): {}\nRecommendation: {}",
            one_line(finding),
            if review { "MANUAL REVIEW" } else { "REJECT" }
        ),
    }
}

/// ⬆️ a promotion.
pub fn stage_promoted(
    id: Uuid,
    strategy: &str,
    from: Option<Stage>,
    to: Stage,
    gate: &str,
) -> Message {
    let from = from.map_or("validation".to_string(), |s| s.as_str().to_uppercase());
    Message {
        kind: "stage_promoted".into(),
        subject: Some(id),
        text: format!(
            "⬆️ Strategy Promoted\nStrategy: {strategy}\n{from} → {}\nGate: {}",
            to.as_str().to_uppercase(),
            one_line(gate)
        ),
    }
}

/// The messages a batch of recorded events calls for, with names and titles from the
/// projections (already caught up with the batch): a submitted opportunity, a validation
/// decision (with the first finding of the failing layer), a promotion to a stage.
pub fn messages_for(events: &[Event], state: &stratagem_events::Projections) -> Vec<Message> {
    let strategy_name = |id: &Uuid| {
        state
            .strategies
            .get(id)
            .map_or_else(|| id.to_string(), |s| s.name.clone())
    };
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::OpportunitySubmitted(e) => {
                let Some(o) = state.opportunities.get(&e.opportunity_id) else {
                    continue;
                };
                let complexity = o.score.as_ref().map_or(0.5, |s| s.complexity.value);
                out.push(opportunity_discovered(
                    o.id,
                    &o.title,
                    e.composite,
                    complexity,
                ));
            }
            Event::ValidationDecided(d) => {
                let name = strategy_name(&d.strategy_id);
                if d.decision == stratagem_events::Decision::Approved {
                    out.push(validation_passed(d.strategy_id, &name, d.layers_passed));
                    continue;
                }
                // The layer that stopped it: its first error, else its first warning.
                let layer = events[..i].iter().rev().find_map(|e| match e {
                    Event::ValidationLayerFinished(l)
                        if l.strategy_id == d.strategy_id
                            && (!l.passed || !l.warnings.is_empty()) =>
                    {
                        Some(l)
                    }
                    _ => None,
                });
                let review = d.decision == stratagem_events::Decision::ManualReview;
                let (number, layer_name, finding) = match layer {
                    Some(l) => (
                        l.layer,
                        l.layer_name.clone(),
                        l.errors
                            .first()
                            .or(l.warnings.first())
                            .map_or_else(|| d.reason.clone(), |f| f.message.clone()),
                    ),
                    None => (
                        d.layers_passed + 1,
                        "validation".to_string(),
                        d.reason.clone(),
                    ),
                };
                out.push(validation_failed(
                    d.strategy_id,
                    &name,
                    number,
                    &layer_name,
                    &finding,
                    review,
                ));
            }
            Event::StagePromoted(p) => {
                let gate = events[..i]
                    .iter()
                    .rev()
                    .find_map(|e| match e {
                        Event::StageCompleted(c) if c.strategy_id == p.strategy_id => {
                            Some(c.gate.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| "validation passed".into());
                out.push(stage_promoted(
                    p.strategy_id,
                    &strategy_name(&p.strategy_id),
                    p.from,
                    p.to,
                    &gate,
                ));
            }
            Event::StageRolledBack(r) => out.push(Message {
                kind: "stage_rolled_back".into(),
                subject: Some(r.strategy_id),
                text: format!(
                    "⬇️ Strategy Rolled Back\nStrategy: {}\n{} → {}\nReason: {}",
                    strategy_name(&r.strategy_id),
                    r.from.as_str().to_uppercase(),
                    r.to.as_str().to_uppercase(),
                    one_line(&r.reason)
                ),
            }),
            Event::StrategyRetired(r) => out.push(Message {
                kind: "strategy_retired".into(),
                subject: Some(r.strategy_id),
                text: format!(
                    "🪦 Strategy Retired\nStrategy: {}\nReason: {}",
                    strategy_name(&r.strategy_id),
                    one_line(&r.reason)
                ),
            }),
            Event::ActorGaveUp(g) => out.push(Message {
                kind: "actor_gave_up".into(),
                subject: None,
                text: format!(
                    "🛑 Supervisor Gave Up\nActor: {}\nRestarts: {} within {} s\nReason: {}",
                    g.actor,
                    g.restarts,
                    g.window_secs,
                    one_line(&g.reason)
                ),
            }),
            _ => {}
        }
    }
    out
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Settings of the Slack channel.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    /// `SLACK_WEBHOOK_URL`: the secret.
    pub webhook: Secret,
    /// Least time between two messages (`SLACK_MIN_INTERVAL_MS`, default 1,000).
    pub min_interval: Duration,
    /// Attempts per message (`SLACK_MAX_ATTEMPTS`, default 3).
    pub max_attempts: u32,
    /// First backoff, doubled per retry (default 500 ms).
    pub initial_backoff: Duration,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
}

impl SlackSettings {
    /// Reads the settings through `get`; `None` when no webhook is set.
    ///
    /// # Errors
    /// A value that is not what it should be, naming its key (never the URL's value).
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SlackSettings>, crate::setting::SettingError> {
        let Some(url) = get("SLACK_WEBHOOK_URL")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(crate::setting::SettingError::new(
                    "SLACK_WEBHOOK_URL",
                    "SLACK_WEBHOOK_URL is not an http(s) URL",
                ))
            }
        }
        let number =
            |k: &str, default: u64, max: u64| -> Result<u64, crate::setting::SettingError> {
                match get(k)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().ok().filter(|x| *x <= max).ok_or_else(|| {
                        crate::setting::SettingError::new(
                            k,
                            format!("{k}={v:?} is not a whole number up to {max}"),
                        )
                    }),
                }
            };
        let attempts = number("SLACK_MAX_ATTEMPTS", 3, 10)?;
        Ok(Some(SlackSettings {
            webhook: Secret::new(url),
            min_interval: Duration::from_millis(number("SLACK_MIN_INTERVAL_MS", 1_000, 60_000)?),
            max_attempts: attempts.max(1) as u32,
            initial_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }))
    }
}

/// The Slack notifier.
#[derive(Debug)]
pub struct SlackNotifier {
    settings: SlackSettings,
    http: reqwest::Client,
    last_sent: Option<Instant>,
}

impl SlackNotifier {
    /// A notifier.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: SlackSettings) -> Result<SlackNotifier, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("stratagem/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(SlackNotifier {
            settings,
            http,
            last_sent: None,
        })
    }

    /// Sends one message; the event says how it went. Never fails the caller.
    pub async fn send(&mut self, message: &Message) -> Event {
        let mut attempt = 1;
        loop {
            if let Some(last) = self.last_sent {
                let next = last + self.settings.min_interval;
                let now = Instant::now();
                if next > now {
                    tokio::time::sleep(next - now).await;
                }
            }
            self.last_sent = Some(Instant::now());
            let outcome = self
                .http
                .post(self.settings.webhook.expose())
                // The text may hold text from outside: no mention, link or control character
                // of it reaches the channel.
                .json(&serde_json::json!({ "text": stratagem_events::text::slack(&message.text) }))
                .send()
                .await;
            let (error, retry, wait) = match outcome {
                Ok(r) if r.status().is_success() => {
                    return Event::from(NotificationSent {
                        channel: "slack".into(),
                        message_kind: message.kind.to_string(),
                        subject_id: message.subject,
                    })
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let wait = crate::http_policy::retry_after_header(r.headers());
                    // Slack's error bodies are bare strings (`channel_not_found`, …): a few
                    // bytes are plenty, and a larger body is not read.
                    let body = crate::http_policy::read_capped(r, MAX_ERROR_BODY)
                        .await
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let body: String = body.chars().filter(|c| !c.is_control()).take(100).collect();
                    (
                        format!("HTTP {status}: {body}"),
                        status == 429 || status >= 500,
                        wait,
                    )
                }
                Err(e) if e.is_timeout() => ("timed out".to_string(), true, None),
                Err(e) if e.is_connect() => ("connection failed".to_string(), true, None),
                Err(_) => ("request failed".to_string(), true, None),
            };
            if !retry || attempt >= self.settings.max_attempts {
                tracing::warn!(kind = %message.kind, %error, attempt, "notification not delivered");
                return Event::from(NotificationFailed {
                    channel: "slack".into(),
                    message_kind: message.kind.to_string(),
                    subject_id: message.subject,
                    error,
                    attempts: attempt,
                });
            }
            tokio::time::sleep(crate::http_policy::wait(
                wait,
                self.settings.initial_backoff,
                MAX_BACKOFF,
                attempt,
            ))
            .await;
            attempt += 1;
        }
    }
}

/// Messages of the notifier actor.
pub enum NotifierMsg {
    /// Deliver these messages (rate-limited, retried); the reply is one outcome event each.
    Send(Vec<Message>, ractor::RpcReplyPort<Vec<Event>>),
}

/// The notifier as an actor: the Slack channel, its rate limit and retries, behind a mailbox,
/// so a fault in it is a restart of the notifier, never a failure of the writer that asked.
pub struct NotifierActor;

/// What the notifier actor starts with (kept for each restart).
#[derive(Clone)]
pub struct NotifierArgs {
    /// The channel's settings.
    pub settings: SlackSettings,
    /// Chaos testing: the first delivery of this process panics.
    pub panic_once: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl ractor::Actor for NotifierActor {
    type Msg = NotifierMsg;
    type State = (SlackNotifier, NotifierArgs);
    type Arguments = NotifierArgs;

    async fn pre_start(
        &self,
        _me: ractor::ActorRef<NotifierMsg>,
        args: NotifierArgs,
    ) -> Result<Self::State, ractor::ActorProcessingErr> {
        let slack =
            SlackNotifier::new(args.settings.clone()).map_err(ractor::ActorProcessingErr::from)?;
        Ok((slack, args))
    }

    async fn handle(
        &self,
        _me: ractor::ActorRef<NotifierMsg>,
        NotifierMsg::Send(messages, reply): NotifierMsg,
        (slack, args): &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        if crate::supervisor::chaos_strikes(args.panic_once.as_deref()) {
            panic!("chaos: the notifier fails on purpose");
        }
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in &messages {
            outcomes.push(slack.send(m).await);
        }
        let _ = reply.send(outcomes);
        Ok(())
    }
}

/// How many messages the outbox holds at most: past it, the oldest are dropped (each a
/// `notification.dropped`), so a webhook that is down for weeks costs a bounded amount.
pub const OUTBOX_CAPACITY: usize = 1_000;
/// The first pause after a failed delivery; doubled per failure in a row.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two delivery rounds while the channel fails.
const MAX_PAUSE: Duration = Duration::from_secs(300);
/// How long a command that ends gives the courier to deliver what it holds (only while
/// deliveries succeed): what is left stays in the outbox for the next command.
pub const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// What delivers a message: a notifier owned by the courier (a single command), or the
/// supervised notifier actor, whose current incarnation is looked up at each delivery (it may
/// have been restarted).
pub enum Channel {
    /// A notifier of the courier's own.
    Direct(SlackNotifier),
    /// The supervised notifier actor.
    Actor(NotifierSlot),
}

/// The supervised notifier's current address, replaced by its supervisor on each restart.
pub type NotifierSlot = std::sync::Arc<std::sync::Mutex<Option<ractor::ActorRef<NotifierMsg>>>>;

impl Channel {
    async fn send(&mut self, message: &Message) -> Event {
        match self {
            Channel::Direct(slack) => slack.send(message).await,
            Channel::Actor(slot) => {
                let actor = slot.lock().ok().and_then(|a| a.clone());
                let failed = |why: &str| {
                    Event::from(NotificationFailed {
                        channel: "slack".into(),
                        message_kind: message.kind.to_string(),
                        subject_id: message.subject,
                        error: why.to_string(),
                        attempts: 0,
                    })
                };
                let Some(actor) = actor else {
                    return failed("the notifier is restarting");
                };
                match ractor::call!(actor, NotifierMsg::Send, vec![message.clone()]) {
                    Ok(mut outcomes) if outcomes.len() == 1 => outcomes.remove(0),
                    _ => failed("the notifier stopped while delivering"),
                }
            }
        }
    }
}

/// A queued message, as the courier carries it.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Its id (`notification.queued`).
    pub id: Uuid,
    /// The message.
    pub message: Message,
}

enum Command {
    Post(Vec<Queued>),
    Forget(Vec<Uuid>),
    Settle(tokio::sync::oneshot::Sender<()>),
}

#[derive(Default)]
struct Ledger {
    /// Outcomes not recorded yet.
    outcomes: Vec<Event>,
    /// Messages this courier was given (so a resumed outbox is posted once).
    posted: std::collections::HashSet<Uuid>,
}

/// The courier: a task that delivers the outbox's messages in order, in its own time, off the
/// pipeline's path. A failed delivery pauses it (1 s, doubling up to 5 min) with the message
/// kept; the writers record its outcomes when they next append ([`Notify::prepare`]), and a
/// command that ends gives it [`SETTLE_GRACE`] to finish while deliveries succeed.
#[derive(Clone)]
pub struct Courier {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    ledger: std::sync::Arc<std::sync::Mutex<Ledger>>,
    task: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Courier {
    /// Starts the courier over `channel` (on the current tokio runtime).
    pub fn start(channel: Channel) -> Courier {
        let (commands, inbox) = tokio::sync::mpsc::unbounded_channel();
        let ledger = std::sync::Arc::new(std::sync::Mutex::new(Ledger::default()));
        let task = tokio::spawn(deliver(channel, inbox, ledger.clone()));
        Courier {
            commands,
            ledger,
            task: std::sync::Arc::new(std::sync::Mutex::new(Some(task))),
        }
    }

    /// The messages this courier was given (one lock, not one per message).
    fn posted_ids(&self) -> std::collections::HashSet<Uuid> {
        self.ledger
            .lock()
            .map(|l| l.posted.clone())
            .unwrap_or_default()
    }

    /// Hands messages over (they are on the log already).
    pub fn post(&self, messages: Vec<Queued>) {
        if messages.is_empty() {
            return;
        }
        if let Ok(mut l) = self.ledger.lock() {
            l.posted.extend(messages.iter().map(|q| q.id));
        }
        let _ = self.commands.send(Command::Post(messages));
    }

    fn forget(&self, ids: Vec<Uuid>) {
        if !ids.is_empty() {
            let _ = self.commands.send(Command::Forget(ids));
        }
    }

    /// The outcomes of deliveries since the last call.
    pub fn outcomes(&self) -> Vec<Event> {
        self.ledger
            .lock()
            .map(|mut l| std::mem::take(&mut l.outcomes))
            .unwrap_or_default()
    }

    /// Ends the courier: what it holds is delivered while deliveries succeed, for at most
    /// `grace`; a failure (or the grace running out) leaves the rest in the outbox. Returns the
    /// outcomes not recorded yet.
    pub async fn settle(&self, grace: Duration) -> Vec<Event> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if self.commands.send(Command::Settle(tx)).is_ok()
                && tokio::time::timeout(grace, rx).await.is_err()
            {
                tracing::info!("notifications left in the outbox for the next run");
            }
            task.abort();
            let _ = task.await;
        }
        self.outcomes()
    }
}

/// The courier's loop.
async fn deliver(
    mut channel: Channel,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<Command>,
    ledger: std::sync::Arc<std::sync::Mutex<Ledger>>,
) {
    let mut queue: std::collections::VecDeque<Queued> = Default::default();
    let mut paused_until: Option<tokio::time::Instant> = None;
    let mut pause = FIRST_PAUSE;
    let mut settling: Option<tokio::sync::oneshot::Sender<()>> = None;
    loop {
        // Commands that are waiting, without blocking.
        while let Ok(command) = inbox.try_recv() {
            match command {
                Command::Post(q) => queue.extend(q),
                Command::Forget(ids) => queue.retain(|q| !ids.contains(&q.id)),
                Command::Settle(tx) => settling = Some(tx),
            }
        }
        if settling.is_some() && (queue.is_empty() || paused_until.is_some()) {
            if let Some(tx) = settling.take() {
                let _ = tx.send(());
            }
            return;
        }
        let due = paused_until.is_none_or(|t| tokio::time::Instant::now() >= t);
        if let (true, Some(head)) = (due, queue.front()) {
            paused_until = None;
            let outcome = channel.send(&head.message).await;
            let delivered = matches!(outcome, Event::NotificationSent(_));
            if let Ok(mut l) = ledger.lock() {
                l.outcomes.push(outcome);
            }
            if delivered {
                queue.pop_front();
                pause = FIRST_PAUSE;
            } else {
                paused_until = Some(tokio::time::Instant::now() + pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            continue;
        }
        let command = match (paused_until, queue.is_empty()) {
            (Some(until), false) => tokio::select! {
                c = inbox.recv() => c,
                () = tokio::time::sleep_until(until) => continue,
            },
            _ => inbox.recv().await,
        };
        match command {
            None => return,
            Some(Command::Post(q)) => queue.extend(q),
            Some(Command::Forget(ids)) => queue.retain(|q| !ids.contains(&q.id)),
            Some(Command::Settle(tx)) => settling = Some(tx),
        }
    }
}

/// Where a writer's notifications go: nowhere (no webhook), or a courier.
#[derive(Clone)]
pub enum Notify {
    /// No channel configured.
    Off,
    /// The courier delivering the outbox.
    Courier(Courier),
}

/// What a writer records after its decisions, then hands to the courier
/// ([`Notify::prepare`]).
#[derive(Default)]
pub struct Prepared {
    /// Earlier outcomes, the new messages' `notification.queued`, any `notification.dropped`.
    pub events: Vec<Event>,
    /// What to post once those are recorded.
    post: Vec<Queued>,
}

impl Notify {
    /// What to record after `decisions` (recorded, and projected into `state`): the outcomes
    /// of deliveries since the last call, and the messages the decisions call for, queued.
    /// The outbox's older messages this courier does not carry yet (left by an earlier run)
    /// are posted too. Nothing when no channel is configured.
    pub fn prepare(&self, decisions: &[Event], state: &stratagem_events::Projections) -> Prepared {
        let Notify::Courier(courier) = self else {
            return Prepared::default();
        };
        let mut events = courier.outcomes();
        let fresh: Vec<Queued> = messages_for(decisions, state)
            .into_iter()
            .map(|message| Queued {
                id: Uuid::now_v7(),
                message,
            })
            .collect();
        // Bounded: the oldest go when the new ones would not fit.
        let overflow = (state.outbox.len() + fresh.len()).saturating_sub(OUTBOX_CAPACITY);
        let dropped: Vec<Uuid> = state
            .outbox
            .iter()
            .take(overflow)
            .map(|p| p.notification_id)
            .collect();
        for id in &dropped {
            events.push(Event::from(stratagem_events::NotificationDropped {
                notification_id: *id,
                reason: format!(
                    "the outbox is full ({OUTBOX_CAPACITY} messages waiting): the oldest go first"
                ),
            }));
        }
        courier.forget(dropped.clone());
        let posted = courier.posted_ids();
        let mut post: Vec<Queued> = state
            .outbox
            .iter()
            .filter(|p| {
                !dropped.contains(&p.notification_id) && !posted.contains(&p.notification_id)
            })
            .map(|p| Queued {
                id: p.notification_id,
                message: Message {
                    kind: p.message_kind.clone().into(),
                    subject: p.subject_id,
                    text: p.text.clone(),
                },
            })
            .collect();
        for q in &fresh {
            events.push(Event::from(stratagem_events::NotificationQueued {
                notification_id: q.id,
                channel: "slack".into(),
                message_kind: q.message.kind.to_string(),
                subject_id: q.message.subject,
                text: q.message.text.clone(),
            }));
        }
        post.extend(fresh);
        Prepared { events, post }
    }

    /// Hands what [`Notify::prepare`] queued to the courier, once it is recorded.
    pub fn post(&self, prepared: Prepared) {
        if let Notify::Courier(courier) = self {
            courier.post(prepared.post);
        }
    }

    /// Ends the courier ([`Courier::settle`]); the outcomes to record.
    pub async fn settle(&self) -> Vec<Event> {
        match self {
            Notify::Off => Vec::new(),
            Notify::Courier(c) => c.settle(SETTLE_GRACE).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_three_messages() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            opportunity_discovered(id, "Momentum Clustering in Crypto", 0.78, 0.5).text,
            "🔍 Strategy Opportunity Discovered\nTitle: Momentum Clustering in Crypto\nScore: 0.78\nImplementation: Medium (complexity 5/10)"
        );
        assert_eq!(
            validation_passed(id, "arxiv_momentum_abc123", 6).text,
            "✅ Strategy Validation Passed\nStrategy: arxiv_momentum_abc123\nLayers: 6/6 passed\nRecommendation: APPROVE for COLD"
        );
        assert_eq!(
            validation_failed(id, "twitter_arb_def456", 2, "security", "Hardcoded API key detected", false).text,
            "❌ Strategy Validation Failed\nStrategy: twitter_arb_def456\nLayer 2 (Security): Hardcoded API key detected\nRecommendation: REJECT"
        );
        assert_eq!(effort(0.95), (1, "Low"));
        let gave_up = Event::from(stratagem_events::ActorGaveUp {
            actor: "source/reddit".into(),
            restarts: 5,
            window_secs: 60,
            reason: "failed: boom".into(),
        });
        let m = messages_for(&[gave_up], &stratagem_events::Projections::default());
        assert_eq!(
            m[0].text,
            "🛑 Supervisor Gave Up\nActor: source/reddit\nRestarts: 5 within 60 s\nReason: failed: boom"
        );
        assert_eq!(effort(0.15), (9, "High"));
    }

    #[test]
    fn the_webhook_is_a_secret() {
        let get = |k: &str| {
            (k == "SLACK_WEBHOOK_URL")
                .then(|| "https://hooks.slack.com/services/T1/B2/very-secret".to_string())
        };
        let s = SlackSettings::from_lookup(&get).unwrap().unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
        let bad =
            |k: &str| (k == "SLACK_WEBHOOK_URL").then(|| "not a url with very-secret".to_string());
        let e = SlackSettings::from_lookup(&bad).unwrap_err();
        assert!(
            e.contains("SLACK_WEBHOOK_URL") && !e.contains("very-secret"),
            "{e}"
        );
    }

    /// The outbox is bounded: a message that would not fit pushes the oldest out, as an event;
    /// and the projection follows the outbox through queued, failed and sent.
    #[tokio::test]
    async fn the_outbox_drops_its_oldest_when_full_and_the_projection_follows_it() {
        use stratagem_events::projection::PendingNotification;
        let mut state = stratagem_events::Projections::default();
        for n in 0..OUTBOX_CAPACITY {
            state.outbox.push(PendingNotification {
                notification_id: Uuid::from_u128(n as u128 + 1),
                channel: "slack".into(),
                message_kind: "actor_gave_up".into(),
                subject_id: None,
                text: format!("message {n}"),
                attempts: 0,
                last_error: None,
            });
        }
        // Nothing listens here; the courier is never settled in this test.
        let settings = SlackSettings::from_lookup(&|k: &str| {
            (k == "SLACK_WEBHOOK_URL").then(|| "http://127.0.0.1:9/x".to_string())
        })
        .unwrap()
        .unwrap();
        let notify = Notify::Courier(Courier::start(Channel::Direct(
            SlackNotifier::new(settings).unwrap(),
        )));
        let gave_up = Event::from(stratagem_events::ActorGaveUp {
            actor: "scorer".into(),
            restarts: 5,
            window_secs: 60,
            reason: "boom".into(),
        });
        let prepared = notify.prepare(&[gave_up], &state);
        let kinds: Vec<&str> = prepared.events.iter().map(|e| e.kind().as_str()).collect();
        assert_eq!(kinds, ["notification.dropped", "notification.queued"]);
        assert!(matches!(&prepared.events[0],
            Event::NotificationDropped(d) if d.notification_id == Uuid::from_u128(1)));
        // Everything but the dropped one is posted: the 999 left by "an earlier run" and the
        // new one.
        assert_eq!(prepared.post.len(), OUTBOX_CAPACITY);

        // The projection: queued, an attempt failed (it stays), then sent (it goes).
        use stratagem_events::{MemoryEventStore, Projections};
        let store = MemoryEventStore::new();
        let id = Uuid::from_u128(42);
        let about = |e: Event| futures_append(&store, e);
        about(Event::from(stratagem_events::NotificationQueued {
            notification_id: id,
            channel: "slack".into(),
            message_kind: "strategy_retired".into(),
            subject_id: Some(id),
            text: "🪦".into(),
        }))
        .await
        .unwrap();
        about(Event::from(NotificationFailed {
            channel: "slack".into(),
            message_kind: "strategy_retired".into(),
            subject_id: Some(id),
            error: "connection failed".into(),
            attempts: 3,
        }))
        .await
        .unwrap();
        let p = Projections::replay(&store).unwrap();
        assert_eq!(p.outbox.len(), 1);
        assert_eq!(p.outbox[0].attempts, 3);
        about(Event::from(NotificationSent {
            channel: "slack".into(),
            message_kind: "strategy_retired".into(),
            subject_id: Some(id),
        }))
        .await
        .unwrap();
        let p = Projections::replay(&store).unwrap();
        assert!(p.outbox.is_empty());
    }

    async fn futures_append(
        store: &stratagem_events::MemoryEventStore,
        e: Event,
    ) -> Result<(), stratagem_events::StoreError> {
        use stratagem_events::EventStore;
        store
            .append(stratagem_events::AppendRequest::new(vec![e]))
            .await
            .map(|_| ())
    }
}
