//! Scripted listeners: `/nowplaying` round the guilds at a steady rate through the Discord
//! stand-in's control endpoint, as users in another process would; afterwards, how each was
//! answered.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::standins::{DiscordControl, Guild};

/// How long a command may wait for its answer before it counts as unanswered (Discord's
/// interaction token lives 15 minutes; a user gives up far sooner).
const ANSWER_GUARD: Duration = Duration::from_secs(30);

/// How the commands sent in one stretch were answered.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Answers {
    /// Commands sent.
    pub sent: u64,
    /// Of those, never answered within the guard.
    pub unanswered: u64,
    /// Of those, answered too late for Discord (past the 3 s interaction deadline: refused).
    pub refused: u64,
    /// Of those answered, how many did not name the playing track (the command failed).
    pub failed: u64,
    /// From Discord's dispatch to the answer, ms.
    pub waits_ms: Vec<f64>,
}

/// Listeners sending until stopped.
pub struct Listeners {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Vec<String>>,
    control: DiscordControl,
}

impl Listeners {
    /// Starts `rate` commands a second round `guilds`.
    pub fn start(control: &DiscordControl, guilds: &[Guild], rate: u32) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(send(
            control.clone(),
            Arc::new(guilds.to_vec()),
            rate,
            stop.clone(),
        ));
        Self {
            stop,
            task,
            control: control.clone(),
        }
    }

    /// Stops sending and collects the answers; a good one names `title`.
    pub async fn finish(self, title: &str) -> anyhow::Result<Answers> {
        self.stop.cancel();
        let ids = self.task.await?;
        let mut answers = Answers {
            sent: u64::try_from(ids.len()).unwrap_or(u64::MAX),
            ..Answers::default()
        };
        for id in &ids {
            let deadline = tokio::time::Instant::now() + ANSWER_GUARD;
            let seen = loop {
                let seen = self.control.interaction(id).await?;
                if seen["content"].is_string() || tokio::time::Instant::now() >= deadline {
                    break seen;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let Some(content) = seen["content"].as_str() else {
                answers.unanswered += 1;
                continue;
            };
            if seen["rejections"].as_array().is_some_and(|r| !r.is_empty()) {
                answers.refused += 1;
            }
            if !content.contains(title) {
                answers.failed += 1;
            }
            if let Some(ms) = seen["answeredMs"].as_u64() {
                #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
                answers.waits_ms.push(ms as f64);
            }
        }
        Ok(answers)
    }
}

async fn send(
    control: DiscordControl,
    guilds: Arc<Vec<Guild>>,
    rate: u32,
    stop: CancellationToken,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for guild in guilds.iter().cycle() {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        match control
            .invoke(guild, "nowplaying", serde_json::json!({}))
            .await
        {
            Ok(id) => ids.push(id),
            Err(error) => tracing::warn!(%error, "a scripted listener could not send"),
        }
    }
    ids
}
