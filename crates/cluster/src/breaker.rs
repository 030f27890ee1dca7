//! One node's circuit breaker, with flap damping and slow start. Pure state over injected instants.
//!
//! Closed: the node takes players. Enough consecutive probe failures, or a lost socket that did not
//! resume, open it: no new players, existing ones move away. After `open_for` it turns half-open:
//! the next probe decides (success closes it, failure opens it again). A node that opened
//! `flap_threshold` times within `flap_window` stays open longer each time (flap damping). A closed
//! node that was recently open ramps its weight up over `slow_start` (slow start), so it is not
//! flooded the moment it returns.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Healthy: takes players.
    Closed,
    /// Unhealthy: takes nothing until the instant passes.
    Open {
        /// When it turns half-open.
        until: Instant,
    },
    /// On trial: the next probe decides.
    HalfOpen,
}

impl CircuitState {
    /// A bounded label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state, to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: CircuitState,
    /// After.
    pub to: CircuitState,
}

/// One node's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    failure_threshold: u32,
    state: CircuitState,
    consecutive_failures: u32,
    trips: VecDeque<Instant>,
    closed_at: Option<Instant>,
}

impl Breaker {
    /// A closed breaker that opens after `failure_threshold` consecutive failures.
    pub fn new(config: BreakerConfig, failure_threshold: u32) -> Self {
        Self {
            config,
            failure_threshold: failure_threshold.max(1),
            state: CircuitState::Closed,
            consecutive_failures: 0,
            trips: VecDeque::new(),
            closed_at: None,
        }
    }

    /// The state now (after [`Breaker::poll`]).
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether new players may go to this node.
    pub fn is_closed(&self) -> bool {
        self.state == CircuitState::Closed
    }

    /// Consecutive failures so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// How often it opened within the flap window ending now.
    pub fn recent_trips(&self, now: Instant) -> usize {
        self.trips
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= self.config.flap_window)
            .count()
    }

    /// Open turns half-open once its time is up.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        match self.state {
            CircuitState::Open { until } if now >= until => self.set(CircuitState::HalfOpen),
            _ => None,
        }
    }

    /// A probe succeeded.
    pub fn record_success(&mut self, now: Instant) -> Option<Transition> {
        self.poll(now);
        self.consecutive_failures = 0;
        match self.state {
            CircuitState::HalfOpen => {
                self.closed_at = Some(now);
                self.set(CircuitState::Closed)
            }
            CircuitState::Closed | CircuitState::Open { .. } => None,
        }
    }

    /// A probe failed. Opens the circuit at the threshold (at once when half-open).
    pub fn record_failure(&mut self, now: Instant) -> Option<Transition> {
        self.poll(now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state {
            CircuitState::HalfOpen => self.trip(now),
            CircuitState::Closed if self.consecutive_failures >= self.failure_threshold => {
                self.trip(now)
            }
            CircuitState::Closed | CircuitState::Open { .. } => None,
        }
    }

    /// Opens the circuit now (a lost socket that did not resume, a hang). Already open: no change.
    pub fn trip(&mut self, now: Instant) -> Option<Transition> {
        if matches!(self.state, CircuitState::Open { .. }) {
            return None;
        }
        self.trips.push_back(now);
        while self
            .trips
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > self.config.flap_window)
        {
            self.trips.pop_front();
        }
        let until = now + self.open_duration(now);
        self.set(CircuitState::Open { until })
    }

    /// How long a trip at `now` keeps the circuit open: longer for a flapping node.
    pub fn open_duration(&self, now: Instant) -> Duration {
        let trips = u32::try_from(self.recent_trips(now)).unwrap_or(u32::MAX);
        let over = trips.saturating_sub(self.config.flap_threshold.saturating_sub(1));
        if over == 0 {
            return self.config.open_for;
        }
        let factor = self
            .config
            .flap_multiplier
            .powi(i32::try_from(over).unwrap_or(i32::MAX));
        self.config
            .open_for
            .mul_f64(factor.min(1e6))
            .min(self.config.max_open_for)
    }

    /// The share of its weight the node gets now: 1 normally, ramping up after a recovery.
    pub fn weight_factor(&self, now: Instant) -> f64 {
        let Some(closed_at) = self.closed_at else {
            return 1.0;
        };
        let ramp = self.config.slow_start;
        if ramp.is_zero() {
            return 1.0;
        }
        let elapsed = now.saturating_duration_since(closed_at);
        if elapsed >= ramp {
            return 1.0;
        }
        let floor = self.config.slow_start_floor.clamp(0.0, 1.0);
        floor + (1.0 - floor) * (elapsed.as_secs_f64() / ramp.as_secs_f64())
    }

    fn set(&mut self, to: CircuitState) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        (from != to).then_some(Transition { from, to })
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "an arbitrary origin: the functions under test take the time as an argument"
)]
mod tests {
    use super::*;

    fn breaker() -> (Breaker, Instant) {
        (Breaker::new(BreakerConfig::default(), 2), Instant::now())
    }

    #[test]
    fn opens_at_the_threshold_then_half_opens_then_closes_with_slow_start() {
        let (mut b, t0) = breaker();
        assert_eq!(b.record_failure(t0), None);
        let opened = b.record_failure(t0).expect("opens");
        assert_eq!(opened.from, CircuitState::Closed);
        assert!(matches!(opened.to, CircuitState::Open { .. }));
        assert!(!b.is_closed());

        assert_eq!(b.poll(t0 + Duration::from_secs(9)), None);
        let half = b.poll(t0 + Duration::from_secs(10)).expect("half-opens");
        assert_eq!(half.to, CircuitState::HalfOpen);
        let closed = b
            .record_success(t0 + Duration::from_secs(11))
            .expect("closes");
        assert_eq!(closed.to, CircuitState::Closed);

        let t = t0 + Duration::from_secs(11);
        assert!((b.weight_factor(t) - 0.1).abs() < 1e-9);
        assert!((b.weight_factor(t + Duration::from_secs(30)) - 0.55).abs() < 1e-9);
        assert!((b.weight_factor(t + Duration::from_secs(60)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (mut b, t0) = breaker();
        b.record_failure(t0);
        b.record_success(t0);
        assert_eq!(b.record_failure(t0), None, "one failure after a success");
        assert!(b.is_closed());
    }

    #[test]
    fn a_failed_trial_opens_again() {
        let (mut b, t0) = breaker();
        b.trip(t0);
        let t1 = t0 + Duration::from_secs(10);
        b.poll(t1);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let again = b.record_failure(t1).expect("opens again");
        assert!(matches!(again.to, CircuitState::Open { .. }));
    }

    #[test]
    fn a_flapping_node_stays_out_longer() {
        let (mut b, t0) = breaker();
        let mut t = t0;
        let mut durations = Vec::new();
        for _ in 0..5 {
            b.trip(t);
            let CircuitState::Open { until } = b.state() else {
                panic!("open")
            };
            durations.push(until - t);
            t = until;
            b.poll(t);
            b.record_success(t);
            t += Duration::from_secs(1);
        }
        assert_eq!(durations[0], Duration::from_secs(10));
        assert_eq!(durations[1], Duration::from_secs(10));
        assert_eq!(
            durations[2],
            Duration::from_secs(20),
            "third flap in the window"
        );
        assert_eq!(durations[3], Duration::from_secs(40));
        assert_eq!(durations[4], Duration::from_secs(80));

        // Long after, the history has aged out of the window.
        let later = t + Duration::from_secs(3600);
        assert_eq!(b.open_duration(later), Duration::from_secs(10));
    }

    #[test]
    fn flap_damping_is_capped() {
        let config = BreakerConfig {
            max_open_for: Duration::from_secs(30),
            ..BreakerConfig::default()
        };
        let mut b = Breaker::new(config, 1);
        let t0 = Instant::now();
        let mut t = t0;
        for _ in 0..10 {
            b.trip(t);
            t += Duration::from_secs(1);
            b.poll(t + Duration::from_secs(10_000));
            b.record_success(t + Duration::from_secs(10_000));
        }
        assert!(b.open_duration(t) <= Duration::from_secs(30));
    }
}
