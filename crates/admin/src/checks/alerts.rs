//! Alerts from the probes to a webhook (a Discord webhook by default: `{"content": ...}`).
//!
//! One message when a check starts failing (past its threshold), one when it recovers, nothing in
//! between (one incident, one alert). Sending happens on its own task behind a queue, so a slow or
//! dead webhook never holds up the probes.
//!
//! - Start-up grace: nothing pages until every check has been checked once with none failing, or
//!   `startup_grace` after the notifier starts, whichever comes first (every start used to page
//!   `lavalink:eligibleNodes` critical and its recovery 2 s later, before the nodes were up); a
//!   check still failing when the grace ends pages then.
//! - The rate limit (`max_messages` per `window`) holds back new incidents only: the recovery of
//!   an incident that was announced always goes out. What was held back is summarized, with the
//!   next message or on its own as soon as the window has room.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clock::SharedClock;

use health::{CheckResult, HealthRegistry, Status};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::Secret;

/// Limits of the notifier.
#[derive(Debug, Clone, Copy)]
pub struct AlertSettings {
    /// At most this many messages...
    pub max_messages: usize,
    /// ...per this window.
    pub window: Duration,
    /// Attempts per message (with a doubling pause between them).
    pub attempts: u32,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Nothing pages for at most this long after the notifier starts (`health.startup_grace`);
    /// the grace ends early once every check has been checked with none failing.
    pub startup_grace: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            max_messages: 10,
            window: Duration::from_secs(60),
            attempts: 3,
            timeout: Duration::from_secs(5),
            startup_grace: Duration::from_secs(30),
        }
    }
}

/// What the notifier did, for tests and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertEvent {
    /// A message was delivered.
    Sent {
        /// Firing or recovery.
        recovery: bool,
        /// The check key.
        check: String,
    },
    /// A message could not be delivered after every attempt.
    Failed {
        /// Firing or recovery.
        recovery: bool,
        /// The check key.
        check: String,
    },
    /// A message was dropped by the rate limit or a full queue.
    Suppressed {
        /// Firing or recovery.
        recovery: bool,
        /// The check key.
        check: String,
    },
    /// The start-up grace is over: alerts page from now on.
    GraceOver {
        /// Ended because every check was checked with none failing (not by the time limit).
        early: bool,
        /// Checks still failing at its end, paged now.
        failing: usize,
    },
}

struct Message {
    check: String,
    /// The check and its component, for the summary.
    subject: String,
    recovery: bool,
    text: String,
}

/// Firing messages waiting for the sender at most (a dead webhook takes seconds per message);
/// recoveries are not limited: there is at most one per announced incident.
const MAX_QUEUED_FIRING: usize = 64;

/// What the watcher and the sender share.
struct Shared {
    /// Firing messages in the queue.
    queued_firing: AtomicUsize,
    /// Incidents held back (rate limit or full queue), for the summary.
    suppressed: Mutex<Vec<String>>,
}

impl Shared {
    fn suppress(&self, what: String) {
        self.suppressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }

    fn take_suppressed(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .suppressed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn any_suppressed(&self) -> bool {
        !self
            .suppressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// Starts the notifier: it watches `registry` and posts to `webhook`. Returns its tasks and a
/// stream of what it did.
pub fn start(
    registry: &HealthRegistry,
    webhook: Secret,
    settings: AlertSettings,
) -> (Vec<JoinHandle<()>>, mpsc::UnboundedReceiver<AlertEvent>) {
    start_with_clock(registry, webhook, settings, clock::SystemClock::shared())
}

/// As [`start`], with the grace period and the rate limit's window on `clock`.
pub fn start_with_clock(
    registry: &HealthRegistry,
    webhook: Secret,
    settings: AlertSettings,
    clock: SharedClock,
) -> (Vec<JoinHandle<()>>, mpsc::UnboundedReceiver<AlertEvent>) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (queue_tx, queue_rx) = mpsc::unbounded_channel::<Message>();
    let shared = Arc::new(Shared {
        queued_firing: AtomicUsize::new(0),
        suppressed: Mutex::new(Vec::new()),
    });
    let watcher = Watcher {
        queue: queue_tx,
        events: events_tx.clone(),
        shared: Arc::clone(&shared),
        open: HashMap::new(),
        clock: clock.clone(),
    };
    // Taken now, not when the task first runs: results reported from here on are in the grace.
    let grace = (
        !settings.startup_grace.is_zero(),
        clock.now() + settings.startup_grace,
    );
    let watcher = tokio::spawn(watcher.run(
        registry.subscribe(),
        grace,
        registry.clone(),
        Arc::clone(&clock),
    ));
    let sender = tokio::spawn(send_all(
        queue_rx, webhook, settings, events_tx, shared, clock,
    ));
    (vec![watcher, sender], events_rx)
}

/// Turns check results into incident messages.
struct Watcher {
    queue: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedSender<AlertEvent>,
    shared: Arc<Shared>,
    /// Open incidents: check key -> when it started and whether it was announced.
    open: HashMap<String, (Instant, bool)>,
    /// When incidents start and end.
    clock: SharedClock,
}

impl Watcher {
    async fn run(
        mut self,
        mut updates: broadcast::Receiver<CheckResult>,
        (grace, grace_end): (bool, Instant),
        registry: HealthRegistry,
        clock: SharedClock,
    ) {
        // Failing during the grace period: the latest result of each, in the order they failed.
        let mut held: Option<Vec<CheckResult>> = grace.then(Vec::new);
        // During the grace: each check's failures in a row, as last seen here.
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut grace = clock.sleep_until(grace_end);
        loop {
            let update = if held.is_some() {
                tokio::select! {
                    // Results already reported count before the grace ends.
                    biased;
                    update = updates.recv() => update,
                    () = &mut grace => {
                        let still_failing = held.take().unwrap_or_default();
                        tracing::info!(
                            failing = still_failing.len(),
                            "start-up grace over; paging the checks still failing"
                        );
                        let _ = self.events.send(AlertEvent::GraceOver {
                            early: false,
                            failing: still_failing.len(),
                        });
                        for result in still_failing {
                            self.observe(&result);
                        }
                        continue;
                    }
                }
            } else {
                updates.recv().await
            };
            let result = match update {
                Ok(result) => result,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "alerting fell behind the probes");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Some(waiting) = &mut held else {
                self.observe(&result);
                continue;
            };
            let key = result.spec.key();
            seen.insert(key.clone(), result.consecutive_failures);
            let at = waiting.iter().position(|r| r.spec.key() == key);
            match (result.status, at) {
                (Status::Fail, Some(at)) => waiting[at] = result,
                (Status::Fail, None) => waiting.push(result),
                (_, Some(at)) => {
                    waiting.remove(at);
                }
                (_, None) => {}
            }
            // Up: every registered check has had a result here, and none is failing (not even
            // below its threshold, where it only warns).
            let up = waiting.is_empty()
                && registry
                    .results()
                    .iter()
                    .all(|r| seen.get(&r.spec.key()) == Some(&0));
            if up {
                tracing::info!("start-up grace over: every check has been checked, none fails");
                let _ = self.events.send(AlertEvent::GraceOver {
                    early: true,
                    failing: 0,
                });
                held = None;
            }
        }
    }

    fn observe(&mut self, result: &CheckResult) {
        let key = result.spec.key();
        match (result.status, self.open.get(&key)) {
            (Status::Fail, None) => {
                let announced =
                    self.shared.queued_firing.load(Ordering::SeqCst) < MAX_QUEUED_FIRING;
                self.open.insert(key.clone(), (self.clock.now(), announced));
                if announced {
                    self.shared.queued_firing.fetch_add(1, Ordering::SeqCst);
                    self.enqueue(Message {
                        check: key,
                        subject: subject(result),
                        recovery: false,
                        text: firing_text(result),
                    });
                } else {
                    self.shared
                        .suppress(format!("{} failing (queue full)", subject(result)));
                    let _ = self.events.send(AlertEvent::Suppressed {
                        recovery: false,
                        check: key,
                    });
                }
            }
            (Status::Pass, Some(&(since, announced))) => {
                self.open.remove(&key);
                // An incident that was never announced needs no recovery: the summary named it.
                if announced {
                    self.enqueue(Message {
                        check: key,
                        subject: subject(result),
                        recovery: true,
                        text: recovery_text(result, self.clock.since(since)),
                    });
                }
            }
            _ => {}
        }
    }

    fn enqueue(&self, message: Message) {
        let (check, recovery) = (message.check.clone(), message.recovery);
        if self.queue.send(message).is_err() {
            let _ = self.events.send(AlertEvent::Failed { recovery, check });
        }
    }
}

fn subject(result: &CheckResult) -> String {
    match &result.spec.component_id {
        Some(id) => format!("{} ({id})", result.spec.name),
        None => result.spec.name.clone(),
    }
}

fn firing_text(result: &CheckResult) -> String {
    let severity = match result.spec.severity {
        health::Severity::Critical => "critical",
        health::Severity::Warning => "warning",
    };
    let output = result.observation.output.as_deref().unwrap_or("failing");
    format!(
        "🔴 **{}** is failing ({severity}, {} checks in a row): {output}",
        subject(result),
        result.consecutive_failures
    )
}

fn recovery_text(result: &CheckResult, after: Duration) -> String {
    format!(
        "✅ **{}** recovered after {}",
        subject(result),
        humantime::format_duration(Duration::from_secs(after.as_secs()))
    )
}

/// The summary of what the rate limit held back.
fn summary_text(suppressed: &[String], settings: &AlertSettings) -> String {
    const LISTED: usize = 10;
    let mut text = format!(
        "⚠️ {} alert(s) held back by the rate limit ({} per {}): {}",
        suppressed.len(),
        settings.max_messages,
        humantime::format_duration(settings.window),
        suppressed
            .iter()
            .take(LISTED)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if suppressed.len() > LISTED {
        // Writing to a String cannot fail.
        let _ = write!(text, " and {} more", suppressed.len() - LISTED);
    }
    text
}

/// Posts queued messages within the rate limit (recoveries always), retrying each a few times;
/// what the limit held back is summarized as soon as the window has room.
async fn send_all(
    mut queue: mpsc::UnboundedReceiver<Message>,
    webhook: Secret,
    settings: AlertSettings,
    events: mpsc::UnboundedSender<AlertEvent>,
    shared: Arc<Shared>,
    clock: SharedClock,
) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(settings.timeout)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the alert HTTP client; alerts are off");
            return;
        }
    };
    let poster = Poster {
        client,
        webhook,
        attempts: settings.attempts,
    };
    let mut sent_at: Vec<Instant> = Vec::new();
    loop {
        let now = clock.now();
        sent_at.retain(|t| now.duration_since(*t) < settings.window);
        // The summary goes on its own once the window has room (if no message took it along).
        let room_at = if sent_at.len() >= settings.max_messages {
            sent_at.first().map(|t| *t + settings.window)
        } else {
            Some(now)
        };
        let summary_due = async {
            match room_at {
                Some(at) if shared.any_suppressed() => clock.sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        let message = tokio::select! {
            message = queue.recv() => match message {
                Some(message) => message,
                None => return,
            },
            () = summary_due => {
                let suppressed = shared.take_suppressed();
                if suppressed.is_empty() {
                    continue;
                }
                sent_at.push(clock.now());
                let delivered = poster.post(summary_text(&suppressed, &settings)).await;
                tracing::info!(suppressed = suppressed.len(), delivered, "alert summary");
                continue;
            }
        };
        if !message.recovery {
            shared.queued_firing.fetch_sub(1, Ordering::SeqCst);
        }
        let now = clock.now();
        sent_at.retain(|t| now.duration_since(*t) < settings.window);
        if !message.recovery && sent_at.len() >= settings.max_messages {
            shared.suppress(format!("{} failing", message.subject));
            let _ = events.send(AlertEvent::Suppressed {
                recovery: false,
                check: message.check,
            });
            continue;
        }
        let mut text = message.text;
        let suppressed = shared.take_suppressed();
        if !suppressed.is_empty() {
            text.push('\n');
            text.push_str(&summary_text(&suppressed, &settings));
        }
        sent_at.push(now);
        let event = if poster.post(text).await {
            tracing::info!(check = %message.check, recovery = message.recovery, "alert sent");
            AlertEvent::Sent {
                recovery: message.recovery,
                check: message.check,
            }
        } else {
            AlertEvent::Failed {
                recovery: message.recovery,
                check: message.check,
            }
        };
        let _ = events.send(event);
    }
}

/// Posts to the webhook.
struct Poster {
    client: reqwest::Client,
    webhook: Secret,
    attempts: u32,
}

impl Poster {
    /// Posts `text`, retrying with a doubling pause; whether it was delivered.
    async fn post(&self, text: String) -> bool {
        let body = json!({ "content": text, "username": "DimbyBot health" });
        let mut pause = Duration::from_millis(200);
        for attempt in 1..=self.attempts.max(1) {
            match self
                .client
                .post(self.webhook.expose())
                .json(&body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => return true,
                Ok(response) => tracing::warn!(
                    status = response.status().as_u16(),
                    attempt,
                    "alert webhook refused a message"
                ),
                // The error may include the URL, which holds the webhook's token: log its kind only.
                Err(error) => tracing::warn!(
                    attempt,
                    timeout = error.is_timeout(),
                    connect = error.is_connect(),
                    "alert webhook unreachable"
                ),
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        false
    }
}

impl AlertEvent {
    /// Records the event in the metrics.
    pub fn record(&self, metrics: &telemetry::Metrics) {
        use telemetry::{AlertKind, AlertResult};
        let (recovery, result) = match self {
            Self::Sent { recovery, .. } => (*recovery, AlertResult::Sent),
            Self::Failed { recovery, .. } => (*recovery, AlertResult::Failed),
            Self::Suppressed { recovery, .. } => (*recovery, AlertResult::Suppressed),
            // Not an alert (the log line says it).
            Self::GraceOver { .. } => return,
        };
        let kind = if recovery {
            AlertKind::Recovery
        } else {
            AlertKind::Firing
        };
        metrics.record_alert(kind, result);
    }
}
