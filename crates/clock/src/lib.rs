//! Injected time.
//!
//! Everything in DimbyBot that reasons about time (position extrapolation, silence detection, the
//! bot's timers and timestamps, the stand-ins' playback model) asks a [`Clock`] instead of calling
//! `Instant::now()` or `SystemTime::now()` directly (clippy's `disallowed-methods` in the
//! workspace's clippy.toml enforces it). In production that is [`SystemClock`]; in tests it is a
//! [`ManualClock`] that moves only when the test says so, which makes timing logic deterministic
//! and fast without sleeping. This crate is the one place that reads the real clocks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A monotonic clock, and the wall clock that goes with it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current monotonic instant.
    fn now(&self) -> Instant;

    /// The wall clock: milliseconds since the Unix epoch (for timestamps that are stored or sent).
    fn unix_ms(&self) -> u64;

    /// The wall clock as a `SystemTime`.
    fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.unix_ms())
    }

    /// How long ago `then` was on this clock (zero for an instant in the future).
    fn since(&self, then: Instant) -> Duration {
        self.now().saturating_duration_since(then)
    }

    /// A future that completes once [`Clock::now`] has reached `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Sleep;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.now() + duration)
    }
}

/// A shared handle to any clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real monotonic clock, with tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the system clock.
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

/// Milliseconds since the Unix epoch of a system time (0 before it; saturating far after).
fn unix_ms_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place the real clock is read"
    )]
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the one place the real clock is read"
    )]
    fn unix_ms(&self) -> u64 {
        unix_ms_of(SystemTime::now())
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

/// A clock that only moves when [`ManualClock::advance`] is called.
///
/// Sleepers wake as soon as an advance carries the clock past their deadline, so a test can step
/// through minutes of simulated time in microseconds.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    origin: Instant,
    /// The wall clock at `origin`, unix milliseconds.
    origin_unix_ms: u64,
    offset: Mutex<Duration>,
    changed: watch::Sender<Duration>,
}

impl ManualClock {
    /// A manual clock that starts at the current real instant (and wall time) and then stands
    /// still.
    #[allow(
        clippy::disallowed_methods,
        reason = "a manual clock starts where the real one is"
    )]
    pub fn new() -> Self {
        let (changed, _) = watch::channel(Duration::ZERO);
        Self {
            inner: Arc::new(ManualInner {
                origin: Instant::now(),
                origin_unix_ms: unix_ms_of(SystemTime::now()),
                offset: Mutex::new(Duration::ZERO),
                changed,
            }),
        }
    }

    /// A shared handle to this clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Moves the clock forward by `by` and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .inner
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *offset += by;
        let now = *offset;
        drop(offset);
        self.inner.changed.send_replace(now);
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        *self
            .inner
            .offset
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.origin + self.elapsed()
    }

    fn unix_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.origin_unix_ms.saturating_add(elapsed)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        let target = deadline.saturating_duration_since(self.inner.origin);
        let mut changed = self.inner.changed.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, so a deadline already passed returns at once.
            // The sender lives as long as any clock handle; if every handle is gone nothing can ever
            // advance again, and the sleeper simply never wakes, as a real sleeper past the end of time.
            if changed.wait_for(|now| *now >= target).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_wakes_only_after_advance_passes_deadline() {
        let clock = ManualClock::new();
        let start = clock.now();
        let mut sleeper = tokio::spawn(clock.sleep(Duration::from_secs(5)));
        clock.advance(Duration::from_secs(4));
        tokio::task::yield_now().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut sleeper)
                .await
                .is_err(),
            "woke before its deadline"
        );
        clock.advance(Duration::from_secs(1));
        sleeper.await.expect("sleeper task");
        assert_eq!(clock.now() - start, Duration::from_secs(5));
    }

    #[test]
    fn the_manual_wall_clock_moves_with_the_monotonic_one() {
        let clock = ManualClock::new();
        let (start, wall) = (clock.now(), clock.unix_ms());
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.unix_ms() - wall, 1_500);
        assert_eq!(clock.since(start), Duration::from_millis(1_500));
    }

    #[tokio::test]
    async fn manual_sleep_in_the_past_is_immediate() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(10));
        let past = clock
            .now()
            .checked_sub(Duration::from_secs(1))
            .expect("a second after the origin");
        clock.sleep_until(past).await;
    }
}
