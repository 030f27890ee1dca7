//! How shards take turns to identify. Discord allows one identify per 5 s per bucket
//! (`shard % max_concurrency`) for the whole application, and a daily budget of session starts.
//!
//! A process alone keeps that with twilight's [`InMemoryQueue`]. Processes sharing one
//! application (each running its own range of shards) must keep it together: the
//! [`SharedQueue`] reserves every identify's turn in a place they all reach ([`IdentifySlots`],
//! the store in the bot), so that two processes never identify in one bucket within 5 s. When
//! that place cannot be reached, it falls back to spacing this process's own identifies, and
//! says so: a shard that must reconnect still does, at the risk of a refused identify (which
//! Discord answers with an invalid session, and the shard tries again).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use twilight_gateway::queue::{InMemoryQueue, Queue};

/// Discord's spacing of two identifies in one bucket.
pub const IDENTIFY_SPACING: Duration = Duration::from_secs(5);

/// The spacing the shared queue reserves: Discord's, plus a quarter of a second for the clocks of
/// hosts that differ (NTP keeps them within milliseconds; a reservation is made on the caller's
/// clock).
pub const SHARED_IDENTIFY_SPACING: Duration = Duration::from_millis(5_250);

/// How long a failed reservation waits before this process falls back to its own spacing.
const RESERVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A future the slots return.
pub type SlotFuture<'a> = Pin<Box<dyn Future<Output = Result<Duration, String>> + Send + 'a>>;

/// Where the processes of one application reserve their identifies.
pub trait IdentifySlots: Send + Sync + 'static {
    /// Reserves the next identify of `bucket`, at least `spacing` after the previous one of any
    /// process: how long from now to wait before identifying. An error says why it could not
    /// (never a secret).
    fn reserve(&self, bucket: u32, spacing: Duration) -> SlotFuture<'_>;
}

/// What a shard's identify waits for: this process's own turn-taking, or the application's.
#[derive(Clone)]
pub enum IdentifyQueue {
    /// This process alone (twilight's queue, with the application's limits).
    Local(InMemoryQueue),
    /// Every process of the application, through [`IdentifySlots`].
    Shared(SharedQueue),
}

impl fmt::Debug for IdentifyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Local(_) => "IdentifyQueue::Local",
            Self::Shared(_) => "IdentifyQueue::Shared",
        })
    }
}

impl Queue for IdentifyQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        match self {
            Self::Local(queue) => queue.enqueue(shard),
            Self::Shared(queue) => queue.enqueue(shard),
        }
    }
}

/// The application's limits, as Discord gave them at the start (`session_start_limit`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Buckets: `shard % max_concurrency`.
    pub max_concurrency: u16,
    /// Session starts left today.
    pub remaining: u32,
    /// When the daily budget starts over.
    pub reset_after: Duration,
    /// The daily budget.
    pub total: u32,
}

/// A queue shared by the processes of an application. Cheap to clone; its task ends when the
/// last clone is dropped (identifies still waiting are dropped with it).
#[derive(Clone)]
pub struct SharedQueue {
    requests: mpsc::UnboundedSender<(u32, oneshot::Sender<()>)>,
}

impl SharedQueue {
    /// Starts the queue's task (in the current Tokio runtime).
    pub fn start(
        slots: Arc<dyn IdentifySlots>,
        limits: Limits,
        metrics: Option<telemetry::Metrics>,
    ) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(slots, limits, metrics, receiver));
        Self { requests }
    }

    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        // The task ends only when every sender is gone; a send to it cannot fail while `self` lives.
        let _ = self.requests.send((shard, sender));
        receiver
    }
}

/// The daily budget of session starts, counted by this process between Discord's figures.
struct Budget {
    remaining: u32,
    total: u32,
    resets_at: Instant,
}

impl Budget {
    /// Takes one start, first waiting for the budget to start over if none is left.
    async fn take(&mut self) {
        if self.remaining == 0 {
            tracing::warn!(
                wait_s = self
                    .resets_at
                    .saturating_duration_since(Instant::now())
                    .as_secs(),
                "no session start left today: identifies wait for Discord's daily reset"
            );
            tokio::time::sleep_until(self.resets_at).await;
            self.remaining = self.total;
            self.resets_at = Instant::now() + twilight_gateway::queue::LIMIT_PERIOD;
        }
        self.remaining = self.remaining.saturating_sub(1);
    }
}

/// The queue's task: reserves each request's turn in order of arrival and lets it go when due.
async fn run(
    slots: Arc<dyn IdentifySlots>,
    limits: Limits,
    metrics: Option<telemetry::Metrics>,
    mut requests: mpsc::UnboundedReceiver<(u32, oneshot::Sender<()>)>,
) {
    let mut budget = Budget {
        remaining: limits.remaining,
        total: limits.total.max(1),
        resets_at: Instant::now() + limits.reset_after,
    };
    let buckets = u32::from(limits.max_concurrency.max(1));
    // This process's own last identify per bucket: the fallback when the slots cannot be reached.
    let mut own_last: HashMap<u32, Instant> = HashMap::new();
    let mut due = JoinSet::new();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((shard, release)) = request else { break };
                budget.take().await;
                let bucket = shard % buckets;
                let reserved =
                    tokio::time::timeout(RESERVE_TIMEOUT, slots.reserve(bucket, SHARED_IDENTIFY_SPACING))
                        .await
                        .unwrap_or_else(|_| Err(format!("no answer within {RESERVE_TIMEOUT:?}")));
                let now = Instant::now();
                let (at, turn) = match reserved {
                    Ok(wait) => (now + wait, telemetry::IdentifyTurn::Shared),
                    Err(error) => {
                        let at = own_last
                            .get(&bucket)
                            .map_or(now, |last| (*last + SHARED_IDENTIFY_SPACING).max(now));
                        tracing::warn!(
                            shard,
                            bucket,
                            %error,
                            wait_ms = u64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX),
                            "the shared identify queue cannot be reached: this process spaces its own identifies"
                        );
                        (at, telemetry::IdentifyTurn::Own)
                    }
                };
                if let Some(metrics) = &metrics {
                    metrics.record_identify_turn(turn);
                }
                own_last.insert(bucket, at);
                tracing::debug!(shard, bucket, wait_ms = u64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX), "identify reserved");
                due.spawn(async move {
                    tokio::time::sleep_until(at).await;
                    // The shard may have stopped waiting.
                    let _ = release.send(());
                });
            }
            Some(_) = due.join_next(), if !due.is_empty() => {}
        }
    }
}
