//! What the listeners hear, read at the nodes: every guild's player sampled a few times a
//! second over the REST API. Between two samples of a guild on the same node and track, the
//! position must advance by the time that passed (a player paused, destroyed, restarted or
//! stalled falls behind); the drill adds up what fell behind as audio lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::standins::{NodeControl, PlayerSeen};

/// How often the nodes are read.
const EVERY: Duration = Duration::from_millis(250);

/// Slack for the time between reading two nodes, or a session's players one after the other.
const READ_SLACK_MS: u64 = 150;

/// A position this far behind the last one is a restart, not a reading's skew (a player moved
/// to another node resumes where the bot last knew it, which may be a little behind).
const RESTART_MS: u64 = 1_000;

/// One guild's account so far.
#[derive(Debug, Clone, Default)]
pub struct GuildAudio {
    last: Option<(Instant, PlayerSeen)>,
    /// Audio lost: time that passed minus how far the position went, summed over the samples
    /// where it fell behind by more than the reading slack, ms.
    pub lost_ms: u64,
    /// Samples where it had no player on any node while every node's sessions could be read.
    pub missing: u64,
    /// Samples where it was paused.
    pub paused: u64,
    /// Times its track changed or went back by more than [`RESTART_MS`] (a restart).
    pub restarts: u64,
    /// Times it was found on another node than at the previous sample.
    pub moves: u64,
    /// For each move: the time between its last sample on the old node and its first on the
    /// new one, ms (what a listener heard of a failover, to within a sampling period).
    pub move_gaps_ms: Vec<u64>,
    /// When it was last seen on a new node.
    pub moved_at: Option<Instant>,
}

/// What the sampler found, per guild.
#[derive(Debug, Default)]
pub struct Ledger {
    /// By guild id.
    pub guilds: HashMap<String, GuildAudio>,
    /// Rounds in which a node did not answer, by node name.
    pub unanswered: HashMap<String, u64>,
}

impl Ledger {
    /// One sample of `guild`: `seen` where a node showed it; not seen and `unknown` (a node or
    /// a session could not be read), nothing is recorded.
    fn record(&mut self, guild: &str, at: Instant, seen: Option<PlayerSeen>, unknown: bool) {
        let account = self.guilds.entry(guild.to_owned()).or_default();
        let Some(seen) = seen else {
            if !unknown {
                account.missing += 1;
            }
            return;
        };
        if seen.paused {
            account.paused += 1;
        }
        if let Some((then, before)) = &account.last {
            let passed = u64::try_from(at.duration_since(*then).as_millis()).unwrap_or(u64::MAX);
            if before.node != seen.node {
                account.moves += 1;
                account.move_gaps_ms.push(passed);
                account.moved_at = Some(at);
            }
            if before.track != seen.track || seen.position + RESTART_MS < before.position {
                account.restarts += 1;
            } else {
                let went = seen.position.saturating_sub(before.position);
                let behind = passed.saturating_sub(went);
                if behind > READ_SLACK_MS {
                    account.lost_ms += behind;
                }
            }
        }
        account.last = Some((at, seen));
    }

    /// Forgets the last samples, so that the next ones start a new account (after a fault
    /// whose gap is measured elsewhere).
    pub fn restart_accounts(&mut self) {
        for account in self.guilds.values_mut() {
            account.last = None;
        }
    }

    /// Sums over the guilds.
    pub fn totals(&self) -> GuildAudio {
        let mut sum = GuildAudio::default();
        for account in self.guilds.values() {
            sum.lost_ms += account.lost_ms;
            sum.missing += account.missing;
            sum.paused += account.paused;
            sum.restarts += account.restarts;
            sum.moves += account.moves;
            sum.move_gaps_ms.extend(&account.move_gaps_ms);
            sum.moved_at = sum.moved_at.max(account.moved_at);
        }
        sum
    }
}

/// Samples every guild on every node until cancelled.
pub struct Sampler {
    /// What it found.
    pub ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `guilds` on `nodes`.
    pub fn start(nodes: Vec<NodeControl>, guilds: Vec<String>) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(sample(nodes, guilds, Arc::clone(&ledger), stop.clone()));
        Self { ledger, stop, task }
    }

    /// A copy of a guild's account and the totals.
    pub fn with<T>(&self, read: impl FnOnce(&mut Ledger) -> T) -> T {
        read(&mut self.ledger.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Stops sampling.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn sample(
    nodes: Vec<NodeControl>,
    guilds: Vec<String>,
    ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let reads = futures_util::future::join_all(
            nodes
                .iter()
                .enumerate()
                .map(|(index, node)| async move { (node, node.players(index).await) }),
        )
        .await;
        #[allow(
            clippy::disallowed_methods,
            reason = "the nodes are sampled in real time"
        )]
        let at = Instant::now();
        let mut ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found: HashMap<&str, PlayerSeen> = HashMap::new();
        let mut unknown = false;
        for (node, players) in &reads {
            if let Some((players, partial)) = players {
                unknown |= *partial;
                for (guild, seen) in players {
                    // A player with a track wins over an empty one left on another node.
                    if seen.track.is_some() || !found.contains_key(guild.as_str()) {
                        found.insert(guild.as_str(), seen.clone());
                    }
                }
            } else {
                unknown = true;
                *ledger.unanswered.entry(node.name.clone()).or_default() += 1;
            }
        }
        for guild in &guilds {
            let seen = found
                .get(guild.as_str())
                .filter(|s| s.track.is_some())
                .cloned();
            ledger.record(guild, at, seen, unknown);
        }
    }
}
