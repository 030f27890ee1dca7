//! The TrackStartEvents stand-in nodes send, counted per guild: how a test or a benchmark tells
//! that no player started again (a handover, a deploy, a restart must leave them playing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use lavalink::model::{Event, GuildId, IncomingMessage};
use sim::lavalink::SimNode;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// Counts every TrackStartEvent the nodes write to any client from now on, per guild, until
/// dropped.
pub struct TrackStarts {
    counts: Arc<Mutex<HashMap<GuildId, u64>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TrackStarts {
    /// Starts counting on `nodes` (in the current Tokio runtime).
    pub fn count(nodes: &[&SimNode]) -> Self {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let tasks = nodes
            .iter()
            .map(|node| {
                let mut sent = node.subscribe();
                let counted = Arc::clone(&counts);
                tokio::spawn(async move {
                    loop {
                        match sent.recv().await {
                            Ok(message) => {
                                if let IncomingMessage::Event(Event::TrackStart(start)) =
                                    message.message
                                {
                                    *lock(&counted).entry(start.guild_id).or_default() += 1;
                                }
                            }
                            Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => return,
                        }
                    }
                })
            })
            .collect();
        Self { counts, tasks }
    }

    /// TrackStarts counted, every guild.
    pub fn total(&self) -> u64 {
        lock(&self.counts).values().sum()
    }

    /// TrackStarts counted for `guilds`.
    pub fn of(&self, guilds: &[GuildId]) -> u64 {
        let counts = lock(&self.counts);
        guilds.iter().filter_map(|g| counts.get(g)).sum()
    }

    /// Counts from zero again.
    pub fn clear(&self) {
        lock(&self.counts).clear();
    }

    /// Waits (up to `within`) until each of `guilds` had a TrackStart, then counts from zero
    /// again: a node sends a track's TrackStart after the player already shows the track, so a
    /// count begun on seeing every player playing could still catch the last ones.
    ///
    /// # Errors
    /// The guilds still without one when `within` passed.
    pub async fn settle(&self, guilds: &[GuildId], within: Duration) -> Result<(), Vec<GuildId>> {
        let missing = || {
            let counts = lock(&self.counts);
            guilds
                .iter()
                .filter(|g| !counts.contains_key(g))
                .copied()
                .collect::<Vec<_>>()
        };
        let waited = tokio::time::timeout(within, async {
            while !missing().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if waited.is_err() {
            return Err(missing());
        }
        self.clear();
        Ok(())
    }
}

impl Drop for TrackStarts {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn lock(counts: &Mutex<HashMap<GuildId, u64>>) -> MutexGuard<'_, HashMap<GuildId, u64>> {
    counts.lock().unwrap_or_else(PoisonError::into_inner)
}
