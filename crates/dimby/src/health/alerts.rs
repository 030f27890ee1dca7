//! Alerts from the probes to a webhook (a Discord webhook by default: `{"content": ...}`).
//!
//! One message when a check starts failing (past its threshold), one when it recovers, nothing in
//! between (one incident, one alert). Sending happens on its own task behind a bounded queue, so a
//! slow or dead webhook never holds up the probes; messages over the rate limit are counted and
//! the count is reported with the next message that goes out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use health::{CheckResult, HealthRegistry, Status};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::Secret;

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
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            max_messages: 10,
            window: Duration::from_secs(60),
            attempts: 3,
            timeout: Duration::from_secs(5),
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
}

struct Message {
    check: String,
    recovery: bool,
    text: String,
}

/// Starts the notifier: it watches `registry` and posts to `webhook`. Returns its tasks and a
/// stream of what it did.
pub fn start(
    registry: &HealthRegistry,
    webhook: Secret,
    settings: AlertSettings,
) -> (Vec<JoinHandle<()>>, mpsc::UnboundedReceiver<AlertEvent>) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (queue_tx, queue_rx) = mpsc::channel::<Message>(64);
    let watcher = tokio::spawn(watch(registry.subscribe(), queue_tx, events_tx.clone()));
    let sender = tokio::spawn(send_all(queue_rx, webhook, settings, events_tx));
    (vec![watcher, sender], events_rx)
}

/// Turns check results into incident messages.
async fn watch(
    mut updates: broadcast::Receiver<CheckResult>,
    queue: mpsc::Sender<Message>,
    events: mpsc::UnboundedSender<AlertEvent>,
) {
    // Open incidents: check key -> when it started.
    let mut open: HashMap<String, Instant> = HashMap::new();
    loop {
        let result = match updates.recv().await {
            Ok(result) => result,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "alerting fell behind the probes");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let key = result.spec.key();
        let message = match (result.status, open.contains_key(&key)) {
            (Status::Fail, false) => {
                open.insert(key.clone(), Instant::now());
                Some(Message {
                    check: key,
                    recovery: false,
                    text: firing_text(&result),
                })
            }
            (Status::Pass, true) => {
                let since = open.remove(&key).map(|t| t.elapsed()).unwrap_or_default();
                Some(Message {
                    check: key,
                    recovery: true,
                    text: recovery_text(&result, since),
                })
            }
            _ => None,
        };
        if let Some(message) = message {
            let (check, recovery) = (message.check.clone(), message.recovery);
            if queue.try_send(message).is_err() {
                let _ = events.send(AlertEvent::Suppressed { recovery, check });
            }
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

/// Posts queued messages within the rate limit, retrying each a few times.
async fn send_all(
    mut queue: mpsc::Receiver<Message>,
    webhook: Secret,
    settings: AlertSettings,
    events: mpsc::UnboundedSender<AlertEvent>,
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
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut suppressed = 0usize;
    while let Some(message) = queue.recv().await {
        let now = Instant::now();
        sent_at.retain(|t| now.duration_since(*t) < settings.window);
        if sent_at.len() >= settings.max_messages {
            suppressed += 1;
            let _ = events.send(AlertEvent::Suppressed {
                recovery: message.recovery,
                check: message.check,
            });
            continue;
        }
        let mut text = message.text;
        if suppressed > 0 {
            // Writing to a String cannot fail.
            let _ = write!(
                text,
                "\n({suppressed} more alerts were suppressed by the rate limit)"
            );
            suppressed = 0;
        }
        sent_at.push(now);
        let body = json!({ "content": text, "username": "DimbyBot health" });
        let mut pause = Duration::from_millis(200);
        let mut delivered = false;
        for attempt in 1..=settings.attempts.max(1) {
            match client.post(webhook.expose()).json(&body).send().await {
                Ok(response) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
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
        let event = if delivered {
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

impl AlertEvent {
    /// Records the event in the metrics.
    pub fn record(&self, metrics: &telemetry::Metrics) {
        use telemetry::{AlertKind, AlertResult};
        let (recovery, result) = match self {
            Self::Sent { recovery, .. } => (*recovery, AlertResult::Sent),
            Self::Failed { recovery, .. } => (*recovery, AlertResult::Failed),
            Self::Suppressed { recovery, .. } => (*recovery, AlertResult::Suppressed),
        };
        let kind = if recovery {
            AlertKind::Recovery
        } else {
            AlertKind::Firing
        };
        metrics.record_alert(kind, result);
    }
}
