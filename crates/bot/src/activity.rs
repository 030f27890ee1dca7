//! What the bot saw lately, kept in short windows for the probes: interaction acknowledgement
//! latencies, and voice incidents (Discord closing the node's voice socket, and what
//! self-healing did about it); and how its commands ended, in totals since the start (what a
//! deploy's watch compares). The bot writes; the probes and the deploy signals read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long incidents are remembered.
pub const WINDOW: Duration = Duration::from_secs(300);
/// At most this many entries per window (a flood never grows memory without bound).
const MAX_ENTRIES: usize = 10_000;

/// A voice incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceIncident {
    /// Discord closed a voice socket with this code.
    Closed(u16),
    /// Self-healing acted and it worked.
    Healed,
    /// Self-healing acted and it failed.
    HealFailed,
    /// Self-healing hit its cap and stopped trying for a guild.
    Capped,
}

/// Counts of voice incidents within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceSummary {
    /// Voice sockets Discord closed.
    pub closes: usize,
    /// Healing actions that worked.
    pub healed: usize,
    /// Healing actions that failed.
    pub failed: usize,
    /// Guilds where healing gave up.
    pub capped: usize,
}

/// The shared windows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Activity {
    inner: Arc<Mutex<Windows>>,
    clock: clock::SharedClock,
}

impl Default for Activity {
    fn default() -> Self {
        Self::with_clock(clock::SystemClock::shared())
    }
}

#[derive(Debug, Default)]
struct Windows {
    acks: VecDeque<(Instant, Duration)>,
    voice: VecDeque<(Instant, VoiceIncident)>,
    commands: CommandTotals,
}

/// How the bot's commands ended, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandTotals {
    /// Done as asked.
    pub ok: u64,
    /// Refused by a check (the caller's mistake, not the bot's).
    pub refused: u64,
    /// Failed: the bot's fault or a dependency's.
    pub failed: u64,
}

fn push<T>(queue: &mut VecDeque<(Instant, T)>, now: Instant, value: T) {
    while queue
        .front()
        .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        || queue.len() >= MAX_ENTRIES
    {
        queue.pop_front();
    }
    queue.push_back((now, value));
}

impl Activity {
    /// A new, empty set of windows on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty set of windows on `clock`.
    pub fn with_clock(clock: clock::SharedClock) -> Self {
        Self {
            inner: Arc::default(),
            clock,
        }
    }

    /// Now, on the windows' clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An interaction was acknowledged `latency` after it arrived.
    pub fn ack(&self, latency: Duration) {
        self.ack_at(self.clock.now(), latency);
    }

    /// [`Activity::ack`] at a given instant (tests).
    pub fn ack_at(&self, now: Instant, latency: Duration) {
        push(&mut self.windows().acks, now, latency);
    }

    /// A command ended with `outcome`.
    pub fn command(&self, outcome: telemetry::CommandOutcome) {
        let mut windows = self.windows();
        let totals = &mut windows.commands;
        let count = match outcome {
            telemetry::CommandOutcome::Ok => &mut totals.ok,
            telemetry::CommandOutcome::Refused => &mut totals.refused,
            telemetry::CommandOutcome::Error => &mut totals.failed,
        };
        *count += 1;
    }

    /// How the commands ended so far.
    pub fn commands(&self) -> CommandTotals {
        self.windows().commands
    }

    /// A voice incident happened.
    pub fn voice(&self, incident: VoiceIncident) {
        self.voice_at(self.clock.now(), incident);
    }

    /// [`Activity::voice`] at a given instant (tests).
    pub fn voice_at(&self, now: Instant, incident: VoiceIncident) {
        push(&mut self.windows().voice, now, incident);
    }

    /// The 95th percentile (nearest rank) of acknowledgement latencies within the window before
    /// `now`, and how many there were; `None` without any.
    pub fn ack_p95(&self, now: Instant) -> Option<(Duration, usize)> {
        let mut latencies: Vec<Duration> = self
            .windows()
            .acks
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= WINDOW)
            .map(|(_, latency)| *latency)
            .collect();
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        let rank = (latencies.len() * 95).div_ceil(100).max(1);
        Some((latencies[rank - 1], latencies.len()))
    }

    /// Voice incidents within the window before `now`.
    pub fn voice_summary(&self, now: Instant) -> VoiceSummary {
        let mut summary = VoiceSummary::default();
        for (_, incident) in self
            .windows()
            .voice
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= WINDOW)
        {
            match incident {
                VoiceIncident::Closed(_) => summary.closes += 1,
                VoiceIncident::Healed => summary.healed += 1,
                VoiceIncident::HealFailed => summary.failed += 1,
                VoiceIncident::Capped => summary.capped += 1,
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Activity, VoiceIncident, WINDOW};
    use clock::Clock as _;

    #[test]
    fn p95_is_nearest_rank_within_the_window() {
        let clock = clock::ManualClock::new();
        let activity = Activity::with_clock(clock.shared());
        let start = clock.now();
        // An old slow one that has left the window by the time we ask.
        activity.ack_at(start, Duration::from_secs(9));
        let later = start + WINDOW + Duration::from_secs(1);
        for ms in 1..=100 {
            activity.ack_at(later, Duration::from_millis(ms));
        }
        assert_eq!(
            activity.ack_p95(later),
            Some((Duration::from_millis(95), 100))
        );
        assert_eq!(activity.ack_p95(later + WINDOW * 2), None);
    }

    #[test]
    fn voice_incidents_are_counted_by_kind() {
        let clock = clock::ManualClock::new();
        let activity = Activity::with_clock(clock.shared());
        let now = clock.now();
        activity.voice_at(now, VoiceIncident::Closed(4006));
        activity.voice_at(now, VoiceIncident::Healed);
        activity.voice_at(now, VoiceIncident::Closed(4014));
        activity.voice_at(now, VoiceIncident::Capped);
        let summary = activity.voice_summary(now);
        assert_eq!(
            (
                summary.closes,
                summary.healed,
                summary.failed,
                summary.capped
            ),
            (2, 1, 0, 1)
        );
        assert_eq!(activity.voice_summary(now + WINDOW * 2).closes, 0);
    }
}
